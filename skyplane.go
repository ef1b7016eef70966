// Package skyplane moves bulk data between object stores (S3, GCS, Azure
// Blob, S3-compatible stores, local disk) through a fleet of gateways that
// stream chunks to each other over many TCP connections, compressed,
// encrypted and checksummed.
//
//	client := skyplane.NewClient(skyplane.DefaultConfig())
//	res, err := client.Copy(ctx, "/data/in", "/data/out", skyplane.CopyOptions{Recursive: true})
//
// Copy and Sync provision gateways, transfer, verify and tear down in one
// call. For several transfers over one set of gateways, use Dataplane.
package skyplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/dataplane"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"

	// Store backends register their URL schemes.
	_ "github.com/skyplane-project/skyplane-go/internal/objstore/azure"
	_ "github.com/skyplane-project/skyplane-go/internal/objstore/gcs"
	_ "github.com/skyplane-project/skyplane-go/internal/objstore/local"
	_ "github.com/skyplane-project/skyplane-go/internal/objstore/s3"
)

// Errors callers may branch on with errors.Is. Transfer errors wrap them,
// with the object or bucket named in the message.
var (
	// ErrNotFound: an object does not exist.
	ErrNotFound = objstore.ErrNotFound
	// ErrBucketNotFound: a bucket or container does not exist.
	ErrBucketNotFound = objstore.ErrBucketNotFound
	// ErrAccessDenied: the store refused the credentials.
	ErrAccessDenied = objstore.ErrAccessDenied
	// ErrChecksumMismatch: a store refused an upload whose checksum did
	// not match the data.
	ErrChecksumMismatch = objstore.ErrChecksumMismatch
	// ErrNoObjects: a recursive source holds no object.
	ErrNoObjects = dataplane.ErrNoObjects
	// ErrIsPrefix: a one-object copy names a folder; copy it recursively.
	ErrIsPrefix = dataplane.ErrIsPrefix
	// ErrVerify: the destinations were checked after the transfer and
	// some object is missing or differs.
	ErrVerify = dataplane.ErrVerify
	// ErrChecksum: a destination's checksum differs from the source's
	// (wrapped together with ErrVerify).
	ErrChecksum = dataplane.ErrChecksum
	// ErrSourceChanged: a source object kept changing while it was copied.
	ErrSourceChanged = objstore.ErrChanged
	// ErrJournalLocked: the same transfer is running in another process.
	ErrJournalLocked = dataplane.ErrJournalLocked
	// ErrObjectsFailed: the transfer landed everything but the objects
	// Result.Failed names (keys a destination cannot hold); the Result is
	// returned with it.
	ErrObjectsFailed = dataplane.ErrObjectsFailed
	// ErrInvalidInput wraps malformed URLs, options and config values.
	ErrInvalidInput = errors.New("invalid input")
)

// Client starts transfers.
type Client struct {
	cfg      Config
	log      *slog.Logger
	provider func() compute.Provider
	// test is set only by WithFrameFaults (builds tagged skyplane_faults).
	test   control.TestHooks
	dir    string
	filter *dataplane.Filter
	// chunkTimeout resends a chunk not landed by then (0: the default).
	chunkTimeout time.Duration
	// resolver opens each bucket once for the preview, plan and run of a
	// command.
	resolver *dataplane.Resolver
	// stores is what every store is opened with (WithStoreCredentials).
	stores objstore.Options
	// stateDir holds dataplane folders and resume journals (WithStateDir).
	stateDir string
	// hosts reach Config.HostsFile's hosts (hosts.go).
	hosts hostOptions
}

// Option adjusts a Client.
type Option func(*Client)

// WithLogger sends the client's logs to l.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithStateDir keeps dataplane folders (gateway logs, scratch files) and
// resume journals under dir instead of ~/.skyplane.
func WithStateDir(dir string) Option { return func(c *Client) { c.stateDir = dir } }

// WithChunkTimeout resends a chunk whose attempt has not landed after d
// (default 5 minutes): it recovers a link that stalls without failing.
func WithChunkTimeout(d time.Duration) Option { return func(c *Client) { c.chunkTimeout = d } }

// WithDir puts gateway logs and stats of the next dataplane in dir.
func WithDir(dir string) Option { return func(c *Client) { c.dir = dir } }

// NewClient returns a client using cfg. Gateways run as local processes
// (the embedded default: no cloud account needed).
func NewClient(cfg Config, opts ...Option) *Client {
	c := &Client{cfg: cfg, log: slog.Default(), stateDir: config.StateDir(config.NoEnv)}
	c.provider = c.gatewayProvider
	for _, o := range opts {
		o(c)
	}
	c.resolver = dataplane.NewResolver(cfg.internal(), c.stores)
	return c
}

// Config is the client's configuration.
func (c *Client) Config() Config { return c.cfg }

// CopyOptions tune Copy and Broadcast.
type CopyOptions struct {
	// Recursive copies every object under the source folder; without it
	// the source names one object.
	Recursive bool
	// NoResume sends everything again even if an interrupted run of the
	// same copy left work to continue.
	NoResume bool
	// Gateways per region; 0 means the config's max_instances.
	Gateways int
	// Progress, when set, is called periodically during the transfer.
	Progress func(Progress)
}

// SyncOptions tune Sync.
type SyncOptions struct {
	// Delete removes destination objects the source lacks (never what a
	// Filter leaves out).
	Delete bool
	// NoResume: as in CopyOptions.
	NoResume bool
	// Gateways per region; 0 means the config's max_instances.
	Gateways int
	// Progress, when set, is called periodically during the transfer.
	Progress func(Progress)
}

// Copy copies src to dst (an object, or with Recursive a prefix), through
// gateways it provisions and always tears down, even on error or panic.
func (c *Client) Copy(ctx context.Context, src, dst string, opts CopyOptions) (*Result, error) {
	return c.Broadcast(ctx, src, []string{dst}, opts)
}

// Broadcast copies src to every destination, reading the source once.
func (c *Client) Broadcast(ctx context.Context, src string, dsts []string, opts CopyOptions) (*Result, error) {
	job, err := c.job(src, dsts, opts.Recursive)
	if err != nil {
		return nil, err
	}
	job.NoResume = opts.NoResume
	return c.runJob(ctx, job, opts.Gateways, opts.Progress)
}

// Sync copies what is missing, newer or of another size at dst, and with
// Delete removes what src lacks. It never touches objects that match.
func (c *Client) Sync(ctx context.Context, src, dst string, opts SyncOptions) (*Result, error) {
	job, err := c.job(src, []string{dst}, true)
	if err != nil {
		return nil, err
	}
	job.Sync, job.Delete, job.NoResume = true, opts.Delete, opts.NoResume
	return c.runJob(ctx, job, opts.Gateways, opts.Progress)
}

// PreviewOptions tune PreviewCopy and PreviewSync.
type PreviewOptions struct {
	// Recursive previews a copy of every object under the source folder
	// (PreviewCopy; a sync is always recursive).
	Recursive bool
	// Delete previews a sync that removes what the source lacks
	// (PreviewSync).
	Delete bool
	// MaxSamples is how many lines Preview.Samples keeps.
	MaxSamples int
	// Each, when set, sees every line (a dry run prints them).
	Each func(Sample)
}

// PreviewCopy counts what Copy/Broadcast would move, without starting a
// gateway.
func (c *Client) PreviewCopy(ctx context.Context, src string, dsts []string, opts PreviewOptions) (Preview, error) {
	job, err := c.job(src, dsts, opts.Recursive)
	if err != nil {
		return Preview{}, err
	}
	return c.preview(ctx, job, opts.MaxSamples, opts.Each)
}

// PreviewSync counts what Sync would copy and delete.
func (c *Client) PreviewSync(ctx context.Context, src, dst string, opts PreviewOptions) (Preview, error) {
	job, err := c.job(src, []string{dst}, true)
	if err != nil {
		return Preview{}, err
	}
	job.Sync, job.Delete = true, opts.Delete
	return c.preview(ctx, job, opts.MaxSamples, opts.Each)
}

func (c *Client) preview(ctx context.Context, job dataplane.Job, maxSamples int, each func(Sample)) (Preview, error) {
	rj := c.resolver.Resolve(job)
	if _, err := c.newDataplane(ctx, rj, 1); err != nil {
		return Preview{}, err
	}
	p, err := dataplane.PreviewJobs(ctx, []*dataplane.Resolved{rj}, maxSamples, sampleFunc(each))
	return previewOf(p), err
}

func (c *Client) job(src string, dsts []string, recursive bool) (dataplane.Job, error) {
	if len(dsts) == 0 {
		return dataplane.Job{}, fmt.Errorf("%w: no destination given", ErrInvalidInput)
	}
	s, err := objstore.ParseURL(src)
	if err != nil {
		return dataplane.Job{}, fmt.Errorf("%w: source: %w", ErrInvalidInput, err)
	}
	job := dataplane.Job{Src: s, Recursive: recursive, Filter: c.filter}
	for _, d := range dsts {
		l, err := objstore.ParseURL(d)
		if err != nil {
			return dataplane.Job{}, fmt.Errorf("%w: destination: %w", ErrInvalidInput, err)
		}
		job.Dsts = append(job.Dsts, l)
	}
	intoLocalFolders(&job)
	if err := validateJob(job); err != nil {
		return dataplane.Job{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return job, nil
}

// gateways is the count of gateways per region for n (0: the config's
// max_instances), checked against max_instances' range.
func (c *Client) gateways(n int) (int, error) {
	cfg := c.cfg
	if n != 0 {
		cfg.MaxInstances = n
	}
	if err := cfg.Validate(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return cfg.MaxInstances, nil
}

func (c *Client) newDataplane(ctx context.Context, job *dataplane.Resolved, n int) (*dataplane.Dataplane, error) {
	src, dsts := job.Regions(ctx)
	n, err := c.gateways(n)
	if err != nil {
		return nil, err
	}
	plan, err := c.directPlan(src, dsts, n)
	if err != nil {
		return nil, err
	}
	if err := c.checkHosts(plan); err != nil {
		return nil, err
	}
	return dataplane.New(plan, dataplane.Options{Config: c.cfg.internal(), Provider: c.provider(), Dir: c.dir, Log: c.log, Test: c.test, ChunkTimeout: c.chunkTimeout, StateDir: c.stateDir})
}

func (c *Client) runJob(ctx context.Context, job dataplane.Job, n int, progress func(Progress)) (res *Result, err error) {
	if err := c.cfg.Validate(); err != nil {
		return nil, err
	}
	rj := c.resolver.Resolve(job)
	inner, err := c.newDataplane(ctx, rj, n)
	if err != nil {
		return nil, err
	}
	if err := dataplane.Preflight(ctx, []*dataplane.Resolved{rj}); err != nil {
		return nil, err
	}
	dp := &Dataplane{c: c, inner: inner, jobs: []*dataplane.Resolved{rj}}
	err = dp.AutoDeprovision(ctx, func(dp *Dataplane) error {
		var err error
		res, err = dp.Run(ctx, progress)
		return err
	})
	return res, err
}

// PlanGroup is one group of gateways of a plan.
type PlanGroup struct {
	Region   string // "<cloud>:<region>", or local:src / local:dst
	Role     string // source, destination, relay
	Gateways int
	// Hosts are the inventory hosts (Config.HostsFile) the group's
	// gateways run on over SSH; none: local processes.
	Hosts []string
	// InProcess: every gateway of the plan would run on this machine, so
	// the client reads and writes itself and no gateway starts (the
	// config's in_process; false forces gateways).
	InProcess bool
	// Key names the group in PlanEdge (the region, "#2" for a second
	// group in one region); Class is its VMs' instance class.
	Key, Class string
}

// PlanOptions tune Plan, PlanTransfer and PlanRegions.
type PlanOptions struct {
	// Recursive plans a copy of every object under the source folder.
	Recursive bool
	// Gateways per region; 0 means the config's max_instances. The ilp
	// solver uses up to this many in each region.
	Gateways int
	// Solver is direct, ron or ilp; "" means the config's solver
	// (docs/planner.md).
	Solver string
	// TargetGbps is the throughput the ilp solver must reach to each
	// destination; 0 means the best reachable.
	TargetGbps float64
	// Bytes to each destination, for the estimated time and cost.
	Bytes int64
}

// Plan says where the gateways of a copy from src to dsts would run.
func (c *Client) Plan(ctx context.Context, src string, dsts []string, opts PlanOptions) ([]PlanGroup, error) {
	job, err := c.job(src, dsts, opts.Recursive)
	if err != nil {
		return nil, err
	}
	dp, err := c.newDataplane(ctx, c.resolver.Resolve(job), opts.Gateways)
	if err != nil {
		return nil, err
	}
	var out []PlanGroup
	for _, g := range dp.Plan().Groups {
		out = append(out, PlanGroup{Region: g.Region, Role: string(g.Role), Gateways: g.Gateways, Key: g.Key, Class: g.Class})
	}
	return out, c.place(dp, out)
}

// place says where the groups of dp's plan run: the inventory hosts of
// each region, and whether the transfer runs in process (no gateways).
// Plan and PlanTransfer share it, so what a transfer shows is what it runs.
func (c *Client) place(dp *dataplane.Dataplane, groups []PlanGroup) error {
	inv, err := c.inventory()
	if err != nil {
		return err
	}
	for i := range groups {
		groups[i].Hosts = hostNames(inv, groups[i].Region, groups[i].Gateways)
		groups[i].InProcess = dp.InProcess()
	}
	return nil
}
