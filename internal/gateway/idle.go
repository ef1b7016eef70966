package gateway

import "time"

// watchIdle shuts the gateway down once no authenticated control request
// has arrived for window (0: never). A gateway on another host outlives a
// client that died without tearing it down; this is how it ends on its own.
// The client's keep-alive and its status polls reset the clock; data
// traffic does not, so a gateway whose client is gone stops mid-transfer.
func (g *Gateway) watchIdle(window time.Duration) {
	if window <= 0 {
		return
	}
	g.lastControl.Store(time.Now().UnixNano())
	tick := min(window/4, time.Second)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		for {
			select {
			case <-g.ctx.Done():
				return
			case <-t.C:
				idle := time.Since(time.Unix(0, g.lastControl.Load()))
				if idle >= window {
					g.log.Warn("no control request for the idle window; shutting down", "window", window, "idle", idle.Round(time.Millisecond))
					// Shutdown cancels g.ctx and may wait on g.wg: not from here.
					go g.Shutdown()
					return
				}
			}
		}
	}()
}
