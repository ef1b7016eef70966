package dataplane

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Resolved is a job whose buckets are opened, checked and located once:
// planning (Regions), PreviewJobs, Preflight and Run all start from it, so
// a transfer opens each bucket once on the client (an S3 open loads the SDK
// configuration and asks the server for the bucket's region). Each bucket
// is opened on first use, with that use's context; an open that failed is
// tried again by the next use.
type Resolved struct {
	Job Job

	rv   *Resolver
	src  *bucket
	dsts []*bucket
}

// bucket is one side of a resolved job.
type bucket struct {
	loc     objstore.Location
	side    string // "src" or "dst": names local disk's gateway group
	ref     chunk.Bucket
	st      objstore.Store // nil until opened
	checked bool           // BucketExists passed
	region  string         // "" until located
}

// Resolver keeps the buckets it opened, so that the jobs it resolves (a
// preview, a plan and the run of one command) share them: a bucket is
// opened once per Resolver. A bucket deleted after it was checked is then
// noticed by the transfer, not before it.
type Resolver struct {
	cfg     config.Config
	base    objstore.Options // credentials and emulators every store starts from
	mu      sync.Mutex       // guards every bucket below
	buckets map[string]*bucket
}

// NewResolver resolves jobs under cfg.
func NewResolver(cfg config.Config, base objstore.Options) *Resolver {
	return &Resolver{cfg: cfg, base: base, buckets: map[string]*bucket{}}
}

// Resolve prepares job; nothing is opened yet.
func (rv *Resolver) Resolve(job Job) *Resolved {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	rj := &Resolved{Job: job, rv: rv, src: rv.bucket(job.Src, "src")}
	for _, d := range job.Dsts {
		rj.dsts = append(rj.dsts, rv.bucket(d, "dst"))
	}
	return rj
}

func (rv *Resolver) bucket(loc objstore.Location, side string) *bucket {
	ref := storeRef(loc, rv.cfg)
	k := side + " " + ref.URL
	if b := rv.buckets[k]; b != nil {
		return b
	}
	b := &bucket{loc: loc, side: side, ref: ref}
	rv.buckets[k] = b
	return b
}

// Regions names where the job's buckets live, "<cloud>:<region>", for the
// planner. Local disk has no region: each side gets a gateway group of its
// own ("local:src", "local:dst"). A bucket whose store cannot say (no
// objstore.Locator, or the open or lookup failed) gets its cloud's
// configured default region.
func (rj *Resolved) Regions(ctx context.Context) (src string, dsts []string) {
	rj.rv.mu.Lock()
	defer rj.rv.mu.Unlock()
	src = rj.locate(ctx, rj.src)
	for _, b := range rj.dsts {
		dsts = append(dsts, rj.locate(ctx, b))
	}
	return src, dsts
}

func (rj *Resolved) locate(ctx context.Context, b *bucket) string {
	if b.region != "" {
		return b.region
	}
	cloud, fallback := "", ""
	switch b.loc.Scheme {
	case objstore.SchemeLocal:
		b.region = "local:" + b.side
		return b.region
	case objstore.SchemeS3:
		cloud, fallback = "aws", rj.rv.cfg.AWSDefaultRegion
	case objstore.SchemeGCS:
		cloud, fallback = "gcp", rj.rv.cfg.GCPDefaultRegion
	case objstore.SchemeAzure:
		cloud, fallback = "azure", rj.rv.cfg.AzureDefaultRegion
	default:
		b.region = b.loc.Scheme + ":" + b.loc.Bucket
		return b.region
	}
	if st, err := rj.open(ctx, b); err == nil {
		if l, ok := st.(objstore.Locator); ok {
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if tag, err := l.Region(lctx); err == nil && tag != "" {
				b.region = tag
				return tag
			}
		}
	}
	// Not kept: a later call may reach a store that failed this time.
	return cloud + ":" + fallback
}

func (rj *Resolved) open(ctx context.Context, b *bucket) (objstore.Store, error) {
	if b.st != nil {
		return b.st, nil
	}
	opts := rj.rv.base
	opts.Endpoint, opts.RequesterPays, opts.NoFsync = b.ref.Endpoint, b.ref.RequesterPays, b.ref.NoFsync
	st, err := objstore.Open(ctx, b.loc, opts)
	if err != nil {
		return nil, err
	}
	b.st = st
	return st, nil
}

// stores opens every bucket of the job and checks it exists and answers,
// once; the destinations are in the job's order.
func (rj *Resolved) stores(ctx context.Context) (jobStores, error) {
	rj.rv.mu.Lock()
	defer rj.rv.mu.Unlock()
	js := jobStores{job: rj.Job, srcRef: rj.src.ref}
	var err error
	if js.src, err = rj.checked(ctx, rj.src); err != nil {
		return js, err
	}
	for _, b := range rj.dsts {
		st, err := rj.checked(ctx, b)
		if err != nil {
			return js, err
		}
		js.dsts = append(js.dsts, st)
		js.refs = append(js.refs, b.ref)
	}
	return js, nil
}

func (rj *Resolved) checked(ctx context.Context, b *bucket) (objstore.Store, error) {
	st, err := rj.open(ctx, b)
	if err != nil {
		return nil, err
	}
	if !b.checked {
		if err := st.BucketExists(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", b.loc.BucketURL(), err)
		}
		b.checked = true
	}
	return st, nil
}

// storeRef names loc's bucket with the settings config gives its backend,
// as gateways open it.
func storeRef(loc objstore.Location, cfg config.Config) chunk.Bucket {
	ref := chunk.Bucket{URL: loc.BucketURL().String(), RequesterPays: cfg.RequesterPays}
	if loc.Scheme == objstore.SchemeLocal {
		ref.NoFsync = !cfg.LocalFsync
	}
	if loc.Scheme == objstore.SchemeS3 {
		ref.Endpoint = cfg.S3EndpointFor(loc.Bucket)
	}
	return ref
}
