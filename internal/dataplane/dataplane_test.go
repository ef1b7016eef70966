package dataplane

import (
	"context"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/gateway"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/local"
	"github.com/skyplane-project/skyplane-go/internal/planner"
)

// inproc runs real gateways (real TCP, real operators) as goroutines of
// the test process, so the race detector sees client and gateways at once.
type inproc struct {
	mu  sync.Mutex
	gws []*gateway.Gateway
}

func (p *inproc) Name() string { return "inproc" }

func (p *inproc) Provision(ctx context.Context, specs []compute.Spec, boot compute.Shared) ([]compute.Instance, error) {
	var out []compute.Instance
	for _, s := range specs {
		g, err := gateway.Start(ctx, control.Boot{ID: s.ID, Region: s.Region, Secret: boot.Secret, Key: boot.Key, TLSCert: boot.TLSCert, TLSKey: boot.TLSKey,
			StatsFile: filepath.Join(boot.Dir, s.ID+".stats.json")}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			return nil, err
		}
		p.mu.Lock()
		p.gws = append(p.gws, g)
		p.mu.Unlock()
		r := g.Ready()
		out = append(out, compute.Instance{ID: s.ID, Region: s.Region, Control: r.Control, Data: r.Data})
	}
	return out, nil
}

func (p *inproc) Deprovision(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, g := range p.gws {
		g.Shutdown()
	}
	p.gws = nil
	return nil
}

// gatedStore holds its listing after the first `after` entries until
// release is closed; everything else is the local store.
type gatedStore struct {
	*local.Store
	after   int
	release chan struct{}
}

func (g *gatedStore) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		n := 0
		for o, err := range g.Store.List(ctx, prefix) {
			if n == g.after {
				select {
				case <-g.release:
				case <-ctx.Done():
					return
				}
			}
			n++
			if !yield(o, err) {
				return
			}
		}
	}
}

// restoreLocal puts the real local backend back after a test swapped it.
func restoreLocal() {
	objstore.Register(objstore.SchemeLocal, func(context.Context, objstore.Location, objstore.Options) (objstore.Store, error) {
		return local.New("/"), nil
	})
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig() config.Config {
	cfg := config.Default()
	cfg.NumConnections = 4
	cfg.MultipartMinThresholdMB = 1
	cfg.MultipartChunkSizeMB = 1
	return cfg
}

func newTestDataplane(t *testing.T, n int, dsts int) *Dataplane {
	t.Helper()
	var regions []string
	for range dsts {
		regions = append(regions, "local:dst")
	}
	plan, err := planner.Direct("local:src", regions, n)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(plan, Options{Config: testConfig(), Provider: &inproc{}, Dir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Deprovision(context.Background()) })
	return d
}

func loc(t *testing.T, p string) objstore.Location {
	t.Helper()
	l, err := objstore.ParseURL(p)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func writeTree(t *testing.T, root string, n int, size func(i int) int) map[string]string {
	t.Helper()
	files := map[string]string{}
	for i := range n {
		rel := fmt.Sprintf("d%d/f%03d", i%7, i)
		unit := fmt.Sprintf("%d,", i)
		content := strings.Repeat(unit, size(i)/len(unit)+1)[:size(i)]
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		files[rel] = content
	}
	return files
}

func checkTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, want := range files {
		got, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil || string(got) != want {
			t.Errorf("%s: %d bytes, %v (want %d bytes)", rel, len(got), err, len(want))
		}
	}
}

// TestListingStreamsIntoDispatch: with the source listing held after 5
// entries, those 5 objects are already moving (bytes landed, listing not
// done); once released, the rest follows.
func TestListingStreamsIntoDispatch(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	files := writeTree(t, src, 40, func(i int) int { return 1000 + i })
	gate := &gatedStore{Store: local.New("/"), after: 5, release: make(chan struct{})}
	objstore.Register(objstore.SchemeLocal, func(context.Context, objstore.Location, objstore.Options) (objstore.Store, error) { return gate, nil })
	t.Cleanup(restoreLocal)
	d := newTestDataplane(t, 1, 1)
	var once sync.Once
	var early Progress
	progress := func(p Progress) {
		if p.BytesDone > 0 && !p.ListingDone {
			once.Do(func() { early = p; close(gate.release) })
		}
	}
	go func() {
		// Never hang the test: release after a while regardless.
		time.Sleep(30 * time.Second)
		once.Do(func() { close(gate.release) })
	}()
	res, err := d.Run(context.Background(), resolved(d, Job{Src: loc(t, src), Dsts: []objstore.Location{loc(t, dst)}, Recursive: true}), progress)
	if err != nil {
		t.Fatal(err)
	}
	if early.BytesDone == 0 || early.ObjectsTotal > 5 {
		t.Errorf("no progress while the listing was held (first early snapshot %+v)", early)
	}
	if res.Objects != 40 {
		t.Errorf("objects = %d", res.Objects)
	}
	checkTree(t, dst, files)
}

// TestBroadcastReadsOnce: two destinations, one read of each source chunk.
func TestBroadcastReadsOnce(t *testing.T) {
	src, dstA, dstB := t.TempDir(), t.TempDir(), t.TempDir()
	files := writeTree(t, src, 12, func(i int) int { return i * 300_000 }) // some striped (> 1 MiB)
	d := newTestDataplane(t, 1, 2)
	res, err := d.Run(context.Background(), resolved(d, Job{Src: loc(t, src), Dsts: []objstore.Location{loc(t, dstA), loc(t, dstB)}, Recursive: true}), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dstA, files)
	checkTree(t, dstB, files)
	var raw int64
	for _, c := range files {
		raw += int64(len(c))
	}
	if res.Bytes != 2*raw || res.Objects != 12 {
		t.Errorf("result %+v, want %d bytes over 12 objects", res, 2*raw)
	}
	var read, sent int64
	for _, s := range res.Stats {
		if strings.HasPrefix(s.ID, "src") {
			read += s.ChunksRead
			sent += s.FramesSent
		}
	}
	if sent != 2*read {
		t.Errorf("source read %d chunks and sent %d frames: want each chunk read once, sent twice", read, sent)
	}
}

// TestCorruptionRetriedUnderRace: corrupted frames are rejected and resent,
// with several gateways per region.
func TestCorruptionRetriedUnderRace(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	files := writeTree(t, src, 30, func(i int) int { return 50_000 + i*100_000 })
	plan, _ := planner.Direct("local:src", []string{"local:dst"}, 2)
	d, err := New(plan, Options{Config: testConfig(), Provider: &inproc{}, Dir: t.TempDir(), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Test: control.TestHooks{CorruptFrames: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Deprovision(context.Background())
	res, err := d.Run(context.Background(), resolved(d, Job{Src: loc(t, src), Dsts: []objstore.Location{loc(t, dst)}, Recursive: true}), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dst, files)
	if res.Retries < 4 { // two source gateways, two corrupted frames each
		t.Errorf("retries = %d, want ≥ 4", res.Retries)
	}
}

// TestCancelThenResume: cancelling midway keeps open uploads (hidden) and
// the journal; running the same job again continues them, sends less than
// everything, and leaves no upload open. Through gateways and in process.
func TestCancelThenResume(t *testing.T) {
	for name, p := range testProviders() {
		t.Run(name, func(t *testing.T) { testCancelThenResume(t, p) })
	}
}

func testCancelThenResume(t *testing.T, provider func() compute.Provider) {
	src, dst, journals := t.TempDir(), t.TempDir(), t.TempDir()
	files := writeTree(t, src, 3, func(int) int { return 8 << 20 })
	job := Job{Src: loc(t, src), Dsts: []objstore.Location{loc(t, dst)}, Recursive: true}
	run := func(ctx context.Context, hooks control.TestHooks, progress func(Progress)) (*Result, error) {
		plan, _ := planner.Direct("local:src", []string{"local:dst"}, 1)
		d, err := New(plan, Options{Config: testConfig(), Provider: provider(), Dir: t.TempDir(), JournalDir: journals, Log: quietLog(), Test: hooks})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Provision(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer d.Deprovision(context.Background())
		return d.Run(ctx, resolved(d, job), progress)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var half int64
	_, err := run(ctx, control.TestHooks{FrameDelayMS: 100}, func(p Progress) {
		if p.BytesDone >= p.BytesTotal/2 && p.BytesTotal > 0 {
			half = p.BytesDone
			cancel()
		}
	})
	if err == nil {
		t.Fatal("cancelled run succeeded")
	}
	if half == 0 {
		t.Fatal("cancelled before any progress")
	}
	ups, err := local.New(dst).ListMultipartUploads(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) == 0 {
		t.Error("no upload kept open for the resume")
	}
	for o, err := range local.New(dst).List(context.Background(), "") {
		if err != nil {
			t.Fatal(err)
		}
		if o.Size != 8<<20 {
			t.Errorf("partial object visible: %s (%d bytes)", o.Key, o.Size)
		}
	}

	res, err := run(context.Background(), control.TestHooks{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dst, files)
	if total := int64(3 * 8 << 20); res.Bytes > total-half {
		t.Errorf("resumed run sent %d bytes; %d of %d had landed before", res.Bytes, half, total)
	}
	if ups, _ := local.New(dst).ListMultipartUploads(context.Background(), ""); len(ups) != 0 {
		t.Errorf("uploads still open after the resumed run: %+v", ups)
	}
	if m, _ := filepath.Glob(filepath.Join(journals, "*")); len(m) != 0 {
		t.Errorf("journal left after success: %v", m)
	}
}

// resolved resolves jobs under d's configuration, as the root package does.
func resolved(d *Dataplane, jobs ...Job) []*Resolved {
	rv := NewResolver(d.opts.Config, objstore.Options{})
	var out []*Resolved
	for _, j := range jobs {
		out = append(out, rv.Resolve(j))
	}
	return out
}
