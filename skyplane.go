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
	"github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/dataplane"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/planner"

	// Store backends register their URL schemes.
	_ "github.com/skyplane-project/skyplane-go/internal/objstore/azure"
	_ "github.com/skyplane-project/skyplane-go/internal/objstore/gcs"
	_ "github.com/skyplane-project/skyplane-go/internal/objstore/local"
	_ "github.com/skyplane-project/skyplane-go/internal/objstore/s3"
)

// Config holds every `skyplane config` key.
type Config = config.Config

// DefaultConfig returns the defaults of every key.
func DefaultConfig() Config { return config.Default() }

// LoadConfig reads the user's config file ($SKYPLANE_CONFIG or ~/.skyplane/config).
func LoadConfig() (Config, error) { return config.Load(config.Path()) }

// Progress is a snapshot of a running transfer.
type Progress = dataplane.Progress

// Result summarises a finished transfer.
type Result = dataplane.Result

// Preview counts what a transfer would move.
type Preview = dataplane.Preview

// Sample is one "src => dst (size)" line of a plan.
type Sample = dataplane.Sample

// Failure is one object a transfer left out, with the reason.
type Failure = dataplane.Failure

// Errors callers may branch on with errors.Is.
var (
	ErrNotFound         = objstore.ErrNotFound
	ErrBucketNotFound   = objstore.ErrBucketNotFound
	ErrAccessDenied     = objstore.ErrAccessDenied
	ErrChecksumMismatch = objstore.ErrChecksumMismatch
	ErrNoObjects        = dataplane.ErrNoObjects
	ErrIsPrefix         = dataplane.ErrIsPrefix
	ErrVerify           = dataplane.ErrVerify
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
	// ErrInvalidInput wraps malformed URLs and arguments.
	ErrInvalidInput = errors.New("invalid input")
)

// Client starts transfers.
type Client struct {
	cfg      Config
	log      *slog.Logger
	provider func() compute.Provider
	test     control.TestHooks
	dir      string
	filter   *Filter
	// chunkTimeout resends a chunk not landed by then (0: the default).
	chunkTimeout time.Duration
	// resolver opens each bucket once for the preview, plan and run of a
	// command.
	resolver *dataplane.Resolver
}

// Option adjusts a Client.
type Option func(*Client)

// WithLogger sends the client's logs to l.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithTestHooks injects gateway faults (tests only).
func WithTestHooks(h control.TestHooks) Option { return func(c *Client) { c.test = h } }

// WithChunkTimeout resends a chunk whose attempt has not landed after d
// (default 5 minutes): it recovers a link that stalls without failing.
func WithChunkTimeout(d time.Duration) Option { return func(c *Client) { c.chunkTimeout = d } }

// WithDir puts gateway logs and stats of the next dataplane in dir.
func WithDir(dir string) Option { return func(c *Client) { c.dir = dir } }

// NewClient returns a client using cfg. Gateways run as local processes
// (the embedded default: no cloud account needed).
func NewClient(cfg Config, opts ...Option) *Client {
	c := &Client{cfg: cfg, log: slog.Default()}
	c.provider = func() compute.Provider { return local.New(c.cfg.GatewayBinary) }
	for _, o := range opts {
		o(c)
	}
	c.resolver = dataplane.NewResolver(cfg)
	return c
}

// Config is the client's configuration.
func (c *Client) Config() Config { return c.cfg }

// CopyOptions tune Copy.
type CopyOptions struct {
	Recursive bool
	// NoResume sends everything again even if an interrupted run of the
	// same copy left work to continue.
	NoResume bool
	// Gateways per region (-n); 0 means the config's max_instances.
	Gateways int
	// Progress, when set, is called periodically during the transfer.
	Progress func(Progress)
}

// SyncOptions tune Sync.
type SyncOptions struct {
	Delete   bool
	NoResume bool
	Gateways int
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

// PreviewCopy counts what Copy/Broadcast would move and keeps the first
// maxSamples lines; each, if set, sees every line (a dry run).
func (c *Client) PreviewCopy(ctx context.Context, src string, dsts []string, recursive bool, maxSamples int, each func(Sample)) (Preview, error) {
	job, err := c.job(src, dsts, recursive)
	if err != nil {
		return Preview{}, err
	}
	return c.preview(ctx, job, maxSamples, each)
}

// PreviewSync counts what Sync would copy and delete.
func (c *Client) PreviewSync(ctx context.Context, src, dst string, del bool, maxSamples int, each func(Sample)) (Preview, error) {
	job, err := c.job(src, []string{dst}, true)
	if err != nil {
		return Preview{}, err
	}
	job.Sync, job.Delete = true, del
	return c.preview(ctx, job, maxSamples, each)
}

func (c *Client) preview(ctx context.Context, job dataplane.Job, maxSamples int, each func(Sample)) (Preview, error) {
	rj := c.resolver.Resolve(job)
	if _, err := c.newDataplane(ctx, rj, 1); err != nil {
		return Preview{}, err
	}
	return dataplane.PreviewJobs(ctx, []*dataplane.Resolved{rj}, maxSamples, each)
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

func (c *Client) gateways(n int) int {
	if n == 0 {
		n = c.cfg.MaxInstances
	}
	return n
}

func (c *Client) newDataplane(ctx context.Context, job *dataplane.Resolved, n int) (*dataplane.Dataplane, error) {
	src, dsts := job.Regions(ctx)
	// Gateways per region obey max_instances' range however they are given.
	cfg := c.cfg
	cfg.MaxInstances = c.gateways(n)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	plan, err := planner.Direct(src, dsts, cfg.MaxInstances)
	if err != nil {
		return nil, err
	}
	return dataplane.New(plan, dataplane.Options{Config: c.cfg, Provider: c.provider(), Dir: c.dir, Log: c.log, Test: c.test, ChunkTimeout: c.chunkTimeout})
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
}

// Plan says where the gateways of a copy from src to dsts would run.
func (c *Client) Plan(ctx context.Context, src string, dsts []string, recursive bool, n int) ([]PlanGroup, error) {
	job, err := c.job(src, dsts, recursive)
	if err != nil {
		return nil, err
	}
	dp, err := c.newDataplane(ctx, c.resolver.Resolve(job), n)
	if err != nil {
		return nil, err
	}
	var out []PlanGroup
	for _, g := range dp.Plan().Groups {
		out = append(out, PlanGroup{Region: g.Region, Role: string(g.Role), Gateways: g.Gateways})
	}
	return out, nil
}
