package gateway

import (
	"context"
	"crypto/md5"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	_ "github.com/skyplane-project/skyplane-go/internal/objstore/local"
)

func startGateway(t *testing.T, id, region string, key []byte) (*Gateway, *control.Client) {
	t.Helper()
	g, err := Start(context.Background(), control.Boot{ID: id, Region: region, Secret: "s3cret-" + id, Key: key}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Shutdown)
	return g, control.NewClient(id, g.Ready().Control, "s3cret-"+id)
}

// register lets a run write under dir (a local path) through every client.
func register(t *testing.T, dir string, clients ...*control.Client) {
	t.Helper()
	j := control.JobRegistration{Run: "run-1", Scopes: []control.Scope{{Bucket: chunk.Bucket{URL: "file:///"}, Prefix: strings.TrimPrefix(dir, "/") + "/"}}}
	for _, c := range clients {
		if err := c.RegisterJobs(context.Background(), j); err != nil {
			t.Fatal(err)
		}
	}
}

func TestControlAPIAuth(t *testing.T) {
	g, _ := startGateway(t, "gw", "r", make([]byte, 32))
	url := "http://" + g.Ready().Control + control.PathStatus
	tests := []struct {
		name   string
		header string
		want   int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"not bearer", "Basic abc", http.StatusUnauthorized},
		{"wrong token", "Bearer wrong", http.StatusForbidden},
		{"prefix of token", "Bearer s3cret", http.StatusForbidden},
		{"right token", "Bearer s3cret-gw", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	// Every path is behind the check, shutdown included.
	resp, err := http.Post("http://"+g.Ready().Control+control.PathShutdown, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated shutdown answered %d", resp.StatusCode)
	}
}

// TestSourceToDestination runs two in-process gateways over real TCP: chunk
// requests in, status events out, files written, counters consistent.
func TestSourceToDestination(t *testing.T) {
	key := make([]byte, 32)
	key[0] = 7
	src, srcC := startGateway(t, "src", "local:src", key)
	dst, dstC := startGateway(t, "dst", "local:dst", key)
	ctx := context.Background()
	base := control.Program{NumConnections: 3, Compress: true, Encrypt: true, VerifyChecksums: true}
	dp := base
	dp.Sinks = []string{"local:dst"}
	if err := dstC.SetProgram(ctx, dp); err != nil {
		t.Fatal(err)
	}
	sp := base
	sp.Source = true
	sp.Routes = map[string][]string{"local:dst": {dst.Ready().Data}}
	if err := srcC.SetProgram(ctx, sp); err != nil {
		t.Fatal(err)
	}
	if err := srcC.SetProgram(ctx, sp); err == nil {
		t.Error("a second program was accepted")
	}

	in, out := t.TempDir(), t.TempDir()
	register(t, out, srcC, dstC)
	ref := chunk.Bucket{URL: "file:///"}
	var reqs []chunk.Request
	want := map[string][]byte{}
	for i, content := range []string{"", "hello", strings.Repeat("compressible ", 10000)} {
		name := filepath.Join(in, string(rune('a'+i)))
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		dstKey := strings.TrimPrefix(filepath.Join(out, string(rune('a'+i))), "/")
		want[dstKey] = []byte(content)
		reqs = append(reqs, chunk.Request{ID: chunk.NewID(), Src: ref, SrcKey: strings.TrimPrefix(name, "/"), Length: int64(len(content)), Run: "run-1",
			Dests: []chunk.Dest{{Group: "local:dst", Bucket: ref, Key: dstKey}}})
	}
	// A request for a missing object fails without retry.
	missing := chunk.Request{ID: chunk.NewID(), Src: ref, SrcKey: strings.TrimPrefix(in, "/") + "/missing", Length: 3, Run: "run-1",
		Dests: []chunk.Dest{{Group: "local:dst", Bucket: ref, Key: strings.TrimPrefix(out, "/") + "/x"}}}
	reqs = append(reqs, missing)
	if n, err := srcC.PostChunks(ctx, reqs); err != nil || n != len(reqs) {
		t.Fatalf("accepted %d of %d: %v", n, len(reqs), err)
	}
	// Requests to a gateway without a source role are refused.
	if _, err := dstC.PostChunks(ctx, reqs[:1]); err == nil {
		t.Error("destination gateway accepted chunk requests")
	}

	complete := map[chunk.ID]control.Event{}
	var failed []control.Event
	deadline := time.Now().Add(20 * time.Second)
	var sinceSrc, sinceDst int64
	for len(complete) < 3 || len(failed) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: complete %d failed %d", len(complete), len(failed))
		}
		evs, err := dstC.Events(ctx, sinceDst, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			sinceDst = e.Seq + 1
			if e.State == control.StateComplete {
				complete[e.Chunk] = e
			}
		}
		evs, err = srcC.Events(ctx, sinceSrc, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			sinceSrc = e.Seq + 1
			if e.State == control.StateFailed {
				failed = append(failed, e)
			}
		}
	}
	if failed[0].Chunk != missing.ID || failed[0].Retryable {
		t.Errorf("failure event %+v: want the missing object, not retryable", failed[0])
	}
	for key, content := range want {
		got, err := os.ReadFile("/" + key)
		if err != nil || string(got) != string(content) {
			t.Errorf("%s: %q, %v", key, got, err)
		}
	}
	for _, r := range reqs[:3] {
		e := complete[r.ID]
		sum := md5.Sum(want[r.Dests[0].Key])
		if e.Bytes != r.Length || e.ETag == "" || e.ETag != hexString(sum[:]) {
			t.Errorf("event %+v for %s", e, r.Dests[0].Key)
		}
	}
	ss, ds := src.Stats(), dst.Stats()
	if ss.WireBytesSent != ds.WireBytesRecv || ss.FramesSent != 3 || ds.ChunksWritten != 3 {
		t.Errorf("stats: src %+v dst %+v", ss, ds)
	}
	if ds.WireBytesRecv >= ds.RawBytesRecv {
		t.Errorf("compressible chunk not compressed: wire %d raw %d", ds.WireBytesRecv, ds.RawBytesRecv)
	}
}

// TestWrongKeyRejected: a sender sealing under another dataplane's key is
// refused at the handshake and the refusal is recorded.
func TestWrongKeyRejected(t *testing.T) {
	keyA, keyB := make([]byte, 32), make([]byte, 32)
	keyB[0] = 1
	_, srcC := startGateway(t, "src", "a", keyA)
	dst, dstC := startGateway(t, "dst", "b", keyB)
	ctx := context.Background()
	if err := dstC.SetProgram(ctx, control.Program{NumConnections: 1, Encrypt: true, Sinks: []string{"b"}}); err != nil {
		t.Fatal(err)
	}
	if err := srcC.SetProgram(ctx, control.Program{NumConnections: 1, Encrypt: true, Source: true, Routes: map[string][]string{"b": {dst.Ready().Data}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		errs, err := dstC.Errors(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(errs) > 0 {
			if !strings.Contains(errs[0], "rejected data connection") {
				t.Errorf("error %q", errs[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("wrong-key connection was never rejected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if dst.Stats().FramesRecv != 0 {
		t.Error("frames accepted from a wrong-key sender")
	}
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

// TestTLSBetweenGateways: with TLS on, chunks travel over mutually
// authenticated TLS; a plain TCP peer, or a TLS peer with another
// dataplane's certificate, is refused.
func TestTLSBetweenGateways(t *testing.T) {
	cert, key, err := control.NewTLSIdentity(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, otherKey, _ := control.NewTLSIdentity(time.Hour)
	start := func(id string, c, k []byte) (*Gateway, *control.Client) {
		g, err := Start(context.Background(), control.Boot{ID: id, Region: id, Secret: "s", Key: make([]byte, 32), TLSCert: c, TLSKey: k}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Shutdown)
		return g, control.NewClient(id, g.Ready().Control, "s")
	}
	ctx := context.Background()
	dst, dstC := start("dst", cert, key)
	if err := dstC.SetProgram(ctx, control.Program{NumConnections: 2, Encrypt: true, TLS: true, Sinks: []string{"dst"}}); err != nil {
		t.Fatal(err)
	}
	_, srcC := start("src", cert, key)
	if err := srcC.SetProgram(ctx, control.Program{NumConnections: 2, Encrypt: true, TLS: true, Source: true, Routes: map[string][]string{"dst": {dst.Ready().Data}}}); err != nil {
		t.Fatal(err)
	}
	in, out := t.TempDir(), t.TempDir()
	register(t, out, srcC, dstC)
	if err := os.WriteFile(filepath.Join(in, "f"), []byte("over TLS"), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := chunk.Bucket{URL: "file:///"}
	req := chunk.Request{ID: chunk.NewID(), Src: ref, SrcKey: strings.TrimPrefix(filepath.Join(in, "f"), "/"), Length: 8, Run: "run-1",
		Dests: []chunk.Dest{{Group: "dst", Bucket: ref, Key: strings.TrimPrefix(filepath.Join(out, "f"), "/")}}}
	if n, err := srcC.PostChunks(ctx, []chunk.Request{req}); err != nil || n != 1 {
		t.Fatalf("post: %d, %v", n, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(filepath.Join(out, "f")); err == nil {
			if string(b) != "over TLS" {
				t.Fatalf("got %q", b)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("chunk never arrived over TLS")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A plain TCP peer is refused at the TLS handshake.
	conn, err := net.Dial("tcp", dst.Ready().Data)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("SKYP not tls at all"))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("plain TCP peer got an answer")
	}
	conn.Close()
	// A peer with another dataplane's certificate is refused too.
	cc, _, _ := tlsConfigs(otherCert, otherKey)
	if tc, err := tls.Dial("tcp", dst.Ready().Data, cc); err == nil {
		tc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := tc.Read(make([]byte, 1)); err == nil {
			t.Error("a foreign certificate was accepted")
		}
		tc.Close()
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		errs, _ := dstC.Errors(ctx)
		n := 0
		for _, e := range errs {
			if strings.Contains(e, "TLS") {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refusals not recorded: %v", errs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
