package dataplane

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"path"
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
	outstanding  int // objects dispatched and not finished
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

	stores, err := r.openJobs(jobs)
	if err != nil {
		return nil, err
	}
	r.limitParts(stores)
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
			if err := r.startObject(ji, js, it, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// items yields a job's objects. A copy sends everything the listing names
// (on a resume, startObject skips what the interrupted run itself finished
// from the same source); only a sync compares with the destination.
func (r *run) items(js jobStores) iter.Seq2[item, error] {
	if !js.job.Sync {
		return copyItems(r.ctx, js.job, js.src)
	}
	return func(yield func(item, error) bool) {
		for op, err := range SyncOps(r.ctx, js.job.Src, js.job.Dsts[0], js.src, js.dsts[0], js.job.Delete) {
			if err != nil {
				yield(item{}, err)
				return
			}
			if op.Kind == "delete" {
				if err := js.dsts[0].Delete(r.ctx, op.DstKey); err != nil {
					yield(item{}, fmt.Errorf("sync --delete %s: %w", op.DstKey, err))
					return
				}
				r.mu.Lock()
				r.result.Deleted++
				r.mu.Unlock()
				continue
			}
			if !yield(item{obj: op.Src, dstKeys: []string{op.DstKey}}, nil) {
				return
			}
		}
	}
}

// reuseUpload returns the upload an interrupted run opened for this object
// at destination i if it was reading the same source (identity) and the
// store still has it. An upload of another source version is aborted.
func (r *run) reuseUpload(js jobStores, i int, key string, id srcID) (*journalUpload, error) {
	if !js.resuming() {
		return nil, nil
	}
	u := js.journal.upload(i, key)
	if u == nil {
		return nil, nil
	}
	if u.Src != id {
		r.d.log.Info("the source changed since the interrupted run: its upload is aborted, the object sent afresh", "key", key)
		return nil, r.dropUpload(js, u)
	}
	ups, err := js.dsts[i].ListMultipartUploads(r.ctx, key)
	if err != nil {
		return nil, fmt.Errorf("list open uploads of %s: %w", key, err)
	}
	for _, up := range ups {
		if up.Key == key && up.UploadID == u.UploadID {
			js.journal.reuse(u)
			return u, nil
		}
	}
	return nil, js.journal.dropped(u) // gone from the store (expired, aborted elsewhere)
}

// dropUpload aborts an upload the interrupted run opened and this one will
// not continue. One that cannot be aborted stays in the journal.
func (r *run) dropUpload(js jobStores, u *journalUpload) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	if err := js.dsts[u.Dst].AbortMultipart(ctx, u.Key, u.UploadID); err != nil && !errors.Is(err, objstore.ErrUploadNotFound) {
		return fmt.Errorf("abort the interrupted run's upload of %s: %w", u.Key, err)
	}
	return js.journal.dropped(u)
}

// dropJournals aborts every upload an interrupted run opened that this run
// did not continue, then deletes the journals. A journal naming an upload
// that could not be aborted is kept for `skyplane deprovision`.
func (r *run) dropJournals(ctx context.Context, stores []jobStores) error {
	var errs []error
	for _, js := range stores {
		kept := false
		for _, u := range js.journal.unreused() {
			if err := r.dropUpload(js, u); err != nil {
				r.d.log.Error("abandoned upload left open: `skyplane deprovision` retries", "key", u.Key, "upload", u.UploadID, "err", err)
				errs = append(errs, err)
				kept = true
			}
		}
		if kept {
			js.journal.close()
			continue
		}
		if err := js.journal.remove(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
		for _, od := range prev.dests {
			prevExp[od.index] = od.exp
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
			continue // the interrupted run finished it: a whole object of the version listed then
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
		return nil // every destination has it from the interrupted run
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

// dispatcher batches chunk requests and spreads them over the source
// gateways; a gateway with a full queue accepts part of a batch and the
// rest goes to the next one.
func (r *run) dispatcher() {
	all := r.d.clients("source")
	next := 0
	var batch []chunk.Request
	for {
		if len(batch) == 0 {
			batch = r.takeRetries(batch)
		}
		if len(batch) == 0 {
			select {
			case <-r.ctx.Done():
				return
			case req := <-r.dispatch:
				batch = append(batch, req)
			case <-r.retrySig:
				continue
			}
		}
	fill:
		for len(batch) < dispatchBatch {
			select {
			case req := <-r.dispatch:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		// Each live source gateway gets an equal share of the batch; what a
		// full queue refuses goes round again.
		backoff := 5 * time.Millisecond
		for len(batch) > 0 {
			srcs := r.alive(all)
			share := (len(batch) + len(srcs) - 1) / len(srcs)
			var rest []chunk.Request
			progressed := false
			for i := range srcs {
				lo := min(i*share, len(batch))
				hi := min(lo+share, len(batch))
				if lo == hi {
					break
				}
				part := batch[lo:hi]
				c := srcs[(next+i)%len(srcs)]
				n, err := c.PostChunks(r.ctx, part)
				if err != nil && r.ctx.Err() == nil {
					r.d.log.Warn("post chunk requests", "gateway", c.ID, "err", err)
				}
				if n > 0 {
					r.posted(c.ID, part[:n])
					progressed = true
				}
				rest = append(rest, part[n:]...)
			}
			next++
			batch = rest
			if len(batch) == 0 {
				break
			}
			if !progressed {
				select {
				case <-r.ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 200*time.Millisecond)
			}
		}
		batch = batch[:0]
	}
}

// alive is the gateways of list not lost (all of them if every one is:
// the transfer is failing then anyway).
func (r *run) alive(list []*gateway.Client) []*gateway.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*gateway.Client
	for _, c := range list {
		if !r.lost[c.ID] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return list
	}
	return out
}

// posted records which source gateway holds each chunk's current attempt.
func (r *run) posted(gw string, reqs []chunk.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for _, req := range reqs {
		if cs := r.chunks[req.ID]; cs != nil && cs.req.Attempt == req.Attempt {
			cs.src, cs.since = gw, now
		}
	}
	// A request posted to a gateway that was lost meanwhile is resent.
	if r.lost[gw] {
		for _, req := range reqs {
			if cs := r.chunks[req.ID]; cs != nil && cs.src == gw {
				r.retryLocked(cs, "gateway "+gw+" lost", false, true)
			}
		}
	}
}

func (r *run) takeRetries(batch []chunk.Request) []chunk.Request {
	r.retryMu.Lock()
	defer r.retryMu.Unlock()
	batch = append(batch, r.retries...)
	r.retries = r.retries[:0]
	return batch
}

func (r *run) retryLater(req chunk.Request) {
	delay := time.Duration(1<<min(req.Attempt, 6)) * 50 * time.Millisecond
	time.AfterFunc(delay, func() { r.retryNow(req) })
}

func (r *run) retryNow(req chunk.Request) {
	r.retryMu.Lock()
	r.retries = append(r.retries, req)
	r.retryMu.Unlock()
	select {
	case r.retrySig <- struct{}{}:
	default:
	}
}

// track long-polls one gateway's chunk status log.
func (r *run) track(c *gateway.Client) {
	var since int64
	failures := 0
	for r.ctx.Err() == nil {
		evs, err := c.Events(r.ctx, since, pollWait)
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			failures++
			if failures >= maxPollFailures {
				r.gatewayLost(c, err)
				return
			}
			time.Sleep(time.Duration(failures) * 100 * time.Millisecond)
			continue
		}
		failures = 0
		for _, e := range evs {
			r.handle(e)
			since = e.Seq + 1
		}
	}
}

func (r *run) handle(e gateway.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.chunks[e.Chunk]
	if cs == nil {
		return // finished already; a late duplicate
	}
	switch e.State {
	case gateway.StateComplete:
		// Only the current attempt counts: a superseded one may have read
		// another version of the source, or raced the attempt that replaced it.
		if e.Attempt != cs.req.Attempt || !cs.pending[e.Region] {
			return
		}
		delete(cs.pending, e.Region)
		if len(cs.pending) == 0 {
			delete(r.chunks, e.Chunk)
		}
		r.prog.BytesDone += cs.req.Length
		r.result.Bytes += cs.req.Length
		for _, od := range cs.obj.dests {
			if od.group != e.Region {
				continue
			}
			if od.uploadID != "" {
				sum, _ := hex.DecodeString(e.MD5)
				od.parts[cs.req.PartNumber-1] = objstore.Part{Number: cs.req.PartNumber, Offset: cs.req.Offset, Size: cs.req.Length, ETag: e.ETag, MD5: sum}
				// Journaled only once landed; synced in batches.
				if err := cs.obj.js.journal.record(journalRecord{Type: "part", Dst: od.index, Key: od.key, UploadID: od.uploadID,
					Part: cs.req.PartNumber, Offset: cs.req.Offset, Size: cs.req.Length, ETag: e.ETag, MD5: e.MD5}, false); err != nil {
					r.fail(err)
					return
				}
			} else {
				od.md5 = e.MD5
			}
			od.left--
			if od.left == 0 {
				if od.uploadID != "" {
					r.complete(cs.obj, od)
				} else {
					r.destDoneLocked(cs.obj, od)
				}
			}
		}
	case gateway.StateFailed:
		if e.Attempt >= 0 && e.Attempt != cs.req.Attempt {
			return // about an attempt already superseded
		}
		if e.Region != "" && !cs.pending[e.Region] {
			return
		}
		if e.Changed {
			r.restartLocked(cs.obj, e.Err)
			return
		}
		if !e.Retryable {
			r.fail(fmt.Errorf("transfer of %s failed on gateway %s: %s", cs.obj.srcKey, e.Gateway, e.Err))
			return
		}
		r.retryLocked(cs, fmt.Sprintf("gateway %s: %s", e.Gateway, e.Err), true, e.Transport)
	case gateway.StateSent:
		if e.Attempt == cs.req.Attempt && cs.pending[e.Region] {
			if cs.hops == nil {
				cs.hops = map[string]string{}
			}
			cs.hops[e.Region] = e.Hop
		}
	}
}

// retryLocked sends a chunk's pending destinations again, after a backoff
// for a reported failure (at once for a timeout or a lost gateway). A chunk
// out of attempts of either kind fails the transfer, naming the last reason.
func (r *run) retryLocked(cs *chunkState, reason string, backoff, transport bool) {
	if transport {
		cs.resends++
	} else {
		cs.failures++
	}
	if cs.failures >= maxAttempts || cs.resends >= maxResends {
		r.fail(fmt.Errorf("transfer of %s failed after %d attempts: %s", cs.obj.srcKey, cs.req.Attempt+1, reason))
		return
	}
	cs.req.Attempt++
	cs.src, cs.hops, cs.since = "", nil, time.Now()
	retry := cs.req
	retry.Dests = nil
	for _, dst := range cs.req.Dests {
		if cs.pending[dst.Region] {
			retry.Dests = append(retry.Dests, dst)
		}
	}
	r.prog.Retries++
	r.d.log.Info("retrying chunk", "key", cs.obj.srcKey, "part", cs.req.PartNumber, "attempt", cs.req.Attempt, "reason", reason)
	if backoff {
		r.retryLater(retry)
	} else {
		r.retryNow(retry)
	}
}

// gatewayLost takes a gateway that stopped answering out of the transfer
// and sends its unfinished chunks again through the survivors of its group.
func (r *run) gatewayLost(c *gateway.Client, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost[c.ID] {
		return
	}
	r.lost[c.ID] = true
	group := r.d.groupOf(c.ID)
	alive := 0
	for _, m := range r.d.groups[group] {
		if !r.lost[m.ID] {
			alive++
		}
	}
	r.d.log.Warn("gateway lost", "gateway", c.ID, "group", group, "survivors", alive, "err", err)
	if alive == 0 {
		r.fail(fmt.Errorf("every gateway of %s stopped answering (last: %s: %v)", group, c.ID, err))
		return
	}
	r.lostGateways++
	for _, cs := range r.chunks {
		on := cs.src == c.ID
		for region, hop := range cs.hops {
			on = on || cs.pending[region] && r.d.hopOwner[hop] == c.ID
		}
		if on {
			r.retryLocked(cs, "gateway "+c.ID+" lost", false, true)
		}
	}
}

// sweep resends chunks whose current attempt has not landed within the
// chunk timeout: a stalled link or a gateway that hangs without failing.
func (r *run) sweep(timeout time.Duration) {
	t := time.NewTicker(min(timeout/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		now := time.Now()
		for _, cs := range r.chunks {
			if !cs.since.IsZero() && now.Sub(cs.since) > timeout {
				r.retryLocked(cs, fmt.Sprintf("not done after %s", timeout), false, true)
			}
		}
		r.mu.Unlock()
	}
}

// complete finishes a multipart upload off the tracking path.
func (r *run) complete(o *objState, od *objDest) {
	r.completeWG.Add(1)
	go func() {
		defer r.completeWG.Done()
		select {
		case r.completeSem <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		defer func() { <-r.completeSem }()
		var err error
		for attempt := range maxAttempts {
			if err = od.store.CompleteMultipart(r.ctx, od.key, od.uploadID, od.parts); err == nil || !objstore.IsRetryable(err) {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if o.gone {
			return // restarted meanwhile: the restart aborted or overwrites it
		}
		if err != nil {
			r.fail(fmt.Errorf("complete multipart upload of %s: %w", od.key, err))
			return
		}
		delete(r.open, od)
		r.destDoneLocked(o, od)
	}()
}

// destDoneLocked: the object is whole at one destination. The journal
// learns it (with the source identity it was read from), so a resumed copy
// skips it only while the source is unchanged.
func (r *run) destDoneLocked(o *objState, od *objDest) {
	if o.gone {
		return
	}
	x := expected{MD5: od.md5}
	if od.uploadID != "" {
		x = expected{ETag: multipartETag(od.parts)}
	}
	r.expected.settle(od.exp, x.MD5, x.ETag)
	id := identity(o.it.obj)
	if err := o.js.journal.record(journalRecord{Type: "done", Dst: od.index, Key: od.key, UploadID: od.uploadID, Src: &id, Expected: x.checksum()}, false); err != nil {
		r.fail(err)
		return
	}
	o.destsLeft--
	if o.destsLeft > 0 {
		return
	}
	r.outstanding--
	r.prog.ObjectsDone++
	r.result.Objects++
	r.checkFinishedLocked()
}

func (r *run) checkFinishedLocked() {
	if r.listingDone && r.outstanding == 0 {
		select {
		case <-r.finished:
		default:
			close(r.finished)
		}
	}
}

// restartLocked starts an object again whose source was rewritten while its
// chunks were in flight (a gateway's pinned read failed): its chunks are
// forgotten, its uploads aborted, and it is sent again from the version the
// source holds now, so the destination gets one version whole. An object
// that keeps changing fails with objstore.ErrChanged.
func (r *run) restartLocked(o *objState, reason string) {
	if o.gone {
		return
	}
	o.gone = true
	for id, cs := range r.chunks {
		if cs.obj == o {
			delete(r.chunks, id)
		}
	}
	var open []*objDest
	for _, od := range o.dests {
		if r.open[od] {
			delete(r.open, od)
			open = append(open, od)
		}
	}
	if o.restarts+1 > maxRestarts {
		for _, od := range open {
			r.open[od] = true // abortOpen aborts them
		}
		r.fail(fmt.Errorf("%s: %w: rewritten %d times while being copied (%s); rerun once it is stable", o.srcKey, objstore.ErrChanged, o.restarts+1, reason))
		return
	}
	r.result.Restarted++
	r.d.log.Warn("source rewritten during the transfer: starting the object again", "key", o.srcKey, "reason", reason)
	r.completeWG.Add(1)
	go func() {
		defer r.completeWG.Done()
		for _, od := range open {
			r.abortDest(o.js, od)
		}
		obj, err := o.js.src.Head(r.ctx, o.srcKey)
		if err != nil {
			r.fail(fmt.Errorf("%s: %w, and reading it again failed: %w", o.srcKey, objstore.ErrChanged, err))
			return
		}
		it := o.it
		it.obj = obj
		if err := r.startObject(o.ji, o.js, it, o); err != nil {
			r.fail(err)
		}
	}()
}

// abortDest aborts an upload this run opened and tells the journal.
func (r *run) abortDest(js jobStores, od *objDest) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	if err := od.store.AbortMultipart(ctx, od.key, od.uploadID); err != nil && !errors.Is(err, objstore.ErrUploadNotFound) {
		r.d.log.Error("abort multipart upload", "key", od.key, "upload", od.uploadID, "err", err)
		return // stays in the journal for a resume or `skyplane deprovision`
	}
	if err := js.journal.record(journalRecord{Type: "abort", Dst: od.index, Key: od.key, UploadID: od.uploadID}, true); err != nil {
		r.fail(err)
	}
}

// sweepStale removes what gateways that died mid-write left at the
// destinations (local temp files), after success and failure alike.
func (r *run) sweepStale(ctx context.Context, stores []jobStores) {
	ctx = context.WithoutCancel(ctx)
	for _, js := range stores {
		for i, st := range js.dsts {
			prefix := destPrefix(js.job.Dsts[i].Key)
			if !js.job.Recursive && !js.job.Sync {
				prefix = destPrefix(path.Dir(js.job.Dsts[i].Key))
			}
			// Never the whole store (a copy into a file system's root).
			if sw, ok := st.(objstore.Sweeper); ok && prefix != "" && prefix != "./" {
				if err := sw.SweepStale(ctx, prefix); err != nil {
					r.d.log.Warn("sweep stale temporary files", "dst", js.job.Dsts[i], "err", err)
				}
			}
		}
	}
}

// abortOpen aborts every multipart upload the failed run left open, so no
// staged part lingers (or is billed) at the destination.
func (r *run) abortOpen() {
	r.mu.Lock()
	open := make([]*objDest, 0, len(r.open))
	for od := range r.open {
		open = append(open, od)
	}
	r.open = map[*objDest]bool{}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	for _, od := range open {
		if err := od.store.AbortMultipart(ctx, od.key, od.uploadID); err != nil {
			r.d.log.Error("abort multipart upload", "key", od.key, "upload", od.uploadID, "err", err)
		}
	}
}
