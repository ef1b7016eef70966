package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/bufpool"
	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/planner"
)

// gatewayAPI is what a run asks of a gateway: a *control.Client over the
// control API, or the client's own inProcess gateway. Dispatch, tracking,
// the chunk table, completion and verification are the same either way.
type gatewayAPI interface {
	PostChunks(ctx context.Context, reqs []chunk.Request) (int, error)
	Events(ctx context.Context, since int64, wait time.Duration) ([]control.Event, error)
	Status(ctx context.Context) (control.StatusReply, error)
	RegisterJobs(ctx context.Context, j control.JobRegistration) error
	EndRun(ctx context.Context, run string) error
}

// gatewayRef is one gateway of a dataplane as a run sees it.
type gatewayRef struct {
	ID string
	gatewayAPI
}

// onThisMachine says whether provider p runs the gateways of region on the
// client's own machine: the local provider's regions, not the regions a
// hosts inventory (or a cloud) places elsewhere.
func onThisMachine(p compute.Provider, region string) bool {
	if r, ok := p.(*compute.Routed); ok {
		p = r.ProviderOf(region)
	}
	return p != nil && p.Name() == "local"
}

// runsInProcess says whether a plan's transfer can skip gateways: every
// gateway would run on this machine, so there is no network between source
// and destination to compress, seal or cross, and the client reads and
// writes itself. in_process false (--gateways) keeps gateways, and so does a
// route hook (the tests' and the lab's links between gateways).
func runsInProcess(plan *planner.Plan, p compute.Provider, cfg config.Config) bool {
	if !cfg.InProcess || routeHook() != nil {
		return false
	}
	for _, g := range plan.Groups {
		if !onThisMachine(p, g.Region) {
			return false
		}
	}
	return true
}

// InProcessID names the client's own gateway in events and stats.
const InProcessID = "in-process"

// Tuning of the in-process path: as many store calls in flight as a
// gateway pair's readers and writers, and a request queue bounded in bytes
// as a gateway's is, so the chunk timeout measures progress.
const (
	inProcessWorkers    = 16
	inProcessQueueBytes = 512 << 20
)

// inProcess is a gateway that is the client itself: it takes chunk
// requests, reads each range from the source store, hashes it once, writes
// it to every destination with that checksum (the store verifies it) and
// reports the same events a gateway pair would. Nothing is framed, sealed or
// sent over a socket.
type inProcess struct {
	log      *slog.Logger
	verify   bool
	test     control.TestHooks
	maxChunk int64

	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	requests chan chunk.Request
	queued   atomic.Int64
	budget   *bufpool.Budget
	status   *control.StatusLog
	corrupt  atomic.Int64
	// lanes pace the frame-delay hook as a gateway pair's connections do:
	// one delayed chunk per connection at a time.
	lanes chan struct{}

	mu sync.Mutex
	// stores are the opened stores of the registered jobs, by the bucket
	// reference chunk requests name.
	stores map[chunk.Bucket]objstore.Store
	// newest is the newest attempt posted per chunk: an older one still
	// queued or running neither writes nor reports.
	newest map[chunk.ID]int

	chunksRead, chunksWritten, bytesWritten, writtenCRC32C atomic.Int64
}

func newInProcess(cfg config.Config, test control.TestHooks, log *slog.Logger) *inProcess {
	ctx, cancel := context.WithCancel(context.Background())
	budget := memoryBudget(cfg)
	p := &inProcess{
		log: log.With("gateway", InProcessID), verify: cfg.VerifyChecksums, test: test, maxChunk: budget,
		ctx: ctx, cancel: cancel, requests: make(chan chunk.Request, 4*dispatchBatch),
		budget: bufpool.NewBudget(budget), status: control.NewStatusLog(),
		stores: map[chunk.Bucket]objstore.Store{}, newest: map[chunk.ID]int{},
		lanes: make(chan struct{}, max(1, cfg.NumConnections)),
	}
	p.corrupt.Store(int64(test.CorruptFrames))
	for range inProcessWorkers {
		p.wg.Add(1)
		go func() { defer p.wg.Done(); p.worker() }()
	}
	return p
}

// stop ends the workers and waits for them.
func (p *inProcess) stop() {
	p.cancel()
	p.wg.Wait()
}

// useStores makes a run's opened stores available to the workers. A
// filtered store is unwrapped: the filter shapes listings, and reads must
// reach the store's pinned reads.
func (p *inProcess) useStores(stores []jobStores) {
	p.mu.Lock()
	defer p.mu.Unlock()
	unwrap := func(s objstore.Store) objstore.Store {
		if f, ok := s.(filteredStore); ok {
			return f.Store
		}
		return s
	}
	for _, js := range stores {
		p.stores[js.srcRef] = unwrap(js.src)
		for i, ref := range js.refs {
			p.stores[ref] = unwrap(js.dsts[i])
		}
	}
}

func (p *inProcess) store(ref chunk.Bucket) (objstore.Store, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s, ok := p.stores[ref]
	return s, ok
}

// PostChunks queues what fits, like a gateway's control API.
func (p *inProcess) PostChunks(_ context.Context, reqs []chunk.Request) (int, error) {
	for i, r := range reqs {
		if r.Length > p.maxChunk {
			return i, fmt.Errorf("chunk %s: %d bytes exceed the memory budget of %d: use smaller parts", r.ID, r.Length, p.maxChunk)
		}
		if q := p.queued.Load(); q > 0 && q+r.Length > inProcessQueueBytes {
			return i, nil
		}
		p.mu.Lock()
		p.newest[r.ID] = max(p.newest[r.ID], r.Attempt)
		p.mu.Unlock()
		select {
		case p.requests <- r:
			p.queued.Add(r.Length)
		default:
			return i, nil
		}
	}
	return len(reqs), nil
}

// Events long-polls the status log.
func (p *inProcess) Events(ctx context.Context, since int64, wait time.Duration) ([]control.Event, error) {
	return p.status.Since(ctx, since, wait), nil
}

// Status reports the counters a gateway would.
func (p *inProcess) Status(context.Context) (control.StatusReply, error) {
	return control.StatusReply{State: "running", Stats: control.Stats{
		ID: InProcessID, Region: "local", ChunksRead: p.chunksRead.Load(), ChunksWritten: p.chunksWritten.Load(), WrittenCRC32C: p.writtenCRC32C.Load(),
		RawBytesRecv: p.bytesWritten.Load(), QueuedRequests: len(p.requests),
	}}, nil
}

// RegisterJobs needs no scopes: no frame from elsewhere can reach the
// client's own writes.
func (p *inProcess) RegisterJobs(context.Context, control.JobRegistration) error { return nil }

// EndRun drops what is still queued: the run that asked for it is over.
func (p *inProcess) EndRun(context.Context, string) error {
	for {
		select {
		case r := <-p.requests:
			p.queued.Add(-r.Length)
		default:
			p.mu.Lock()
			clear(p.newest)
			p.mu.Unlock()
			return nil
		}
	}
}

func (p *inProcess) worker() {
	for {
		select {
		case <-p.ctx.Done():
			return
		case req := <-p.requests:
			p.queued.Add(-req.Length)
			p.move(req)
		}
	}
}

// current: no newer attempt of the chunk was posted.
func (p *inProcess) current(req chunk.Request) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	n, ok := p.newest[req.ID]
	return ok && n == req.Attempt
}

// move reads one chunk once and writes it to each of its destinations.
func (p *inProcess) move(req chunk.Request) {
	if !p.current(req) {
		return
	}
	if err := p.budget.Acquire(p.ctx, req.Length); err != nil {
		return
	}
	defer p.budget.Release(req.Length)
	buf := bufpool.Get(int(req.Length))
	defer bufpool.Put(buf)
	data := buf[:req.Length]
	if err := p.read(req, data); err != nil {
		p.status.Add(control.Event{Chunk: req.ID, Attempt: req.Attempt, State: control.StateFailed, Gateway: InProcessID,
			Err: fmt.Sprintf("read %s [%d,+%d): %v", req.SrcKey, req.Offset, req.Length, err), Retryable: objstore.ChunkRetryable(err),
			Changed: errors.Is(err, objstore.ErrChanged)})
		return
	}
	p.chunksRead.Add(1)
	var c objstore.Sums // empty: the user turned verify_checksums off
	if p.verify {
		c = objstore.HashChunk(data, req.Checksum == chunk.ChecksumCRC32C)
	}
	// The tests' frame faults, where frames would be: after the checksum,
	// before the store that verifies it.
	if len(data) > 0 && p.corrupt.Load() > 0 && p.corrupt.Add(-1) >= 0 {
		data[len(data)/2] ^= 0xff
		defer func() { data[len(data)/2] ^= 0xff }()
	}
	if d := p.test.FrameDelayMS; d > 0 && !p.delay(time.Duration(d)*time.Millisecond) {
		return
	}
	for _, d := range req.Dests {
		if !p.current(req) {
			return // superseded while it was read or written
		}
		p.write(req, d, data, c)
	}
}

// delay waits d on one of the lanes; false when stopping.
func (p *inProcess) delay(d time.Duration) bool {
	select {
	case p.lanes <- struct{}{}:
	case <-p.ctx.Done():
		return false
	}
	defer func() { <-p.lanes }()
	select {
	case <-time.After(d):
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *inProcess) read(req chunk.Request, data []byte) error {
	if req.Length == 0 {
		return nil
	}
	src, ok := p.store(req.Src)
	if !ok {
		return fmt.Errorf("no open store for %s", req.Src.URL)
	}
	rc, err := objstore.ReadPinned(p.ctx, src, req.SrcKey, req.SrcVersion, req.Offset, req.Length)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.ReadFull(rc, data); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return fmt.Errorf("object is shorter than listed (changed during the transfer?): %w", err)
		}
		return objstore.Retryable(err)
	}
	return nil
}

// write lands one chunk at one destination: a whole object (atomic put) or
// one part; the store verifies the checksum through the write.
func (p *inProcess) write(req chunk.Request, d chunk.Dest, data []byte, c objstore.Sums) {
	size := int64(len(data))
	var etag string
	sink, ok := p.store(d.Bucket)
	var err error
	if !ok {
		err = fmt.Errorf("no open store for %s", d.Bucket.URL)
	} else {
		etag, err = c.Land(p.ctx, sink, d.Key, d.UploadID, objstore.Part{Number: req.PartNumber, Offset: req.Offset}, data)
	}
	if err != nil {
		if p.ctx.Err() == nil {
			p.status.Add(control.Event{Chunk: req.ID, Attempt: req.Attempt, State: control.StateFailed, Group: d.Group, Gateway: InProcessID,
				Err: fmt.Sprintf("write %s: %v", d.Key, err), Retryable: objstore.ChunkRetryable(err)})
		}
		return
	}
	p.chunksWritten.Add(1)
	p.bytesWritten.Add(size)
	if c.UseCRC32C {
		p.writtenCRC32C.Add(1)
	}
	p.status.Add(control.Event{Chunk: req.ID, Attempt: req.Attempt, State: control.StateComplete, Group: d.Group, Gateway: InProcessID,
		ETag: etag, MD5: c.MD5Hex(), CRC32C: c.CRC32CHex(), Bytes: size})
}

// provisionInProcess makes the client the plan's one gateway: it takes the
// source group's requests and lands every destination group's chunks.
func (d *Dataplane) provisionInProcess() {
	d.log.Info("copying in process: no network between source and destination")
	d.local = newInProcess(d.opts.Config, d.opts.Test, d.log)
	d.groups = map[string][]*gatewayRef{d.plan.Source().Key: {{ID: InProcessID, gatewayAPI: d.local}}}
	d.hopOwner = map[string]string{}
	d.provisioned = true
}

// InProcess says whether the dataplane copies inside the client, without
// gateways (decided by the plan and the provider; see runsInProcess).
func (d *Dataplane) InProcess() bool {
	return runsInProcess(d.plan, d.opts.Provider, d.opts.Config)
}
