package dataplane

import (
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
)

// dispatcher batches chunk requests and spreads them over the source
// gateways; a gateway with a full queue accepts part of a batch and the
// rest goes to the next one.
func (r *run) dispatcher() {
	all := r.d.clients("source")
	next := 0
	var batch []chunk.Request
	for {
		if len(batch) == 0 {
			batch = r.takeRetries(batch)
		}
		if len(batch) == 0 {
			select {
			case <-r.ctx.Done():
				return
			case req := <-r.dispatch:
				batch = append(batch, req)
			case <-r.retrySig:
				continue
			}
		}
	fill:
		for len(batch) < dispatchBatch {
			select {
			case req := <-r.dispatch:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		// Each live source gateway gets an equal share of the batch; what a
		// full queue refuses goes round again.
		backoff := 5 * time.Millisecond
		for len(batch) > 0 {
			srcs := r.alive(all)
			share := (len(batch) + len(srcs) - 1) / len(srcs)
			var rest []chunk.Request
			progressed := false
			for i := range srcs {
				lo := min(i*share, len(batch))
				hi := min(lo+share, len(batch))
				if lo == hi {
					break
				}
				part := batch[lo:hi]
				c := srcs[(next+i)%len(srcs)]
				n, err := c.PostChunks(r.ctx, part)
				if err != nil && r.ctx.Err() == nil {
					r.d.log.Warn("post chunk requests", "gateway", c.ID, "err", err)
				}
				if n > 0 {
					r.posted(c.ID, part[:n])
					progressed = true
				}
				rest = append(rest, part[n:]...)
			}
			next++
			batch = rest
			if len(batch) == 0 {
				break
			}
			if !progressed {
				select {
				case <-r.ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 200*time.Millisecond)
			}
		}
		batch = batch[:0]
	}
}

// alive is the gateways of list not lost (all of them if every one is:
// the transfer is failing then anyway).
func (r *run) alive(list []*gatewayRef) []*gatewayRef {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*gatewayRef
	for _, c := range list {
		if !r.table.isLost(c.ID) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return list
	}
	return out
}

// posted records which source gateway holds each chunk's current attempt.
func (r *run) posted(gw string, reqs []chunk.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A request posted to a gateway that was lost meanwhile is resent.
	for _, cs := range r.table.posted(gw, reqs, time.Now()) {
		r.retryLocked(cs, "gateway "+gw+" lost", false, true)
	}
}

func (r *run) takeRetries(batch []chunk.Request) []chunk.Request {
	r.retryMu.Lock()
	defer r.retryMu.Unlock()
	batch = append(batch, r.retries...)
	r.retries = r.retries[:0]
	return batch
}

func (r *run) retryLater(req chunk.Request) {
	delay := time.Duration(1<<min(req.Attempt, 6)) * 50 * time.Millisecond
	time.AfterFunc(delay, func() { r.retryNow(req) })
}

func (r *run) retryNow(req chunk.Request) {
	r.retryMu.Lock()
	r.retries = append(r.retries, req)
	r.retryMu.Unlock()
	select {
	case r.retrySig <- struct{}{}:
	default:
	}
}
