package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/wire"
)

const (
	fuzzSecret = "fuzz-secret"
	fuzzRegion = "fuzz:dst"
	// refusedAddr refuses connections at once: senders dial it and back off,
	// nothing ever leaves the gateway.
	refusedAddr = "127.0.0.1:1"
)

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// startTestGateway starts an in-process gateway that is shut down when tb ends.
func startTestGateway(tb testing.TB, id string) *Gateway {
	tb.Helper()
	g, err := Start(context.Background(), control.Boot{ID: id, Region: "fuzz:src", Secret: fuzzSecret, Key: make([]byte, 32)}, discardLogger())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Shutdown)
	return g
}

// call sends one request through the gateway's handler chain (auth included)
// and returns the status and body. A zero timeout means no deadline.
func call(h http.Handler, method, path, rawQuery string, body []byte, auth bool, timeout time.Duration) (int, []byte) {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	// Set the query after parsing: NewRequest panics on a target it cannot
	// parse, while a server hands any query string to the handler.
	req.URL.RawQuery = rawQuery
	if timeout > 0 {
		ctx, cancel := context.WithTimeout(req.Context(), timeout)
		defer cancel()
		req = req.WithContext(ctx)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+fuzzSecret)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// fuzzSeeds are bodies worth starting from: valid and broken batches and
// programs, huge numbers, unknown fields, query strings.
func fuzzSeeds(tb testing.TB, srcFile string) [][]byte {
	src := chunk.Bucket{URL: "file:///"}
	srcKey := strings.TrimPrefix(filepath.ToSlash(srcFile), "/")
	dest := chunk.Dest{Group: fuzzRegion, Bucket: chunk.Bucket{URL: "file:///"}, Key: "tmp/fuzz-never-written"}
	req := func(off, n int64, dests ...chunk.Dest) chunk.Request {
		return chunk.Request{ID: chunk.NewID(), Src: src, SrcKey: srcKey, Offset: off, Length: n, Dests: dests, Run: "fuzz"}
	}
	valid := mustJSON(tb, control.ChunkBatch{Requests: []chunk.Request{req(0, 10, dest), req(10, 0, dest), req(5, 5, dest, dest)}})
	seeds := [][]byte{
		valid,
		valid[:len(valid)/2],
		valid[:len(valid)-1],
		[]byte(`{"requests":[]}`),
		[]byte(`{"requests":null}`),
		[]byte(`{}`),
		[]byte(``),
		[]byte(`null`),
		[]byte(`[]`),
		[]byte(`"requests"`),
		[]byte(`{"requests":[{}]}`),
		[]byte(`{"requests":[{"dests":[{"group":"nowhere"}],"length":1}]}`),
		[]byte(`{"requests":[{"dests":[],"length":1}]}`),
		[]byte(`{"requests":[{"dests":[{"group":"fuzz:dst"}],"length":-1}]}`),
		// Huge numbers: past int64, and lengths no chunk may have.
		[]byte(`{"requests":[{"dests":[{"group":"fuzz:dst"}],"length":99999999999999999999999}]}`),
		[]byte(`{"requests":[{"dests":[{"group":"fuzz:dst"}],"offset":1e400,"length":1}]}`),
		mustJSON(tb, control.ChunkBatch{Requests: []chunk.Request{req(1<<62, 1, dest)}}),
		// Unknown fields, at the top and inside.
		[]byte(`{"requests":[],"extra":1}`),
		[]byte(`{"requests":[{"bogus":true}]}`),
		// Wrong types and broken ids.
		[]byte(`{"requests":[{"id":"zz","length":"1"}]}`),
		[]byte(`{"requests":{"id":1}}`),
		// Trailing data after a valid value.
		append(bytes.Clone(valid), []byte(`{"requests":[]}garbage`)...),
		// Programs (the program endpoint sees every seed too).
		mustJSON(tb, control.Program{NumConnections: 0}),
		mustJSON(tb, control.Program{NumConnections: -5, Source: true}),
		mustJSON(tb, control.Program{NumConnections: 1, Routes: map[string][]string{fuzzRegion: {refusedAddr}}}),
		mustJSON(tb, control.Program{NumConnections: 1, Routes: map[string][]string{fuzzRegion: {"not an address"}}}),
		mustJSON(tb, control.Program{NumConnections: 1, Routes: map[string][]string{fuzzRegion: nil}}),
		[]byte(`{"num_connections":9223372036854775807,"readers":-1,"memory_budget":-9}`),
		[]byte(`{"num_connections":1,"unknown":1}`),
		// Job registrations and run ends.
		mustJSON(tb, control.JobRegistration{Run: "r", Scopes: []control.Scope{{Bucket: chunk.Bucket{URL: "file:///"}, Prefix: "tmp/"}}}),
		mustJSON(tb, control.JobRegistration{Run: "", Scopes: []control.Scope{{Bucket: chunk.Bucket{URL: "file:///"}}}}),
		mustJSON(tb, control.JobRegistration{Run: "r", Scopes: []control.Scope{{Prefix: "x"}}}),
		[]byte(`{"run":"r","scopes":[]}`),
		[]byte(`{"run":"r"}`),
		// Query strings for the status log.
		[]byte(`since=0&wait_ms=0`),
		[]byte(`since=-9223372036854775808&wait_ms=10`),
		[]byte(`since=9223372036854775807&wait_ms=-1`),
		[]byte(`since=abc&wait_ms=99999999999999999999`),
		[]byte(`since=1&since=2&%zz=%`),
	}
	return seeds
}

// FuzzControlAPI feeds arbitrary bytes to every control endpoint that takes
// input: as the body of POST /program and POST /chunk_requests and as the
// query of GET /chunk_status_log, with and without the secret. The gateway
// must never panic, never answer 5xx, never accept a second program, and
// never accept more chunk requests than it was sent.
func FuzzControlAPI(f *testing.F) {
	g := startTestGateway(f, "fuzz")
	h := g.routes()
	// A source gateway whose only next hop swallows every frame: accepted
	// requests are read and sent, so the queues keep moving (a route that
	// refuses connections would clog the readers after a few requests and
	// hide what they do with later ones), and nothing is written anywhere.
	prog := control.Program{Source: true, NumConnections: 2, Routes: map[string][]string{fuzzRegion: {drain(f)}}}
	if code, body := call(h, http.MethodPost, control.PathProgram, "", mustJSON(f, prog), true, 0); code != http.StatusOK {
		f.Fatalf("install program: %d %s", code, body)
	}
	// The seeds' destination is a registered job's, so their requests are
	// read and sent, not dropped.
	jobs := control.JobRegistration{Run: "fuzz", Scopes: []control.Scope{{Bucket: chunk.Bucket{URL: "file:///"}, Prefix: "tmp/fuzz-never-written", Exact: true}}}
	if code, body := call(h, http.MethodPost, control.PathJobs, "", mustJSON(f, jobs), true, 0); code != http.StatusOK {
		f.Fatalf("register jobs: %d %s", code, body)
	}
	srcFile := filepath.Join(f.TempDir(), "src.bin")
	if err := os.WriteFile(srcFile, bytes.Repeat([]byte("0123456789"), 2), 0o644); err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzSeeds(f, srcFile) {
		f.Add(s)
	}
	var sent, accepted int64 // over every input this process saw
	f.Fuzz(func(t *testing.T, body []byte) {
		// Without the secret: 401 everywhere, whatever the input.
		for _, ep := range []struct{ method, path, query string }{
			{http.MethodPost, control.PathProgram, ""},
			{http.MethodPost, control.PathChunks, ""},
			{http.MethodPost, control.PathJobs, ""},
			{http.MethodPost, control.PathRunEnd, ""},
			{http.MethodGet, control.PathStatusLog, string(body)},
		} {
			var b []byte
			if ep.method == http.MethodPost {
				b = body
			}
			if code, resp := call(h, ep.method, ep.path, ep.query, b, false, 0); code != http.StatusUnauthorized {
				t.Fatalf("%s %s without a token: %d %s, want 401", ep.method, ep.path, code, resp)
			}
		}

		// A program is installed: any other must be refused with a 4xx.
		code, resp := call(h, http.MethodPost, control.PathProgram, "", body, true, 0)
		if code < 400 || code >= 500 {
			t.Fatalf("POST %s %q: %d %s, want 4xx (a program is already installed)", control.PathProgram, body, code, resp)
		}
		// A program that passes validation must be refused as a second one
		// (an invalid one may be refused for what is wrong with it first).
		var p control.Program
		if decodeStrict(body, &p) == nil && p.NumConnections > 0 && validRoutes(p) && !p.TLS && !strings.Contains(string(resp), "already installed") {
			t.Fatalf("POST %s %q: %d %s, want \"already installed\"", control.PathProgram, body, code, resp)
		}

		// Chunk requests: never more accepted than sent.
		code, resp = call(h, http.MethodPost, control.PathChunks, "", body, true, 0)
		if code >= 500 {
			t.Fatalf("POST %s %q: %d %s", control.PathChunks, body, code, resp)
		}
		var batch control.ChunkBatch
		if err := decodeStrict(body, &batch); err != nil {
			if code != http.StatusBadRequest {
				t.Fatalf("POST %s %q (not a batch: %v): %d %s, want 400", control.PathChunks, body, err, code, resp)
			}
		} else {
			if code != http.StatusOK && code != http.StatusConflict {
				t.Fatalf("POST %s %q: %d %s, want 200 or 409", control.PathChunks, body, code, resp)
			}
			var reply control.ChunkAccepted
			if err := json.Unmarshal(resp, &reply); err != nil {
				t.Fatalf("POST %s: reply %q: %v", control.PathChunks, resp, err)
			}
			if reply.Accepted < 0 || reply.Accepted > len(batch.Requests) {
				t.Fatalf("POST %s: accepted %d of %d requests", control.PathChunks, reply.Accepted, len(batch.Requests))
			}
			if code == http.StatusConflict && reply.Error == "" {
				t.Fatalf("POST %s: 409 without an error: %s", control.PathChunks, resp)
			}
			sent += int64(len(batch.Requests))
			accepted += int64(reply.Accepted)
		}
		if q := int64(g.Stats().QueuedRequests); q > accepted || accepted > sent {
			t.Fatalf("%d requests queued, %d accepted, %d sent", q, accepted, sent)
		}

		// Job registration: 200 for a registration that names a run and
		// stores, 400 for anything else; never 5xx. A run other than the
		// seeds' may be ended.
		code, resp = call(h, http.MethodPost, control.PathJobs, "", body, true, 0)
		var reg control.JobRegistration
		valid := decodeStrict(body, &reg) == nil && reg.Run != "" && len(reg.Scopes) > 0 && !slices.ContainsFunc(reg.Scopes, func(s control.Scope) bool { return s.Bucket.URL == "" })
		if want := map[bool]int{true: http.StatusOK, false: http.StatusBadRequest}[valid]; code != want {
			t.Fatalf("POST %s %q: %d %s, want %d", control.PathJobs, body, code, resp, want)
		}
		var end control.RunEnd
		if decodeStrict(body, &end) == nil && end.Run != "fuzz" {
			if code, resp := call(h, http.MethodPost, control.PathRunEnd, "", body, true, 0); code != http.StatusOK {
				t.Fatalf("POST %s %q: %d %s", control.PathRunEnd, body, code, resp)
			}
		}

		// The status log takes any query; a long wait_ms is cut short by the
		// request's context.
		code, resp = call(h, http.MethodGet, control.PathStatusLog, string(body), nil, true, 20*time.Millisecond)
		if code != http.StatusOK {
			t.Fatalf("GET %s?%s: %d %s", control.PathStatusLog, body, code, resp)
		}
		var events []control.Event
		if err := json.Unmarshal(resp, &events); err != nil {
			t.Fatalf("GET %s?%s: reply %q: %v", control.PathStatusLog, body, resp, err)
		}
	})
}

// drain listens on 127.0.0.1 and discards whatever arrives: a next hop that
// takes every frame; it holds the test gateways' (zero) key, so senders
// complete the handshake.
func drain(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r, err := wire.NewReceiver(c, wire.Options{Key: make([]byte, wire.KeySize)})
				if err != nil {
					return
				}
				for {
					f, _, err := r.Next()
					var fe *wire.FrameError
					if errors.As(err, &fe) {
						continue
					}
					if err != nil {
						return
					}
					f.Release()
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestChunkRequestHugeLength: a chunk request longer than any chunk can be
// (wire.MaxChunk) must be refused or fail as a chunk, never bring the
// gateway down. The gateway runs in a child process so that a crash is
// reported as this test's failure instead of killing the package's tests.
func TestChunkRequestHugeLength(t *testing.T) {
	for _, length := range []string{"9223372036854775807", "1099511627776"} {
		t.Run(length, func(t *testing.T) {
			if os.Getenv("GATEWAY_HUGE_LENGTH_CHILD") == length {
				hugeLengthChild(t, length)
				return
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestChunkRequestHugeLength$/^"+length+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "GATEWAY_HUGE_LENGTH_CHILD="+length)
			out, err := cmd.CombinedOutput()
			if err != nil {
				lines := strings.SplitN(string(out), "\n", 16)
				t.Fatalf("gateway given a chunk request of length %s: %v\n%s", length, err, strings.Join(lines[:min(len(lines), 15)], "\n"))
			}
		})
	}
}

func hugeLengthChild(t *testing.T, length string) {
	g := startTestGateway(t, "huge")
	h := g.routes()
	prog := control.Program{Source: true, NumConnections: 1, Routes: map[string][]string{fuzzRegion: {drain(t)}}}
	if code, resp := call(h, http.MethodPost, control.PathProgram, "", mustJSON(t, prog), true, 0); code != http.StatusOK {
		t.Fatalf("install program: %d %s", code, resp)
	}
	src := filepath.Join(t.TempDir(), "src.bin")
	if err := os.WriteFile(src, []byte("tiny"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := chunk.NewID()
	body := fmt.Sprintf(`{"requests":[{"id":%q,"src":{"url":"file:///"},"src_key":%q,"dests":[{"group":%q,"bucket":{"url":"file:///"},"key":"tmp/never"}],"length":%s}]}`,
		id, strings.TrimPrefix(filepath.ToSlash(src), "/"), fuzzRegion, length)
	code, resp := call(h, http.MethodPost, control.PathChunks, "", []byte(body), true, 0)
	if code >= 500 {
		t.Fatalf("POST %s: %d %s", control.PathChunks, code, resp)
	}
	var reply control.ChunkAccepted
	if err := json.Unmarshal(resp, &reply); err == nil && reply.Accepted == 0 {
		return // refused up front: fine
	}
	// Accepted: the chunk must fail, and the gateway must live on.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		_, resp := call(h, http.MethodGet, control.PathStatusLog, "since=0&wait_ms=200", nil, true, 0)
		var events []control.Event
		_ = json.Unmarshal(resp, &events)
		for _, e := range events {
			if e.Chunk == id && e.State == control.StateFailed {
				return
			}
			if e.Chunk == id {
				t.Fatalf("chunk of length %s: event %+v, want failed", length, e)
			}
		}
	}
	t.Fatalf("chunk of length %s accepted (%s) but no failure reported within 5s", length, resp)
}

// decodeStrict decodes like the control API does.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// TestProgramValidation: a program that cannot run is refused with 400 and
// a message naming the problem, and the gateway keeps no part of it.
func TestProgramValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		want string // substring of the 400 answer
	}{
		{"zero connections", `{"num_connections":0}`, "num_connections"},
		{"missing connections", `{"source":true}`, "num_connections"},
		{"negative connections", `{"num_connections":-3,"routes":{"r":["127.0.0.1:1"]}}`, "num_connections"},
		{"route without hops", `{"num_connections":1,"routes":{"r":[]}}`, "no next hop"},
		{"route with null hops", `{"num_connections":1,"routes":{"r":null}}`, "no next hop"},
		{"unknown field", `{"num_connections":1,"connections":4}`, "unknown field"},
		{"truncated", `{"num_connections":1`, "bad request body"},
		{"not an object", `[1,2]`, "bad request body"},
		{"empty", ``, "bad request body"},
		{"huge number", `{"num_connections":1e40}`, "bad request body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := startTestGateway(t, "prog")
			h := g.routes()
			code, resp := call(h, http.MethodPost, control.PathProgram, "", []byte(tc.body), true, 0)
			if code != http.StatusBadRequest || !strings.Contains(string(resp), tc.want) {
				t.Fatalf("POST %s %s: %d %s, want 400 mentioning %q", control.PathProgram, tc.body, code, resp, tc.want)
			}
			if st := status(t, h); st.State != "idle" {
				t.Errorf("after a refused program the gateway is %q, want idle", st.State)
			}
			// Refused means nothing was installed: a valid program still goes in.
			valid := fmt.Sprintf(`{"num_connections":1,"sinks":[%q]}`, fuzzRegion)
			if code, resp := call(h, http.MethodPost, control.PathProgram, "", []byte(valid), true, 0); code != http.StatusOK {
				t.Fatalf("valid program after a refused one: %d %s, want 200", code, resp)
			}
		})
	}

	t.Run("second program", func(t *testing.T) {
		g := startTestGateway(t, "prog")
		h := g.routes()
		p := []byte(`{"num_connections":2}`)
		if code, resp := call(h, http.MethodPost, control.PathProgram, "", p, true, 0); code != http.StatusOK {
			t.Fatalf("first program: %d %s", code, resp)
		}
		code, resp := call(h, http.MethodPost, control.PathProgram, "", p, true, 0)
		if code != http.StatusBadRequest || !strings.Contains(string(resp), "already installed") {
			t.Fatalf("second program: %d %s, want 400 already installed", code, resp)
		}
		if st := status(t, h); st.State != "running" {
			t.Errorf("state %q, want running", st.State)
		}
	})
}

func status(t *testing.T, h http.Handler) control.StatusReply {
	t.Helper()
	code, resp := call(h, http.MethodGet, control.PathStatus, "", nil, true, 0)
	var st control.StatusReply
	if err := json.Unmarshal(resp, &st); code != http.StatusOK || err != nil {
		t.Fatalf("GET %s: %d %s (%v)", control.PathStatus, code, resp, err)
	}
	return st
}

func validRoutes(p control.Program) bool {
	for _, hops := range p.Routes {
		if len(hops) == 0 {
			return false
		}
	}
	return true
}
