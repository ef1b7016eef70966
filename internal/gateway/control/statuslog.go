package control

import (
	"context"
	"sync"
	"time"
)

// StatusLog is the chunk status log a gateway serves (GET
// PathStatusLog): an append-only event log the client long-polls; the
// dataplane's in-process path keeps one too. Events the
// client has acknowledged (by asking for later ones) are dropped, so memory
// stays bounded however many chunks pass through.
type StatusLog struct {
	mu     sync.Mutex
	base   int64 // Seq of events[0]
	events []Event
	notify chan struct{} // closed and replaced on every append
}

// NewStatusLog returns an empty log.
func NewStatusLog() *StatusLog {
	return &StatusLog{notify: make(chan struct{})}
}

// Add appends e, numbering it.
func (l *StatusLog) Add(e Event) {
	l.mu.Lock()
	e.Seq = l.base + int64(len(l.events))
	l.events = append(l.events, e)
	close(l.notify)
	l.notify = make(chan struct{})
	l.mu.Unlock()
}

// Since returns events with Seq ≥ from, waiting up to wait for one to arrive.
// A from older than the log's first event gets the log from there: what it
// skips was acknowledged already, and waiting for it would wait forever.
func (l *StatusLog) Since(ctx context.Context, from int64, wait time.Duration) []Event {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		if from > l.base {
			drop := min(from-l.base, int64(len(l.events)))
			l.events = append(l.events[:0:0], l.events[drop:]...)
			l.base += drop
		}
		var out []Event
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
