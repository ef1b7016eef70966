package gateway

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/wire"
)

// secFrame is a frame for one chunk attempt of run-1 writing key.
func secFrame(id chunk.ID, attempt int, key string, data []byte) *wire.Frame {
	return runFrame("run-1", id, attempt, key, data)
}

func runFrame(run string, id chunk.ID, attempt int, key string, data []byte) *wire.Frame {
	ref := chunk.Bucket{URL: "file:///"}
	req := chunk.Request{ID: id, Src: ref, SrcKey: "src", Length: int64(len(data)), Attempt: attempt, Run: run,
		Dests: []chunk.Dest{{Group: "dst", Bucket: ref, Key: key}}}
	meta, _ := json.Marshal(frameMeta{Target: "dst", Req: req})
	return &wire.Frame{ChunkID: id, Meta: meta, Data: data, MD5: md5.Sum(data)}
}

func waitStats(t *testing.T, g *Gateway, what string, ok func(control.Stats) bool) control.Stats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if s := g.Stats(); ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %+v", what, g.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConnectionLimitAndIdle: connections over the limit are closed at
// once and counted; an authenticated connection that goes quiet is closed
// after the program's idle timeout.
func TestConnectionLimitAndIdle(t *testing.T) {
	key := make([]byte, 32)
	g, c := startGateway(t, "dst", "dst", key)
	if err := c.SetProgram(context.Background(), control.Program{NumConnections: 1, Sinks: []string{"dst"}, MaxConnections: 2, IdleTimeoutMS: 300}); err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", g.Ready().Data)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		held = append(held, conn)
	}
	// The first two get a challenge; read it so they are surely accepted.
	for _, conn := range held {
		if _, err := io.ReadFull(conn, make([]byte, 38)); err != nil {
			t.Fatal(err)
		}
	}
	extra, err := net.Dial("tcp", g.Ready().Data)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := extra.Read(make([]byte, 64)); err == nil || n > 0 {
		t.Fatalf("a connection over the limit got %d bytes, %v", n, err)
	}
	waitStats(t, g, "refused connection counted", func(s control.Stats) bool { return s.ConnectionsRefused == 1 })
	for _, conn := range held {
		conn.Close()
	}
	waitStats(t, g, "slots freed", func(control.Stats) bool { return g.inbound.Load() == 0 })

	conn, err := net.Dial("tcp", g.Ready().Data)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := wire.NewSender(conn, wire.Options{Key: key}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("idle connection not closed by the gateway: %v", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("idle connection closed after %v, want about 300ms", d)
	}
}

// TestAttemptsAndRunEnd: a late frame of an older attempt neither
// overwrites nor completes; once its run ends, a frame for it is refused.
func TestAttemptsAndRunEnd(t *testing.T) {
	key := make([]byte, 32)
	g, c := startGateway(t, "dst", "dst", key)
	ctx := context.Background()
	if err := c.SetProgram(ctx, control.Program{NumConnections: 1, Sinks: []string{"dst"}}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	register(t, out, c)
	target := strings.TrimPrefix(filepath.Join(out, "obj"), "/")
	id := chunk.NewID()
	conn, err := net.Dial("tcp", g.Ready().Data)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := wire.NewSender(conn, wire.Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []*wire.Frame{secFrame(id, 2, target, []byte("attempt two")), secFrame(id, 1, target, []byte("attempt one"))} {
		if _, err := s.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, g, "stale frame dropped", func(s control.Stats) bool { return s.FramesStale == 1 && s.ChunksWritten == 1 })
	if b, err := os.ReadFile("/" + target); err != nil || string(b) != "attempt two" {
		t.Fatalf("object %q, %v", b, err)
	}
	evs, err := c.Events(ctx, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.State == control.StateComplete && e.Attempt != 2 {
			t.Fatalf("attempt %d completed", e.Attempt)
		}
	}

	// A later run registers the same scope: a late frame of the ended run
	// still does not write (it may carry an older version of the source),
	// and the new run writes only inside its own scope.
	if err := c.EndRun(ctx, "run-1"); err != nil {
		t.Fatal(err)
	}
	j := control.JobRegistration{Run: "run-2", Scopes: []control.Scope{{Bucket: chunk.Bucket{URL: "file:///"}, Prefix: strings.TrimPrefix(out, "/") + "/"}}}
	if err := c.RegisterJobs(ctx, j); err != nil {
		t.Fatal(err)
	}
	late := strings.TrimPrefix(filepath.Join(out, "late"), "/")
	elsewhere := strings.TrimPrefix(filepath.Join(t.TempDir(), "x"), "/")
	fresh := strings.TrimPrefix(filepath.Join(out, "fresh"), "/")
	for _, f := range []*wire.Frame{
		secFrame(chunk.NewID(), 0, late, []byte("after the run")),
		runFrame("run-2", chunk.NewID(), 0, elsewhere, []byte("outside run-2")),
		runFrame("run-2", chunk.NewID(), 0, fresh, []byte("run two")),
	} {
		if _, err := s.Send(f); err != nil {
			t.Fatal(err)
		}
	}
	waitStats(t, g, "late frame dropped, outside frame refused, run-2 written", func(s control.Stats) bool {
		return s.FramesStale == 2 && s.FramesOutsideJobs == 1 && s.ChunksWritten == 2
	})
	for _, p := range []string{late, elsewhere} {
		if _, err := os.Stat("/" + p); !os.IsNotExist(err) {
			t.Fatalf("%s was written: %v", p, err)
		}
	}
	if b, err := os.ReadFile("/" + fresh); err != nil || string(b) != "run two" {
		t.Fatalf("run-2's object: %q, %v", b, err)
	}
}

// A gateway never runs unauthenticated: a boot without a full key fails.
func TestStartRefusesWithoutKey(t *testing.T) {
	for _, key := range [][]byte{nil, make([]byte, 16)} {
		g, err := Start(context.Background(), control.Boot{ID: "gw", Secret: "s", Key: key}, discardLogger())
		if err == nil {
			g.Shutdown()
			t.Fatalf("started with a %d-byte key", len(key))
		}
		if !strings.Contains(err.Error(), "dataplane key") {
			t.Fatalf("error %q does not name the key", err)
		}
	}
}

// Requests still queued at a source gateway when their run ends are
// dropped, not read; so are requests no run registered.
func TestSourceDropsRequestsOfEndedRuns(t *testing.T) {
	g, c := startGateway(t, "src", "src", make([]byte, 32))
	ctx := context.Background()
	if err := c.SetProgram(ctx, control.Program{NumConnections: 1, Source: true, Routes: map[string][]string{"dst": {"127.0.0.1:1"}}}); err != nil {
		t.Fatal(err)
	}
	in, out := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(in, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := chunk.Bucket{URL: "file:///"}
	req := func(dir string) chunk.Request {
		return chunk.Request{ID: chunk.NewID(), Src: ref, SrcKey: strings.TrimPrefix(filepath.Join(in, "f"), "/"), Length: 4, Run: "run-1",
			Dests: []chunk.Dest{{Group: "dst", Bucket: ref, Key: strings.TrimPrefix(filepath.Join(dir, "f"), "/")}}}
	}
	register(t, out, c)
	if err := c.EndRun(ctx, "run-1"); err != nil {
		t.Fatal(err)
	}
	reqs := []chunk.Request{req(out), req(out), req(t.TempDir())}
	if n, err := c.PostChunks(ctx, reqs); err != nil || n != len(reqs) {
		t.Fatalf("post: %d, %v", n, err)
	}
	s := waitStats(t, g, "requests dropped", func(s control.Stats) bool { return s.RequestsDropped == int64(len(reqs)) })
	if s.ChunksRead != 0 {
		t.Fatalf("read %d chunks nobody wants", s.ChunksRead)
	}
}

// TestStatsReportCPU: a gateway's counters carry its process's CPU time,
// which grows with work (what the benchmarks add up for remote gateways).
func TestStatsReportCPU(t *testing.T) {
	g, _ := startGateway(t, "gw", "local:src", make([]byte, 32))
	before := g.Stats().CPUSeconds
	deadline := time.Now().Add(300 * time.Millisecond)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = md5.Sum([]byte{byte(x)})
	}
	if after := g.Stats().CPUSeconds; before <= 0 || after <= before {
		t.Fatalf("cpu_s went from %v to %v over 300 ms of hashing", before, after)
	}
}
