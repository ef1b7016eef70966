package ssh

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
)

// openTunnel listens on the client's 127.0.0.1 and carries each accepted
// connection over an SSH direct-tcpip channel to ctrl (the gateway's
// control listener on the host's loopback), then starts the keep-alive.
// It returns the local address.
func (r *remote) openTunnel(ctrl string) (string, error) {
	host, _, err := net.SplitHostPort(ctrl)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		return "", fmt.Errorf("gateway control listens on %q, not on the host's loopback: refusing to use it", ctrl)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("control tunnel: %w", err)
	}
	r.mu.Lock()
	r.tunnel = ln
	r.quit = make(chan struct{})
	quit := r.quit
	r.mu.Unlock()
	r.done.Add(2)
	go func() {
		defer r.done.Done()
		r.forward(ln, ctrl)
	}()
	go func() {
		defer r.done.Done()
		r.keepAlive("http://"+ln.Addr().String(), quit)
	}()
	return ln.Addr().String(), nil
}

func (r *remote) forward(ln net.Listener, ctrl string) {
	for {
		local, err := ln.Accept()
		if err != nil {
			return // closed by stop
		}
		go func() {
			defer local.Close()
			up, err := r.conn.Dial("tcp", ctrl)
			if err != nil {
				r.p.opt.Log.Warn("control tunnel: channel refused", "host", r.host.Name, "gateway", r.spec.ID, "err", err)
				return
			}
			defer up.Close()
			go func() {
				_, _ = io.Copy(up, local)
				_ = up.Close()
			}()
			_, _ = io.Copy(local, up)
		}()
	}
}

// keepAlive calls GET /api/v1/status through the tunnel every
// Options.KeepAlive: proof to the gateway that its client is still there.
func (r *remote) keepAlive(base string, quit <-chan struct{}) {
	client := &http.Client{Timeout: 10 * time.Second}
	t := time.NewTicker(r.p.opt.KeepAlive)
	defer t.Stop()
	defer client.CloseIdleConnections()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-quit:
			case <-ctx.Done():
			}
			cancel()
		}()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+control.PathStatus, nil)
		req.Header.Set("Authorization", "Bearer "+r.boot.Secret)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				r.p.keepalives.Add(1)
			} else {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		cancel()
		if err != nil {
			r.p.opt.Log.Warn("gateway keep-alive failed", "host", r.host.Name, "gateway", r.spec.ID, "err", err)
		}
	}
}
