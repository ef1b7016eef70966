package bufpool

import (
	"context"
	"sync"
)

// Budget is a byte semaphore bounding how much chunk data a gateway (or
// the in-process path) holds.
type Budget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	avail int64
	max   int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget {
	b := &Budget{avail: max, max: max}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// Acquire blocks until n bytes are free. A request larger than the whole
// budget waits for the budget to be entirely free, so one huge chunk still
// moves (alone).
func (b *Budget) Acquire(ctx context.Context, n int64) error {
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

// Release gives n bytes back.
func (b *Budget) Release(n int64) {
	n = min(n, b.max)
	b.mu.Lock()
	b.avail += n
	b.cond.Broadcast()
	b.mu.Unlock()
}
