package dataplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Tuning of the client side of a transfer.
const (
	maxAttempts     = 5   // failures of a chunk itself (store errors), then the transfer fails naming it
	maxResends      = 50  // losses on the way (timeouts, resets, lost gateways): a bad link, not a bad chunk
	dispatchBatch   = 256 // chunk requests per POST
	pollWait        = 2 * time.Second
	maxPollFailures = 10 // consecutive failed polls before a gateway counts as lost
	completers      = 8  // concurrent CompleteMultipart calls
	// maxRestarts bounds how often an object rewritten during the transfer
	// is started again from its new version before it fails.
	maxRestarts = 3
)

// Progress is a snapshot of a running transfer. Totals grow while the
// listing streams; ListingDone says when they are final.
type Progress struct {
	BytesDone, BytesTotal     int64
	ObjectsDone, ObjectsTotal int64
	ListingDone               bool
	Retries                   int
	Elapsed                   time.Duration

	// AlreadyThere: what a resumed copy found already at the destination
	// (not in the totals); final once ListingDone.
	AlreadyThere Counts
}

// Result summarises a finished transfer.
type Result struct {
	Objects   int64 // objects copied (counted once however many destinations)
	Bytes     int64 // raw bytes landed, summed over destinations
	WireBytes int64 // bytes the destination gateways received on the wire
	Deleted   int64 // sync --delete
	Retries   int
	// StoreRetries counts store requests the gateways retried (throttling,
	// 5xx), below chunk retries.
	StoreRetries int64
	// GatewaysLost counts gateways that stopped answering; their chunks were
	// sent again through the others.
	GatewaysLost int
	Duration     time.Duration
	// PeakInFlight is the most objects tracked at once: listings stream
	// into dispatch, so it stays near the gateways' queue capacity however
	// long the listing.
	PeakInFlight int
	// How the destinations were verified, counted per object and
	// destination: the store's MD5 of a single-part object against the MD5
	// the source gateway read, the store's S3-style multipart ETag against
	// the one the parts' MD5s make, or the size alone where the store
	// reports neither.
	VerifiedMD5, VerifiedETag, VerifiedSize int64
	// Restarted counts objects rewritten at the source while in flight and
	// started again from their new version.
	Restarted int
	// InProcess: the client moved every chunk itself, without gateways.
	InProcess bool
	Stats     []control.Stats // per gateway, at the end of the transfer

	// Failed are objects a destination cannot hold, left out (Run then
	// returns ErrObjectsFailed with this Result).
	Failed []Failure
}

// objDest is one object at one destination.
type objDest struct {
	index    int // of the destination in the job
	group    string
	store    objstore.Store
	ref      chunk.Bucket
	key      string
	uploadID string
	parts    []objstore.Part
	left     int    // chunks not yet landed
	md5      string // a whole object's MD5 as its source gateway read it
	exp      *expEntry
	done     bool // whole at this destination
}

type objState struct {
	srcKey    string
	size      int64
	it        item
	ji        int
	js        jobStores
	dests     []*objDest
	destsLeft int
	restarts  int
	// gone: the object was started again from a new source version; what
	// is still in flight of this state is ignored.
	gone bool
}

// jobStores are the opened stores of one job.
type jobStores struct {
	job     Job
	journal *journal
	src     objstore.Store
	srcRef  chunk.Bucket
	dsts    []objstore.Store
	refs    []chunk.Bucket
	groups  []string
}

// resuming: an interrupted run of this job left a journal to continue from.
func (js jobStores) resuming() bool { return js.journal.resumed && !js.job.NoResume }

type run struct {
	d *Dataplane
	// id names the run to the gateways (registerRun); every chunk carries it.
	id     string
	ctx    context.Context
	cancel context.CancelCauseFunc
	params chunk.Params
	start  time.Time

	mu           sync.Mutex
	table        *chunkTable
	outstanding  int        // objects dispatched and not finished
	room         *sync.Cond // signalled when outstanding drops (on mu)
	listingDone  bool
	finished     chan struct{}
	prog         Progress
	result       Result
	open         map[*objDest]bool // multipart uploads to abort on failure
	lostGateways int

	dispatch chan chunk.Request
	retryMu  sync.Mutex
	retries  []chunk.Request
	retrySig chan struct{}

	completeSem chan struct{}
	completeWG  sync.WaitGroup
	expected    *expectations
}

// Run moves every job through the gateways and returns once the
// destinations are complete and verified, or on the first fatal error
// (after aborting open multipart uploads).
func (d *Dataplane) Run(ctx context.Context, jobs []*Resolved, onProgress func(Progress)) (*Result, error) {
	d.mu.Lock()
	ok := d.provisioned
	d.mu.Unlock()
	if !ok {
		return nil, errors.New("dataplane is not provisioned: call Provision first")
	}
	cfg := d.opts.Config
	r := &run{
		d: d, start: time.Now(),
		params: chunk.Params{
			Enabled:   cfg.MultipartEnabled,
			Threshold: int64(cfg.MultipartMinThresholdMB) << 20,
			PartSize:  int64(cfg.MultipartChunkSizeMB) << 20,
			MaxParts:  cfg.MultipartMaxChunks,
		},
		table:       newChunkTable(maxAttempts, maxResends),
		finished:    make(chan struct{}),
		open:        map[*objDest]bool{},
		dispatch:    make(chan chunk.Request, dispatchBatch),
		retrySig:    make(chan struct{}, 1),
		completeSem: make(chan struct{}, completers),
	}
	r.ctx, r.cancel = context.WithCancelCause(ctx)
	defer r.cancel(nil)
	r.room = sync.NewCond(&r.mu)
	defer context.AfterFunc(r.ctx, func() {
		r.mu.Lock()
		r.room.Broadcast()
		r.mu.Unlock()
	})()

	stores, err := r.openJobs(jobs)
	if err != nil {
		return nil, err
	}
	r.limitParts(stores)
	if d.local != nil {
		d.local.useStores(stores)
	}
	if r.id, err = r.registerRun(stores); err != nil {
		return nil, err
	}
	defer r.endRun(ctx, r.id)
	for i := range stores {
		if stores[i].journal, err = openJournal(d.opts.JournalDir, stores[i].job, d.log); err != nil {
			for _, js := range stores[:i] {
				js.journal.close()
			}
			return nil, err
		}
		if stores[i].resuming() {
			d.log.Info("resuming an interrupted transfer", "job", stores[i].job.Src, "open uploads", len(stores[i].journal.uploads),
				"objects finished", len(stores[i].journal.done))
		}
	}
	if r.expected, err = newExpectations(d.opts.Dir); err != nil {
		return nil, err
	}
	defer r.expected.close()
	before := d.stats(context.WithoutCancel(ctx))
	clientRetries := objstore.Retries() // the client's own store calls (listing, multipart) retry too

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); r.dispatcher() }()
	for _, c := range d.allClients() {
		wg.Add(1)
		go func() { defer wg.Done(); r.track(c) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); r.sweep(d.opts.chunkTimeout()) }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// A listing error is recorded before the listing counts as done:
		// otherwise finished could close first and the error be lost.
		if err := r.produce(stores); err != nil {
			r.cancel(err)
			return
		}
		r.mu.Lock()
		r.listingDone = true
		r.prog.ListingDone = true
		r.checkFinishedLocked()
		r.mu.Unlock()
	}()
	if onProgress != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(250 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-r.ctx.Done():
					return
				case <-r.finished:
					return
				case <-t.C:
					onProgress(r.snapshot())
				}
			}
		}()
	}

	select {
	case <-r.finished:
		r.completeWG.Wait()
	case <-r.ctx.Done():
	}
	runErr := context.Cause(r.ctx)
	r.cancel(errDone)
	wg.Wait()
	r.completeWG.Wait()
	defer r.sweepStale(ctx, stores)
	if runErr != nil {
		if ctx.Err() != nil {
			// Interrupted by the caller: keep open uploads and the journal,
			// so running the same transfer again continues it.
			for _, js := range stores {
				if err := js.journal.close(); err != nil {
					d.log.Error("the journal may not resume this transfer: rerun with --no-resume", "err", err)
				}
			}
			return nil, fmt.Errorf("%w (rerun the same command to resume; `skyplane deprovision` aborts what it kept)", runErr)
		}
		r.abortOpen()
		r.dropJournals(ctx, stores)
		return nil, runErr
	}
	if onProgress != nil {
		onProgress(r.snapshot())
	}
	// A failed verification ends the transfer too: a journal kept past it
	// would let a rerun trust what it wrote.
	verr := r.verify(ctx, stores)
	if err := r.dropJournals(ctx, stores); err != nil && verr == nil {
		verr = err
	}
	if verr != nil {
		return nil, verr
	}
	res := r.result
	res.Retries = r.prog.Retries
	res.GatewaysLost = r.lostGateways
	res.InProcess = d.local != nil
	res.Duration = time.Since(r.start)
	res.Stats = d.stats(context.WithoutCancel(ctx))
	res.WireBytes = wireDelta(d, before, res.Stats)
	res.StoreRetries = storeRetriesDelta(before, res.Stats) + objstore.Retries() - clientRetries
	return &res, failedErr(res.Failed)
}

var errDone = errors.New("transfer finished")

func (r *run) snapshot() Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.prog
	p.Elapsed = time.Since(r.start)
	return p
}

func (r *run) fail(err error) { r.cancel(err) }

// limitParts fits striping to what every destination accepts: parts no
// smaller than the largest minimum, no more than the smallest maximum.
func (r *run) limitParts(stores []jobStores) {
	for _, js := range stores {
		for _, st := range js.dsts {
			f := st.Features()
			r.params.MinPartSize = max(r.params.MinPartSize, f.MinPartSize)
			if f.MaxParts > 0 && (r.params.MaxParts == 0 || f.MaxParts < r.params.MaxParts) {
				r.params.MaxParts = f.MaxParts
			}
		}
	}
}

func (r *run) openJobs(jobs []*Resolved) ([]jobStores, error) {
	dests := r.d.plan.Destinations()
	var out []jobStores
	for _, rj := range jobs {
		job := rj.Job
		if len(job.Dsts) != len(dests) {
			return nil, fmt.Errorf("job %s has %d destinations, the dataplane %d", job.Src, len(job.Dsts), len(dests))
		}
		js, err := rj.stores(r.ctx)
		if err != nil {
			return nil, err
		}
		for i := range job.Dsts {
			js.groups = append(js.groups, dests[i].Key)
		}
		js.src, js.dsts = filterJobStores(job, js.src, js.dsts)
		out = append(out, js)
	}
	return out, nil
}
