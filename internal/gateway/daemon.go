package gateway

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/bufpool"
	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/wire"
)

// Defaults for a program that leaves them unset.
const (
	defaultReaders      = 8
	defaultWriters      = 8
	defaultMemoryBudget = 128 << 20
	requestQueueLen     = 1024
	// requestQueueBytes bounds the chunk bytes waiting in the request queue
	// (beyond the first request), so a queued chunk starts within about
	// this much data's transfer time and chunk timeouts stay meaningful.
	requestQueueBytes = 512 << 20
	maxErrors         = 100
	// defaultMaxConnections bounds inbound data connections (a program may
	// set its own): every source gateway's connections fit many times.
	defaultMaxConnections = 512
	// defaultIdleTimeout: a data connection that delivers nothing for this
	// long is closed.
	defaultIdleTimeout = 5 * time.Minute
	// handshakeTimeout bounds TLS and wire handshakes, and how long a
	// connection may wait for the program before it is installed.
	handshakeTimeout = 10 * time.Second
)

// Gateway is one running gateway.
type Gateway struct {
	boot      control.Boot
	storeBase objstore.Options // credentials and emulators for every store
	log       *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	dataLn net.Listener
	ctrlLn net.Listener
	http   *http.Server

	progOnce             sync.Once
	progSet              chan struct{} // closed once a program is installed
	prog                 control.Program
	tlsClient, tlsServer *tls.Config     // set when the program asks for TLS
	sinks                map[string]bool // region tags written here
	storesMu             sync.Mutex
	stores               map[chunk.Bucket]objstore.Store // opened on first use
	requests             chan chunk.Request
	// queuedBytes is the chunk bytes in requests.
	queuedBytes atomic.Int64
	sendQ       map[string]chan *outFrame
	writeQ      chan *inFrame
	budget      *bufpool.Budget
	jobs        registry
	// inbound counts open data connections, against the connection limit.
	inbound atomic.Int64

	status  *control.StatusLog
	errMu   sync.Mutex
	errs    []string
	stats   counters
	corrupt atomic.Int64

	shutdownOnce sync.Once
	stopped      chan struct{}
	// lastControl is when the last authenticated control request arrived
	// (unix ns), what the idle watchdog measures.
	lastControl atomic.Int64
}

type counters struct {
	wireSent, wireRecv, rawSent, rawRecv       atomic.Int64
	framesSent, framesRecv, framesRejected     atomic.Int64
	chunksRead, chunksWritten, connectionsUsed atomic.Int64
	writtenCRC32C                              atomic.Int64
	connectionsRefused, framesOutsideJobs      atomic.Int64
	framesStale, requestsDropped               atomic.Int64
}

// Main runs a gateway from a boot file until it is shut down. It prints one
// control.Ready line on stdout once listening. A non-empty cpuProfileDir receives a
// CPU profile <dir>/<id>.cpu.prof (a debugging aid for performance work).
// stores carries what the command knows of store credentials and emulators
// (objstore.OptionsFromEnv): every store the gateway opens starts from it.
func Main(ctx context.Context, bootPath string, stdout io.Writer, stdin io.Reader, cpuProfileDir string, stores objstore.Options) error {
	b, err := os.ReadFile(bootPath)
	if err != nil {
		return fmt.Errorf("read gateway boot file: %w", err)
	}
	// The boot file holds the secret and the key: gone as soon as it is read.
	_ = os.Remove(bootPath)
	var boot control.Boot
	if err := json.Unmarshal(b, &boot); err != nil {
		return fmt.Errorf("parse gateway boot file %s: %w", bootPath, err)
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cpuProfileDir != "" {
		if f, err := os.Create(filepath.Join(cpuProfileDir, boot.ID+".cpu.prof")); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer func() { pprof.StopCPUProfile(); f.Close() }()
			}
		}
	}
	g, err := StartWith(ctx, boot, slog.Default(), boot.Stores.Over(stores))
	if err != nil {
		return err
	}
	ready, _ := json.Marshal(g.Ready())
	if _, err := fmt.Fprintf(stdout, "%s\n", ready); err != nil {
		g.Shutdown()
		return err
	}
	if boot.ExitOnStdinEOF && stdin != nil {
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			g.log.Info("parent went away; shutting down")
			g.Shutdown()
		}()
	}
	go func() {
		<-ctx.Done()
		g.Shutdown()
	}()
	g.Wait()
	return nil
}

// Start listens on the boot addresses and serves the control API.
func Start(ctx context.Context, boot control.Boot, log *slog.Logger) (*Gateway, error) {
	return StartWith(ctx, boot, log, objstore.Options{})
}

// StartWith is Start with the base options every store is opened with
// (credentials, emulators); each chunk's bucket reference adds its own.
func StartWith(ctx context.Context, boot control.Boot, log *slog.Logger, stores objstore.Options) (*Gateway, error) {
	if boot.Secret == "" {
		return nil, errors.New("gateway boot: empty control secret")
	}
	// Every data connection is authenticated with the key: a gateway never
	// runs without one.
	if len(boot.Key) != wire.KeySize {
		return nil, fmt.Errorf("gateway boot: the dataplane key is %d bytes, want %d: provision the gateway with its dataplane's key", len(boot.Key), wire.KeySize)
	}
	g := &Gateway{
		boot:      boot,
		storeBase: stores,
		log:       log.With("gateway", boot.ID),
		progSet:   make(chan struct{}),
		status:    control.NewStatusLog(),
		stopped:   make(chan struct{}),
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	var err error
	if g.dataLn, err = net.Listen("tcp", orLocal(boot.DataAddr)); err != nil {
		return nil, fmt.Errorf("gateway %s: listen for data on %s: %w", boot.ID, boot.DataAddr, err)
	}
	if g.ctrlLn, err = net.Listen("tcp", orLocal(boot.ControlAddr)); err != nil {
		g.dataLn.Close()
		return nil, fmt.Errorf("gateway %s: listen for control on %s: %w", boot.ID, boot.ControlAddr, err)
	}
	g.http = &http.Server{Handler: g.routes(), ReadHeaderTimeout: 10 * time.Second}
	g.wg.Add(2)
	go func() { defer g.wg.Done(); _ = g.http.Serve(g.ctrlLn) }()
	go func() { defer g.wg.Done(); g.acceptLoop() }()
	g.watchIdle(time.Duration(boot.IdleShutdownMS) * time.Millisecond)
	g.log.Info("gateway listening", "control", g.ctrlLn.Addr().String(), "data", g.dataLn.Addr().String())
	return g, nil
}

func orLocal(addr string) string {
	if addr == "" {
		return "127.0.0.1:0"
	}
	return addr
}

// control.Ready describes where this gateway listens.
func (g *Gateway) Ready() control.Ready {
	return control.Ready{ID: g.boot.ID, PID: os.Getpid(), Control: g.ctrlLn.Addr().String(), Data: g.dataLn.Addr().String()}
}

// Wait blocks until the gateway has shut down.
func (g *Gateway) Wait() { <-g.stopped }

// Shutdown stops every operator, writes the stats file and closes listeners.
func (g *Gateway) Shutdown() {
	g.shutdownOnce.Do(func() {
		g.cancel()
		_ = g.dataLn.Close()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = g.http.Shutdown(sctx)
		cancel()
		if g.boot.StatsFile != "" {
			if b, err := json.MarshalIndent(g.Stats(), "", "  "); err == nil {
				_ = os.WriteFile(g.boot.StatsFile, b, 0o600)
			}
		}
		g.log.Info("gateway stopped", "stats", g.Stats())
		close(g.stopped)
	})
}

// control.Stats snapshots the counters.
func (g *Gateway) Stats() control.Stats {
	s := control.Stats{
		ID: g.boot.ID, Region: g.boot.Region,
		WireBytesSent: g.stats.wireSent.Load(), WireBytesRecv: g.stats.wireRecv.Load(),
		RawBytesSent: g.stats.rawSent.Load(), RawBytesRecv: g.stats.rawRecv.Load(),
		FramesSent: g.stats.framesSent.Load(), FramesRecv: g.stats.framesRecv.Load(),
		FramesRejected: g.stats.framesRejected.Load(),
		ChunksRead:     g.stats.chunksRead.Load(), ChunksWritten: g.stats.chunksWritten.Load(), WrittenCRC32C: g.stats.writtenCRC32C.Load(),
		ConnectionsUsed:    g.stats.connectionsUsed.Load(),
		ConnectionsRefused: g.stats.connectionsRefused.Load(),
		FramesOutsideJobs:  g.stats.framesOutsideJobs.Load(),
		FramesStale:        g.stats.framesStale.Load(),
		RequestsDropped:    g.stats.requestsDropped.Load(),
		StoreRetries:       objstore.Retries(),
		CPUSeconds:         processCPUSeconds(),
	}
	if g.requests != nil {
		s.QueuedRequests = len(g.requests)
	}
	return s
}

func (g *Gateway) recordError(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	g.log.Error(msg)
	g.errMu.Lock()
	if len(g.errs) < maxErrors {
		g.errs = append(g.errs, msg)
	}
	g.errMu.Unlock()
}

// install opens the program's stores and starts its operators. A gateway
// runs one program for its whole life.
func (g *Gateway) install(p control.Program) error {
	// Validate everything before the program is committed: a rejected
	// program must leave the gateway free to take a good one.
	if p.NumConnections <= 0 {
		return fmt.Errorf("program: num_connections must be ≥ 1, got %d", p.NumConnections)
	}
	for region, hops := range p.Routes {
		if len(hops) == 0 {
			return fmt.Errorf("program: route to %s has no next hop", region)
		}
	}
	if p.TLS {
		if _, _, err := tlsConfigs(g.boot.TLSCert, g.boot.TLSKey); err != nil {
			return fmt.Errorf("program: %w", err)
		}
	}
	if p.Readers <= 0 {
		p.Readers = defaultReaders
	}
	if p.Writers <= 0 {
		p.Writers = defaultWriters
	}
	if p.MemoryBudget <= 0 {
		p.MemoryBudget = defaultMemoryBudget
	}
	if p.MaxConnections <= 0 {
		p.MaxConnections = defaultMaxConnections
	}
	if p.IdleTimeoutMS <= 0 {
		p.IdleTimeoutMS = int(defaultIdleTimeout / time.Millisecond)
	}
	var err error
	installed := false
	g.progOnce.Do(func() {
		installed = true
		err = g.installOnce(p)
	})
	if !installed {
		return errors.New("program already installed")
	}
	return err
}

func (g *Gateway) installOnce(p control.Program) error {
	if p.TLS {
		var err error
		if g.tlsClient, g.tlsServer, err = tlsConfigs(g.boot.TLSCert, g.boot.TLSKey); err != nil {
			return err
		}
	}
	g.sinks = map[string]bool{}
	for _, region := range p.Sinks {
		g.sinks[region] = true
	}
	g.prog = p
	g.budget = bufpool.NewBudget(p.MemoryBudget)
	g.corrupt.Store(int64(p.Test.CorruptFrames))
	g.sendQ = map[string]chan *outFrame{}
	for region, hops := range p.Routes {
		q := make(chan *outFrame, p.NumConnections)
		g.sendQ[region] = q
		for _, addr := range hops {
			for i := range p.NumConnections {
				g.wg.Add(1)
				go func() { defer g.wg.Done(); g.sender(region, addr, i, q) }()
			}
		}
	}
	if len(g.sinks) > 0 {
		g.writeQ = make(chan *inFrame, 2*p.Writers)
		for range p.Writers {
			g.wg.Add(1)
			go func() { defer g.wg.Done(); g.writer() }()
		}
	}
	if p.Source {
		g.requests = make(chan chunk.Request, requestQueueLen)
		for range p.Readers {
			g.wg.Add(1)
			go func() { defer g.wg.Done(); g.reader() }()
		}
	}
	close(g.progSet)
	g.log.Info("program installed", "source", p.Source, "sinks", len(p.Sinks), "routes", len(p.Routes), "connections", p.NumConnections)
	return nil
}

// enqueue accepts as many requests as the queue has room for.
func (g *Gateway) enqueue(reqs []chunk.Request) (int, error) {
	select {
	case <-g.progSet:
	default:
		return 0, errors.New("no program installed yet")
	}
	if g.requests == nil {
		return 0, errors.New("this gateway has no source store: chunk requests go to source gateways")
	}
	for i, r := range reqs {
		if len(r.Dests) == 0 || r.Length < 0 || r.Length > wire.MaxChunk {
			return i, fmt.Errorf("chunk %s: no destination, or length %d outside [0, %d]", r.ID, r.Length, int64(wire.MaxChunk))
		}
		// Receivers refuse frames beyond their memory budget (the same
		// for every gateway of a dataplane): say so here, not by failing.
		if r.Length > g.prog.MemoryBudget {
			return i, fmt.Errorf("chunk %s: %d bytes exceed the gateways' memory budget of %d: use smaller parts", r.ID, r.Length, g.prog.MemoryBudget)
		}
		for _, d := range r.Dests {
			if _, ok := g.sendQ[d.Group]; !ok {
				return i, fmt.Errorf("chunk %s: no route to %s", r.ID, d.Group)
			}
		}
		if q := g.queuedBytes.Load(); q > 0 && q+r.Length > requestQueueBytes {
			return i, nil
		}
		select {
		case g.requests <- r:
			g.queuedBytes.Add(r.Length)
		default:
			return i, nil
		}
	}
	return len(reqs), nil
}

func (g *Gateway) event(e control.Event) {
	e.Gateway = g.boot.ID
	g.status.Add(e)
}

// store opens (once) the bucket a request names.
func (g *Gateway) store(ref chunk.Bucket) (objstore.Store, error) {
	g.storesMu.Lock()
	defer g.storesMu.Unlock()
	if st, ok := g.stores[ref]; ok {
		return st, nil
	}
	loc, err := objstore.ParseURL(ref.URL)
	if err != nil {
		return nil, err
	}
	opts := g.storeBase
	opts.Endpoint, opts.RequesterPays, opts.NoFsync = ref.Endpoint, ref.RequesterPays, ref.NoFsync
	st, err := objstore.Open(g.ctx, loc, opts)
	if err != nil {
		return nil, err
	}
	if g.stores == nil {
		g.stores = map[chunk.Bucket]objstore.Store{}
	}
	g.stores[ref] = st
	return st, nil
}
