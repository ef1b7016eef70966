package dataplane

import (
	"context"
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
	Stats        []gateway.Stats // per gateway, at the end of the transfer

	// Failed are objects a destination cannot hold, left out (Run then
	// returns ErrObjectsFailed with this Result).
	Failed []Failure
}

// objDest is one object at one destination.
type objDest struct {
	group    string
	store    objstore.Store
	ref      chunk.Store
	key      string
	uploadID string
	parts    []objstore.Part
	left     int // chunks not yet landed
}

type objState struct {
	srcKey    string
	size      int64
	dests     []*objDest
	destsLeft int
	journal   *journal
	dstIndex  map[*objDest]int // destination index of each dest (journal records)
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
		if stores[i].journal, err = openJournal(d.opts.JournalDir, stores[i].job); err != nil {
			return nil, err
		}
		if stores[i].resuming() {
			d.log.Info("resuming an interrupted transfer", "job", stores[i].job.Src, "open uploads", len(stores[i].journal.uploads))
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
		err := r.produce(stores)
		r.mu.Lock()
		r.listingDone = true
		r.prog.ListingDone = true
		r.checkFinishedLocked()
		r.mu.Unlock()
		if err != nil {
			r.cancel(err)
		}
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
				js.journal.close()
			}
			return nil, fmt.Errorf("%w (rerun the same command to resume; `skyplane deprovision` aborts what it kept)", runErr)
		}
		r.abortOpen()
		for _, js := range stores {
			js.journal.remove()
		}
		return nil, runErr
	}
	if onProgress != nil {
		onProgress(r.snapshot())
	}
	if err := r.verify(ctx, stores); err != nil {
		return nil, err
	}
	for _, js := range stores {
		js.journal.remove()
	}
	res := r.result
	res.Retries = r.prog.Retries
	res.GatewaysLost = r.lostGateways
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
		js.src, js.dsts = filterJobStores(job, js.src, js.dsts)
		out = append(out, js)
	}
	return out, nil
}

// produce streams every job's objects into dispatch.
func (r *run) produce(stores []jobStores) error {
	for ji, js := range stores {
		for it, err := range r.checkKeys(js, r.items(js)) {
			if err != nil {
				return err
			}
			if err := r.startObject(ji, js, it); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *run) items(js jobStores) iter.Seq2[item, error] {
	if js.resuming() && !js.job.Sync && len(js.dsts) == 1 {
		return r.countResumed(js, r.resumeItems)
	}
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

// resumeItems yields what an interrupted copy has left to do: objects the
// destination lacks, holds at another size, or holds older than the source
// (whole objects are atomic, so one present at the right size landed).
func (r *run) resumeItems(js jobStores) iter.Seq2[item, error] {
	return func(yield func(item, error) bool) {
		if !js.job.Recursive {
			for it, err := range copyItems(r.ctx, js.job, js.src) {
				if err != nil {
					yield(item{}, err)
					return
				}
				if o, err := js.dsts[0].Head(r.ctx, it.dstKeys[0]); err == nil && o.Size == it.obj.Size &&
					!it.obj.ModTime.Truncate(time.Second).After(o.ModTime) {
					continue
				}
				yield(it, nil)
			}
			return
		}
		for op, err := range SyncOps(r.ctx, js.job.Src, js.job.Dsts[0], js.src, js.dsts[0], false) {
			if err != nil {
				yield(item{}, err)
				return
			}
			if !yield(item{obj: op.Src, dstKeys: []string{op.DstKey}}, nil) {
				return
			}
		}
	}
}

// reuseUpload returns the upload an interrupted run opened for this object
// at destination i, if the journal has it and the store still does.
func (r *run) reuseUpload(js jobStores, i int, key string, size int64) *journalUpload {
	if !js.resuming() {
		return nil
	}
	u := js.journal.upload(i, key, size)
	if u == nil {
		return nil
	}
	ups, err := js.dsts[i].ListMultipartUploads(r.ctx, key)
	if err != nil {
		return nil
	}
	for _, up := range ups {
		if up.Key == key && up.UploadID == u.UploadID {
			return u
		}
	}
	return nil
}

// startObject opens multipart uploads if the object is striped, registers
// its chunks and hands them to the dispatcher (blocking while gateways are
// full: that is the backpressure that keeps listings from running ahead).
func (r *run) startObject(ji int, js jobStores, it item) error {
	ranges := chunk.Split(it.obj.Size, r.params)
	if ranges[0].Length > wire.MaxChunk {
		return fmt.Errorf("%s is %d bytes: a single chunk carries at most %d; turn multipart on (--multipart, or multipart_enabled true) with multipart_chunk_size_mb ≤ %d", it.obj.Key, it.obj.Size, int64(wire.MaxChunk), wire.MaxChunk>>20)
	}
	o := &objState{srcKey: it.obj.Key, size: it.obj.Size, destsLeft: len(it.dstKeys), dstIndex: map[*objDest]int{}}
	for i, key := range it.dstKeys {
		od := &objDest{group: js.groups[i], store: js.dsts[i], ref: js.refs[i], key: key, left: len(ranges)}
		if ranges[0].Part > 0 {
			od.parts = make([]objstore.Part, len(ranges))
			if u := r.reuseUpload(js, i, key, it.obj.Size); u != nil {
				od.uploadID = u.UploadID
				for _, rg := range ranges {
					if p, ok := u.Parts[rg.Part]; ok && p.Offset == rg.Offset && p.Size == rg.Length {
						od.parts[rg.Part-1] = p
					}
				}
			} else {
				id, err := od.store.InitiateMultipart(r.ctx, key)
				if err != nil {
					return fmt.Errorf("start multipart upload of %s: %w", key, err)
				}
				od.uploadID = id
				js.journal.record(journalRecord{Type: "upload", Bucket: od.ref.URL, Dst: i, Key: key, UploadID: id, Size: it.obj.Size})
			}
			r.mu.Lock()
			r.open[od] = true
			r.mu.Unlock()
		}
		o.dests = append(o.dests, od)
		o.dstIndex[od] = i
		if err := r.expected.add(ji, i, key, it.obj.Size); err != nil {
			return err
		}
	}
	var reqs []chunk.Request
	var landed int64
	r.mu.Lock()
	o.journal = js.journal
	for _, rg := range ranges {
		req := chunk.Request{ID: chunk.NewID(), Src: js.srcRef, SrcKey: it.obj.Key, Offset: rg.Offset, Length: rg.Length, PartNumber: rg.Part}
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
	r.outstanding++
	r.result.PeakInFlight = max(r.result.PeakInFlight, r.outstanding)
	r.prog.ObjectsTotal++
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
		if !cs.pending[e.Region] {
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
				od.parts[cs.req.PartNumber-1] = objstore.Part{Number: cs.req.PartNumber, Offset: cs.req.Offset, Size: cs.req.Length, ETag: e.ETag}
				cs.obj.journal.record(journalRecord{Type: "part", Dst: cs.obj.dstIndex[od], Key: od.key, UploadID: od.uploadID,
					Part: cs.req.PartNumber, Offset: cs.req.Offset, Size: cs.req.Length, ETag: e.ETag})
			}
			od.left--
			if od.left == 0 {
				if od.uploadID != "" {
					r.complete(cs.obj, od)
				} else {
					r.destDoneLocked(cs.obj)
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
		if err != nil {
			r.fail(fmt.Errorf("complete multipart upload of %s: %w", od.key, err))
			return
		}
		r.mu.Lock()
		delete(r.open, od)
		r.destDoneLocked(o)
		r.mu.Unlock()
	}()
}

func (r *run) destDoneLocked(o *objState) {
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
