package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
)

// statusLog is an append-only event log the client long-polls. Events the
// client has acknowledged (by asking for later ones) are dropped, so memory
// stays bounded however many chunks pass through.
type statusLog struct {
	mu     sync.Mutex
	base   int64 // Seq of events[0]
	events []control.Event
	notify chan struct{} // closed and replaced on every append
}

func newStatusLog() *statusLog {
	return &statusLog{notify: make(chan struct{})}
}

func (l *statusLog) add(e control.Event) {
	l.mu.Lock()
	e.Seq = l.base + int64(len(l.events))
	l.events = append(l.events, e)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

// since returns events with Seq ≥ from, waiting up to wait for one to arrive.
// A from older than the log's first event gets the log from there: what it
// skips was acknowledged already, and waiting for it would wait forever.
func (l *statusLog) since(ctx context.Context, from int64, wait time.Duration) []control.Event {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		if from > l.base {
			drop := min(from-l.base, int64(len(l.events)))
			l.events = append(l.events[:0:0], l.events[drop:]...)
			l.base += drop
		}
		var out []control.Event
		if off := max(from-l.base, 0); off < int64(len(l.events)) {
			out = append(out, l.events[off:]...)
		}
		ch := l.notify
		l.mu.Unlock()
		if len(out) > 0 {
			return out
		}
		select {
		case <-ch:
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// budget is a byte semaphore bounding how much chunk data a gateway holds.
type budget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	avail int64
	max   int64
}

func newBudget(max int64) *budget {
	b := &budget{avail: max, max: max}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire blocks until n bytes are free. A request larger than the whole
// budget waits for the budget to be entirely free, so one huge chunk still
// moves (alone).
func (b *budget) acquire(ctx context.Context, n int64) error {
	n = min(n, b.max)
	stop := context.AfterFunc(ctx, func() {
		b.mu.Lock()
		b.cond.Broadcast()
		b.mu.Unlock()
	})
	defer stop()
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.avail < n {
		if err := ctx.Err(); err != nil {
			return err
		}
		b.cond.Wait()
	}
	b.avail -= n
	return nil
}

func (b *budget) release(n int64) {
	n = min(n, b.max)
	b.mu.Lock()
	b.avail += n
	b.cond.Broadcast()
	b.mu.Unlock()
}
