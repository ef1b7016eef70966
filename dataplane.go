package skyplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/skyplane-project/skyplane-go/internal/dataplane"
	"github.com/skyplane-project/skyplane-go/internal/planner"
)

// Dataplane is a set of gateways between a source region and a destination
// region that runs queued copies and syncs, like the Python client's
// dataplane: Provision, QueueCopy/QueueSync, RunAsync (or Run), Deprovision.
type Dataplane struct {
	c     *Client
	inner *dataplane.Dataplane
	mu    sync.Mutex
	jobs  []*dataplane.Resolved
}

// Dataplane plans n gateways per region between two regions. Cloud "local"
// with region "" is the embedded default (gateway processes on this machine).
func (c *Client) Dataplane(srcCloud, srcRegion, dstCloud, dstRegion string, n int) (*Dataplane, error) {
	tag := func(cloud, region, side string) (string, error) {
		switch {
		case cloud == "local" && region == "":
			return "local:" + side, nil
		case cloud == "":
			return "", errors.New("cloud is empty: use local, aws, gcp or azure")
		}
		return cloud + ":" + region, nil
	}
	src, err := tag(srcCloud, srcRegion, "src")
	if err != nil {
		return nil, err
	}
	dst, err := tag(dstCloud, dstRegion, "dst")
	if err != nil {
		return nil, err
	}
	plan, err := planner.Direct(src, []string{dst}, c.gateways(n))
	if err != nil {
		return nil, err
	}
	inner, err := dataplane.New(plan, dataplane.Options{Config: c.cfg, Provider: c.provider(), Dir: c.dir, Log: c.log, Test: c.test, ChunkTimeout: c.chunkTimeout})
	if err != nil {
		return nil, err
	}
	return &Dataplane{c: c, inner: inner}, nil
}

// ID identifies the dataplane (its gateways' logs live under Dir).
func (dp *Dataplane) ID() string { return dp.inner.ID }

// Dir holds the gateways' logs and final stats.
func (dp *Dataplane) Dir() string { return dp.inner.Dir() }

// Gateways counts the gateways the plan runs.
func (dp *Dataplane) Gateways() int {
	n := 0
	for _, g := range dp.inner.Plan().Groups {
		n += g.Gateways
	}
	return n
}

// Provision starts the gateways.
func (dp *Dataplane) Provision(ctx context.Context) error { return dp.inner.Provision(ctx) }

// Deprovision stops every gateway. Safe to call more than once.
func (dp *Dataplane) Deprovision(ctx context.Context) error {
	return dp.inner.Deprovision(context.WithoutCancel(ctx))
}

// AutoDeprovision provisions, runs fn and deprovisions, also when fn fails
// or panics (the panic is re-raised after teardown).
func (dp *Dataplane) AutoDeprovision(ctx context.Context, fn func(*Dataplane) error) (err error) {
	if err := dp.Provision(ctx); err != nil {
		return err
	}
	defer func() {
		derr := dp.Deprovision(ctx)
		if p := recover(); p != nil {
			panic(p)
		}
		if err == nil {
			err = derr
		}
	}()
	return fn(dp)
}

// QueueCopy queues a copy of src to dst for the next Run.
func (dp *Dataplane) QueueCopy(src, dst string, recursive bool) error {
	job, err := dp.c.job(src, []string{dst}, recursive)
	if err != nil {
		return err
	}
	return dp.queue(job)
}

// QueueSync queues a sync of src to dst for the next Run.
func (dp *Dataplane) QueueSync(src, dst string, del bool) error {
	job, err := dp.c.job(src, []string{dst}, true)
	if err != nil {
		return err
	}
	job.Sync, job.Delete = true, del
	return dp.queue(job)
}

func (dp *Dataplane) queue(job dataplane.Job) error {
	dp.mu.Lock()
	dp.jobs = append(dp.jobs, dp.c.resolver.Resolve(job))
	dp.mu.Unlock()
	return nil
}

// Run transfers every queued job and waits for it.
func (dp *Dataplane) Run(ctx context.Context, progress func(Progress)) (*Result, error) {
	dp.mu.Lock()
	jobs := dp.jobs
	dp.jobs = nil
	dp.mu.Unlock()
	if len(jobs) == 0 {
		return nil, errors.New("nothing queued: call QueueCopy or QueueSync first")
	}
	res, err := dp.inner.Run(ctx, jobs, progress)
	if err != nil {
		// res is set when the transfer ran but left objects out
		// (ErrObjectsFailed): it says what landed and what failed.
		return res, fmt.Errorf("transfer failed: %w", err)
	}
	return res, nil
}

// Tracker follows a transfer started by RunAsync.
type Tracker struct {
	done     chan struct{}
	res      *Result
	err      error
	progress atomic.Pointer[Progress]
}

// RunAsync starts the queued jobs and returns at once.
func (dp *Dataplane) RunAsync(ctx context.Context) *Tracker {
	t := &Tracker{done: make(chan struct{})}
	t.progress.Store(&Progress{})
	go func() {
		defer close(t.done)
		t.res, t.err = dp.Run(ctx, func(p Progress) { t.progress.Store(&p) })
	}()
	return t
}

// Progress is the latest snapshot.
func (t *Tracker) Progress() Progress { return *t.progress.Load() }

// BytesRemaining is what is known to be left; it grows while listing streams.
func (t *Tracker) BytesRemaining() int64 {
	p := t.Progress()
	return p.BytesTotal - p.BytesDone
}

// Done is closed when the transfer ends.
func (t *Tracker) Done() <-chan struct{} { return t.done }

// Wait blocks until the transfer ends.
func (t *Tracker) Wait() (*Result, error) {
	<-t.done
	return t.res, t.err
}
