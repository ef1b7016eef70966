package dataplane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/wire"
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
	Stats     []gateway.Stats // per gateway, at the end of the transfer
}

// objDest is one object at one destination.
type objDest struct {
	index    int // of the destination in the job
	group    string
	store    objstore.Store
	ref      chunk.Store
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

type chunkState struct {
	req     chunk.Request
	obj     *objState
	pending map[string]bool // destination groups still to land
	// Where the current attempt is, so a lost gateway's chunks can be sent
	// again: the source gateway it was posted to, the next hop (data
	// address) it was sent to per destination group, and when it was posted.
	src   string
	hops  map[string]string
	since time.Time
	// failures counts attempts the chunk failed itself; resends, attempts
	// lost in transport. Each has its own limit.
	failures, resends int
}

// jobStores are the opened stores of one job.
type jobStores struct {
	job     Job
	journal *journal
	src     objstore.Store
	srcRef  chunk.Store
	dsts    []objstore.Store
	refs    []chunk.Store
	groups  []string
}

// resuming: an interrupted run of this job left a journal to continue from.
func (js jobStores) resuming() bool { return js.journal.resumed && !js.job.NoResume }

type run struct {
	d      *Dataplane
	ctx    context.Context
	cancel context.CancelCauseFunc
	params chunk.Params
	start  time.Time

	mu           sync.Mutex
	chunks       map[chunk.ID]*chunkState
	outstanding  int        // objects dispatched and not finished
	room         *sync.Cond // signalled when outstanding drops (on mu)
	listingDone  bool
	finished     chan struct{}
	prog         Progress
	result       Result
	open         map[*objDest]bool // multipart uploads to abort on failure
	lost         map[string]bool   // gateways declared lost
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
func (d *Dataplane) Run(ctx context.Context, jobs []Job, onProgress func(Progress)) (*Result, error) {
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
		chunks:      map[chunk.ID]*chunkState{},
		finished:    make(chan struct{}),
		open:        map[*objDest]bool{},
		lost:        map[string]bool{},
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
	runID, err := r.registerRun(stores)
	if err != nil {
		return nil, err
	}
	defer r.endRun(ctx, runID)
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
	res.Duration = time.Since(r.start)
	res.Stats = d.stats(context.WithoutCancel(ctx))
	res.WireBytes = wireDelta(d, before, res.Stats)
	res.StoreRetries = storeRetriesDelta(before, res.Stats) + objstore.Retries() - clientRetries
	return &res, nil
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

func (r *run) openJobs(jobs []Job) ([]jobStores, error) {
	dests := r.d.plan.Destinations()
	var out []jobStores
	for _, job := range jobs {
		if len(job.Dsts) != len(dests) {
			return nil, fmt.Errorf("job %s has %d destinations, the dataplane %d", job.Src, len(job.Dsts), len(dests))
		}
		js := jobStores{job: job}
		var err error
		if js.src, js.srcRef, err = r.d.openStore(r.ctx, job.Src); err != nil {
			return nil, err
		}
		for i, dl := range job.Dsts {
			st, ref, err := r.d.openStore(r.ctx, dl)
			if err != nil {
				return nil, err
			}
			js.dsts = append(js.dsts, st)
			js.refs = append(js.refs, ref)
			js.groups = append(js.groups, dests[i].Key)
		}
		out = append(out, js)
	}
	return out, nil
}

// produce streams every job's objects into dispatch.
func (r *run) produce(stores []jobStores) error {
	for ji, js := range stores {
		for it, err := range r.items(js) {
			if err != nil {
				return err
			}
			if !r.waitRoom() {
				return nil
			}
			if err := r.startObject(ji, js, it, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxObjectsInFlight bounds the objects a run tracks at once. Gateway
// queues alone would bound it too, but only loosely: completions that lag
// behind dispatch (a busy client) let the listing run ahead by thousands.
// An explicit window keeps memory flat however the work is spread.
const maxObjectsInFlight = 4096

// waitRoom blocks the listing until the run tracks fewer than
// maxObjectsInFlight objects; false when the run ended meanwhile.
func (r *run) waitRoom() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.outstanding >= maxObjectsInFlight && r.ctx.Err() == nil {
		r.room.Wait()
	}
	return r.ctx.Err() == nil
}

// startObject opens multipart uploads if the object is striped, registers
// its chunks and hands them to the dispatcher (blocking while gateways are
// full: that is the backpressure that keeps listings from running ahead).
// prev is the state of the same object when it starts again because its
// source was rewritten in flight.
func (r *run) startObject(ji int, js jobStores, it item, prev *objState) error {
	ranges := chunk.Split(it.obj.Size, r.params)
	if ranges[0].Length > wire.MaxChunk {
		return fmt.Errorf("%s is %d bytes: a single chunk carries at most %d; turn multipart on (--multipart, or multipart_enabled true) with multipart_chunk_size_mb ≤ %d", it.obj.Key, it.obj.Size, int64(wire.MaxChunk), wire.MaxChunk>>20)
	}
	id := identity(it.obj)
	o := &objState{srcKey: it.obj.Key, size: it.obj.Size, it: it, ji: ji, js: js}
	prevExp := map[int]*expEntry{}
	if prev != nil {
		o.restarts = prev.restarts + 1
		// A destination that already holds the old version whole keeps it:
		// each destination gets one version whole.
		for _, od := range prev.dests {
			if !od.done {
				prevExp[od.index] = od.exp
			}
		}
	}
	for i, key := range it.dstKeys {
		if prev == nil && js.resuming() && !js.job.Sync {
			// A copy skips only what the interrupted run itself finished,
			// from this very source version.
			if x, ok := js.journal.doneFrom(i, key, id); ok {
				exp, err := r.expected.add(ji, i, key, it.obj.Size)
				if err != nil {
					return err
				}
				r.expected.settle(exp, x.MD5, x.ETag)
				continue
			}
		}
		if prev != nil && prevExp[i] == nil {
			continue // whole there already, of the version listed then
		}
		od := &objDest{index: i, group: js.groups[i], store: js.dsts[i], ref: js.refs[i], key: key, left: len(ranges)}
		if ranges[0].Part > 0 {
			od.parts = make([]objstore.Part, len(ranges))
			u, err := r.reuseUpload(js, i, key, id)
			if err != nil {
				return err
			}
			if u != nil {
				od.uploadID = u.UploadID
				for _, rg := range ranges {
					if p, ok := u.Parts[rg.Part]; ok && p.Offset == rg.Offset && p.Size == rg.Length {
						od.parts[rg.Part-1] = p
					}
				}
			} else {
				uid, err := od.store.InitiateMultipart(r.ctx, key)
				if err != nil {
					return fmt.Errorf("start multipart upload of %s: %w", key, err)
				}
				od.uploadID = uid
				// Synced before any part is sent: an upload the store holds is
				// never missing from the journal.
				if err := js.journal.record(journalRecord{Type: "upload", Bucket: od.ref.URL, Dst: i, Key: key, UploadID: uid, Src: &id}, true); err != nil {
					r.abortDest(js, od)
					return err
				}
			}
			r.mu.Lock()
			r.open[od] = true
			r.mu.Unlock()
		}
		if od.exp = prevExp[i]; od.exp != nil {
			r.expected.resize(od.exp, it.obj.Size)
		} else {
			exp, err := r.expected.add(ji, i, key, it.obj.Size)
			if err != nil {
				return err
			}
			od.exp = exp
		}
		o.dests = append(o.dests, od)
	}
	o.destsLeft = len(o.dests)
	if len(o.dests) == 0 {
		// Every destination has it from the interrupted run. (Never a
		// restart: the chunk that reported the change had a destination
		// pending.)
		return nil
	}
	var reqs []chunk.Request
	var landed int64
	r.mu.Lock()
	for _, rg := range ranges {
		req := chunk.Request{ID: chunk.NewID(), Src: js.srcRef, SrcKey: it.obj.Key, SrcVersion: it.obj.Version,
			Offset: rg.Offset, Length: rg.Length, PartNumber: rg.Part}
		cs := &chunkState{obj: o, pending: map[string]bool{}} // the clock starts when a gateway accepts it
		for _, od := range o.dests {
			if rg.Part > 0 && od.parts[rg.Part-1].ETag != "" {
				od.left-- // landed before the interruption
				landed += rg.Length
				continue
			}
			req.Dests = append(req.Dests, chunk.Dest{Region: od.group, Store: od.ref, Key: od.key, UploadID: od.uploadID})
			cs.pending[od.group] = true
		}
		if len(req.Dests) == 0 {
			continue
		}
		cs.req = req
		r.chunks[req.ID] = cs
		reqs = append(reqs, req)
	}
	if prev == nil {
		r.outstanding++
		r.result.PeakInFlight = max(r.result.PeakInFlight, r.outstanding)
		r.prog.ObjectsTotal++
	}
	r.prog.BytesTotal += it.obj.Size*int64(len(o.dests)) - landed
	// Destinations whose every part landed before an interruption only
	// need their upload completed.
	for _, od := range o.dests {
		if od.left == 0 && od.uploadID != "" {
			r.complete(o, od)
		}
	}
	r.mu.Unlock()
	for _, req := range reqs {
		select {
		case r.dispatch <- req:
		case <-r.ctx.Done():
			return nil
		}
	}
	return nil
}
