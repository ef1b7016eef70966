package skyplane

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/skyplane-project/skyplane-go/internal/dataplane"
)

// Dataplane is a set of gateways between a source region and a destination
// region that runs queued copies and syncs, like the Python client's
// dataplane: Provision, QueueCopy/QueueSync, RunAsync (or Run), Deprovision.
type Dataplane struct {
	c     *Client
	inner *dataplane.Dataplane
	mu    sync.Mutex
	jobs  []*dataplane.Resolved
	// provisioned makes Provision idempotent: AutoDeprovision provisions,
	// and code written for the Python client calls Provision inside it.
	provisioned bool
	// recv is what each gateway had received (wire, raw) when the last
	// run ended: gateway counters run for the dataplane's life, a run's
	// cost counts its own bytes.
	recv map[string][2]int64
}

// Region is where a group of gateways runs: a cloud ("local", "aws",
// "gcp", "azure") and one of its regions. The zero Region is the embedded
// default: gateway processes on this machine.
type Region struct {
	Cloud  string
	Region string
}

// DataplaneOptions say where a Dataplane's gateways run. It reads like the
// Python client's dataplane("aws", "us-east-1", "aws", "us-east-2", n_vms=2):
//
//	client.Dataplane(skyplane.DataplaneOptions{
//		Src: skyplane.Region{Cloud: "aws", Region: "us-east-1"},
//		Dst: skyplane.Region{Cloud: "aws", Region: "us-east-2"},
//		Gateways: 2,
//	})
type DataplaneOptions struct {
	// Src and Dst are the regions of the source and destination gateways.
	Src, Dst Region
	// Gateways per region; 0 means the config's max_instances.
	Gateways int
}

func (r Region) tag(side string) (string, error) {
	switch {
	case r == Region{}, r.Cloud == "local" && r.Region == "":
		return "local:" + side, nil
	case r.Cloud == "":
		return "", fmt.Errorf("%w: %s region %q has no cloud: use local, aws, gcp or azure", ErrInvalidInput, side, r.Region)
	}
	return r.Cloud + ":" + r.Region, nil
}

// Dataplane plans the gateways of opts; Provision starts them.
func (c *Client) Dataplane(opts DataplaneOptions) (*Dataplane, error) {
	src, err := opts.Src.tag("src")
	if err != nil {
		return nil, err
	}
	dst, err := opts.Dst.tag("dst")
	if err != nil {
		return nil, err
	}
	n, err := c.gateways(opts.Gateways)
	if err != nil {
		return nil, err
	}
	plan, err := c.directPlan(src, []string{dst}, n)
	if err != nil {
		return nil, err
	}
	if err := c.checkHosts(plan); err != nil {
		return nil, err
	}
	inner, err := dataplane.New(plan, dataplane.Options{Config: c.cfg.internal(), Provider: c.provider(), Dir: c.dir, Log: c.log, Test: c.test, ChunkTimeout: c.chunkTimeout, StateDir: c.stateDir})
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

// InProcess says whether the dataplane copies inside the client, starting
// no gateway: every gateway of its plan would run on this machine and the
// config's in_process is on.
func (dp *Dataplane) InProcess() bool { return dp.inner.InProcess() }

// Provision starts the gateways. Once they run (inside AutoDeprovision
// too, which provisions by itself) it does nothing and returns nil.
func (dp *Dataplane) Provision(ctx context.Context) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.provisioned {
		return nil
	}
	if err := dp.inner.Provision(ctx); err != nil {
		return err
	}
	dp.provisioned = true
	return nil
}

// Deprovision stops every gateway. Safe to call more than once.
func (dp *Dataplane) Deprovision(ctx context.Context) error {
	dp.mu.Lock()
	dp.provisioned = false
	dp.mu.Unlock()
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

// QueueCopyOptions tune QueueCopy.
type QueueCopyOptions struct {
	// Recursive copies every object under the source folder.
	Recursive bool
	// NoResume sends everything again even if an interrupted run of the
	// same copy left work to continue.
	NoResume bool
}

// QueueSyncOptions tune QueueSync.
type QueueSyncOptions struct {
	// Delete removes destination objects the source lacks.
	Delete bool
	// NoResume: as in QueueCopyOptions.
	NoResume bool
}

// QueueCopy queues a copy of src to dst for the next Run.
func (dp *Dataplane) QueueCopy(src, dst string, opts QueueCopyOptions) error {
	job, err := dp.c.job(src, []string{dst}, opts.Recursive)
	if err != nil {
		return err
	}
	job.NoResume = opts.NoResume
	return dp.queue(job)
}

// QueueSync queues a sync of src to dst for the next Run.
func (dp *Dataplane) QueueSync(src, dst string, opts QueueSyncOptions) error {
	job, err := dp.c.job(src, []string{dst}, true)
	if err != nil {
		return err
	}
	job.Sync, job.Delete, job.NoResume = true, opts.Delete, opts.NoResume
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
	inner, err := dp.inner.Run(ctx, jobs, progressFunc(progress))
	res := resultOf(inner)
	dp.costAfter(res)
	if err != nil {
		// res is set when the transfer ran but left objects out
		// (ErrObjectsFailed): it says what landed and what failed.
		return res, fmt.Errorf("transfer failed: %w", err)
	}
	return res, nil
}
