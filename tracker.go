package skyplane

import (
	"context"
	"sync/atomic"
)

// TransferState is where a transfer started by RunAsync stands.
type TransferState int

// The states in the order a transfer goes through them.
const (
	// NotStarted: no listing has begun yet; nothing is known of the size.
	NotStarted TransferState = iota
	// Listing: objects stream from the listing into the transfer; the
	// totals so far are a lower bound.
	Listing
	// Transferring: the listing is complete, the totals final.
	Transferring
	// Finished: the transfer ended (Wait returns at once).
	Finished
)

func (s TransferState) String() string {
	return [...]string{"not started", "listing", "transferring", "finished"}[s]
}

// Tracker follows a transfer started by RunAsync. Its totals grow while the
// listing streams, so a loop that waits for the end reads State (or waits
// on Done), not a byte count that is 0 before the listing starts:
//
//	for t.State() != skyplane.Finished {
//		if left, known := t.BytesRemaining(); known {
//			fmt.Println(left, "bytes to go")
//		}
//		time.Sleep(time.Second)
//	}
type Tracker struct {
	done     chan struct{}
	res      *Result
	err      error
	started  atomic.Bool
	progress atomic.Pointer[Progress]
}

// RunAsync starts the queued jobs and returns at once.
func (dp *Dataplane) RunAsync(ctx context.Context) *Tracker {
	t := &Tracker{done: make(chan struct{})}
	t.progress.Store(&Progress{})
	go func() {
		defer close(t.done)
		t.res, t.err = dp.Run(ctx, func(p Progress) {
			t.progress.Store(&p)
			t.started.Store(true)
		})
	}()
	return t
}

// Progress is the latest snapshot.
func (t *Tracker) Progress() Progress { return *t.progress.Load() }

// State says where the transfer stands.
func (t *Tracker) State() TransferState {
	select {
	case <-t.done:
		return Finished
	default:
	}
	switch {
	case !t.started.Load():
		return NotStarted
	case !t.Progress().ListingDone:
		return Listing
	}
	return Transferring
}

// BytesRemaining is what is left to send of what is listed so far; known
// is false until the listing is complete (the count can only grow then).
func (t *Tracker) BytesRemaining() (left int64, known bool) {
	st := t.State()
	p := t.Progress()
	return p.BytesTotal - p.BytesDone, st >= Transferring
}

// Done is closed when the transfer ends.
func (t *Tracker) Done() <-chan struct{} { return t.done }

// Wait blocks until the transfer ends.
func (t *Tracker) Wait() (*Result, error) {
	<-t.done
	return t.res, t.err
}
