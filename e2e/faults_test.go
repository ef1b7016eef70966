package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/faults"
	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// Fault tests: the data links between gateways go through toxiproxy
// (SKYPLANE_TEST_TOXIPROXY, started by scripts/test-servers.sh) or a store
// answers SlowDown; every transfer must still end byte-identical.
//
// What toxiproxy v2.5.0 does to our one-way framed streams (the sender is
// toxiproxy's client, so our data is its "upstream" stream; the default
// "downstream" stream carries nothing from our receivers, so a toxic there
// is inert):
//   - limit_data (upstream, bytes N): forwards the first N bytes of each
//     connection, then closes both sides. The frame crossing the limit
//     arrives truncated (the receiver drops it: unexpected EOF); frames the
//     sender had already handed to its socket are gone although Send
//     reported success, and the next Send fails (reset / broken pipe). A
//     frame larger than N never gets through.
//   - reset_peer (upstream, timeout T ms, toxicity p): a share p of the
//     connections swallow everything from their first byte (the handshake)
//     and are reset (SO_LINGER 0) T ms later; the rest are untouched.
//   - timeout (timeout 0): data is read from the sender and dropped on the
//     floor (not held) until the toxic is removed; removing it closes the
//     connection. Everything sent during the stall is lost without the
//     sender noticing.
//   - latency: holds data (nothing is lost); removing it flushes what it held.
//
// Lost frames without a send error are only recovered by the client
// re-dispatching chunks that do not complete within SKYPLANE_CHUNK_TIMEOUT.

// chunkTimeout is what the fault tests give SKYPLANE_CHUNK_TIMEOUT.
const chunkTimeout = "3s"

// toxicSandbox is a sandbox whose gateway links go through toxiproxy proxies
// (named with a per-test prefix, deleted when the test ends) carrying toxics.
func toxicSandbox(t *testing.T, toxics string) (*sandbox, *faults.Client, string) {
	t.Helper()
	api := objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_TOXIPROXY")
	s := newSandbox(t)
	prefix := faults.ProxyName(faults.RandomPrefix(), t.Name()) + "-"
	s.env = append(s.env,
		"SKYPLANE_TEST_TOXIPROXY="+api,
		"SKYPLANE_TEST_TOXICS="+toxics,
		"SKYPLANE_TEST_TOXIPROXY_PREFIX="+prefix,
		"SKYPLANE_CHUNK_TIMEOUT="+chunkTimeout,
	)
	tp := faults.NewClient(api)
	t.Cleanup(func() {
		if err := tp.DeleteProxies(context.Background(), prefix); err != nil {
			t.Errorf("deleting toxiproxy proxies: %v", err)
		}
	})
	return s, tp, prefix
}

// skyplaneRun is a skyplane process started in the background.
type skyplaneRun struct {
	cmd       *exec.Cmd
	out, errb bytes.Buffer
	done      chan struct{}
	res       result
}

// start runs skyplane in the background; after limit it is interrupted
// (SIGINT: the CLI tears its gateways down), then killed.
func (s *sandbox) start(limit time.Duration, extraEnv []string, args ...string) *skyplaneRun {
	s.t.Helper()
	r := &skyplaneRun{done: make(chan struct{})}
	r.cmd = exec.Command(binary, args...)
	r.cmd.Env = append(append([]string{}, s.env...), extraEnv...)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.errb
	r.cmd.Stdin = strings.NewReader("")
	if err := r.cmd.Start(); err != nil {
		s.t.Fatalf("start skyplane %v: %v", args, err)
	}
	go func() {
		defer close(r.done)
		interrupt := time.AfterFunc(limit, func() { _ = r.cmd.Process.Signal(syscall.SIGINT) })
		kill := time.AfterFunc(limit+20*time.Second, func() { _ = r.cmd.Process.Kill() })
		err := r.cmd.Wait()
		interrupt.Stop()
		kill.Stop()
		r.res = result{stdout: r.out.String(), stderr: r.errb.String(), code: r.cmd.ProcessState.ExitCode()}
		if err != nil && r.res.code == 0 {
			r.res.code = -1
		}
	}()
	return r
}

func (r *skyplaneRun) wait() result { <-r.done; return r.res }

func (r *skyplaneRun) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// mustFinish waits for a run and fails the test unless it exited 0.
func (r *skyplaneRun) mustFinish(t *testing.T, limit time.Duration) result {
	t.Helper()
	res := r.wait()
	if res.code != 0 {
		t.Fatalf("skyplane %s: exit %d (interrupted after %v if it ran that long)\nstdout (tail):\n%s\nstderr:\n%s",
			strings.Join(r.cmd.Args[1:], " "), res.code, limit, tail(res.stdout, 6), res.stderr)
	}
	return res
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// runLimited is mustRun with a time limit: a transfer that hangs is
// interrupted and reported, not left to the go test timeout.
func (s *sandbox) runLimited(t *testing.T, limit time.Duration, args ...string) result {
	t.Helper()
	return s.start(limit, nil, args...).mustFinish(t, limit)
}

// waitProxies waits until the run has created at least one proxy.
func waitProxies(t *testing.T, tp *faults.Client, prefix string, r *skyplaneRun) []faults.Proxy {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !r.exited() {
		ps, err := tp.Proxies(context.Background(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) > 0 {
			return ps
		}
		time.Sleep(20 * time.Millisecond)
	}
	res := r.wait()
	t.Fatalf("no toxiproxy proxy with prefix %s appeared\nstdout:\n%s\nstderr:\n%s", prefix, tail(res.stdout, 6), res.stderr)
	return nil
}

// assertProxied checks the gateway links really went through proxies of
// this test, each carrying the expected toxic types.
func assertProxied(t *testing.T, tp *faults.Client, prefix string, toxicTypes ...string) {
	t.Helper()
	ps, err := tp.Proxies(context.Background(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) == 0 {
		t.Fatalf("no toxiproxy proxy named %s*: the route hook did not run", prefix)
	}
	for _, p := range ps {
		var got []string
		for _, tx := range p.Toxics {
			got = append(got, tx.Type)
		}
		if strings.Join(got, ",") != strings.Join(toxicTypes, ",") {
			t.Errorf("proxy %s (→ %s) has toxics %v, want %v", p.Name, p.Upstream, got, toxicTypes)
		}
	}
}

// mixedTree writes about total bytes of files from 0 bytes to maxSize,
// random and compressible, in a few folders.
func mixedTree(t *testing.T, dir string, total, maxSize int64, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	sizes := []int64{0, 1, 1 << 10, 37 << 10, 256 << 10, 700 << 10, 1 << 20, maxSize / 2, maxSize}
	var sum int64
	for i := 0; sum < total; i++ {
		n := sizes[rng.IntN(len(sizes))] + rng.Int64N(4096)
		n = min(n, maxSize)
		p := filepath.Join(dir, fmt.Sprintf("d%d/f%03d.bin", i%4, i))
		if i%3 == 0 {
			writeFile(t, p, textCorpus(int(n)))
		} else {
			writeRandomFile(t, p, n)
		}
		sum += n
	}
}

// TestFaultConnectionResets: the source→destination connections are cut
// every few MiB (limit_data) or some are reset from their first byte
// (reset_peer); the transfer retries what was lost and ends identical.
func TestFaultConnectionResets(t *testing.T) {
	tests := []struct {
		name   string
		toxics string
		types  []string
		conns  string
		// retries: the toxic loses frames. A black-holed connection loses
		// none: the wire handshake waits for the receiver's proof, so the
		// sender redials before any frame goes into it.
		retries bool
	}{
		// Every connection carries at most 8 MiB, then is closed mid-frame:
		// about five cuts over 40 MiB. Files stay ≤ 1 MiB: a frame that
		// starts near a connection's limit is cut, and one that needs more
		// than is left on every connection it tries fails 5 times.
		{"limit_data", `[{"type":"limit_data","stream":"upstream","attributes":{"bytes":4194304}}]`, []string{"limit_data"}, "4", true},
		// Half the new connections are black holes reset after 50 ms (the
		// good ones then stay). With 8 connections a fault is all but
		// certain (a run without one: 0.5^8).
		{"reset_peer", `[{"type":"reset_peer","stream":"upstream","attributes":{"timeout":50},"toxicity":0.5}]`, []string{"reset_peer"}, "8", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, tp, prefix := toxicSandbox(t, tt.toxics)
			src, dst := s.path("src"), s.path("dst")
			mixedTree(t, src, 40<<20, 1<<20, 1)

			r := s.runLimited(t, 3*time.Minute, "cp", "-r", "-y", "--json", "--max-connections", tt.conns, src, dst)
			assertTreesEqual(t, src, dst)
			assertProxied(t, tp, prefix, tt.types...)
			done := doneEvent(t, r.stdout)
			if retries := done["retries"].(float64); tt.retries && retries <= 0 {
				t.Errorf("summary counts %v retries; the toxic should have cost some", retries)
			}
			sent, _ := s.gatewayStats("src", "frames_sent")
			recv, _ := s.gatewayStats("dst", "frames_recv")
			t.Logf("%v objects; retries %v; the source sent %v frames, the destination received %v",
				done["objects"], done["retries"], sent, recv)
		})
	}
}

// TestFaultLinkStalls: mid-transfer the links stop carrying data, then come
// back when the test removes the toxic.
func TestFaultLinkStalls(t *testing.T) {
	const timeoutToxic = `{"type":"timeout","stream":"upstream","attributes":{"timeout":0}}`
	tests := []struct {
		name         string
		toxic        string
		stall        time.Duration
		chunkTimeout string
		noRetries    bool
	}{
		// toxiproxy's timeout toxic drops what it reads and closes the
		// connection when removed: frames sent during the stall are lost
		// without a send error, and only the client's re-dispatch after
		// SKYPLANE_CHUNK_TIMEOUT recovers them, stall shorter or longer
		// than that timeout.
		{"timeout shorter than chunk timeout", timeoutToxic, 2 * time.Second, "3s", false},
		{"timeout longer than chunk timeout", timeoutToxic, 6 * time.Second, "3s", false},
		// latency holds the data (TCP backpressure reaches the sender) and
		// flushes it when removed: a pure stall. Shorter than the chunk
		// timeout, it costs no retry at all.
		{"held data", `{"type":"latency","stream":"upstream","attributes":{"latency":600000}}`, 4 * time.Second, "60s", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, tp, prefix := toxicSandbox(t, "[]")
			src, dst := s.path("src"), s.path("dst")
			mixedTree(t, src, 16<<20, 1<<20, 2)

			const limit = 3 * time.Minute
			// 150 ms per frame keeps the transfer going for about a second
			// and a half, so the stall starts mid-transfer.
			r := s.start(limit, []string{"SKYPLANE_TEST_FRAME_DELAY_MS=150", "SKYPLANE_CHUNK_TIMEOUT=" + tt.chunkTimeout},
				"cp", "-r", "-y", "--json", "--max-connections", "4", src, dst)
			ps := waitProxies(t, tp, prefix, r)
			time.Sleep(500 * time.Millisecond)
			ctx := context.Background()
			for _, p := range ps {
				if err := tp.AddRawToxic(ctx, p.Name, []byte(tt.toxic)); err != nil {
					t.Fatal(err)
				}
			}
			stallStart := time.Now()
			if r.exited() {
				t.Fatalf("the transfer ended before the stall began:\n%s", r.wait().stderr)
			}
			time.Sleep(tt.stall)
			if r.exited() {
				res := r.wait()
				t.Fatalf("the transfer ended during the stall: exit %d\n%s", res.code, res.stderr)
			}
			n, err := tp.RemoveToxics(ctx, prefix)
			if err != nil || n != len(ps) {
				t.Fatalf("removed %d toxics (%v), want %d", n, err, len(ps))
			}
			res := r.mustFinish(t, limit)
			retries := doneEvent(t, res.stdout)["retries"].(float64)
			t.Logf("finished %v after the stall began; retries %v", time.Since(stallStart).Round(time.Millisecond), retries)
			assertTreesEqual(t, src, dst)
			if tt.noRetries && retries != 0 {
				t.Errorf("a stall that held the data cost %v retries, want none", retries)
			}
		})
	}
}

// slowDownProxy is a reverse proxy in front of an S3 endpoint that answers
// a share of all requests, at random, with 503 SlowDown.
type slowDownProxy struct {
	url      string
	share    float64
	requests atomic.Int64
	refused  atomic.Int64
}

func newSlowDownProxy(t *testing.T, endpoint string, share float64) *slowDownProxy {
	t.Helper()
	target, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	p := &slowDownProxy{share: share}
	rp := &httputil.ReverseProxy{
		// Keep the Host header: requests are signed (SigV4) for the proxy's host.
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = target.Scheme, target.Host
			pr.Out.Host = pr.In.Host
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if rand.Float64() < p.share {
			p.refused.Add(1)
			// Drain (part of) the body so the client reads our answer.
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusServiceUnavailable)
			if r.Method != http.MethodHead {
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>fault</RequestId></Error>`)
			}
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p.url = "http://" + ln.Addr().String()
	return p
}

// TestFaultStoreSlowDown: S3 answers a quarter of all requests with 503
// SlowDown; copies to and from it complete, identical (read back through the
// real endpoint), and the gateways counted their store retries (in
// process, the client's count is the summary's).
func TestFaultStoreSlowDown(t *testing.T) {
	for _, mode := range []string{"in-process", "gateways"} {
		t.Run(mode, func(t *testing.T) { faultStoreSlowDown(t, mode == "in-process") })
	}
}

func faultStoreSlowDown(t *testing.T, inProcess bool) {
	for _, dir := range []string{"local to s3", "s3 to local"} {
		t.Run(dir, func(t *testing.T) {
			s := newSandbox(t)
			if !inProcess {
				s.useGateways()
			}
			s3b := s3Backend(t, s) // configures the real endpoint...
			proxy := newSlowDownProxy(t, objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_ENDPOINT"), 0.25)
			s.config("s3_endpoint", proxy.url, // ...which skyplane reaches through the proxy
				"multipart_min_threshold_mb", "8", "multipart_chunk_size_mb", "5")
			// The chunk timeout is for lost chunks, not slow stores.
			s.env = append(s.env, "SKYPLANE_CHUNK_TIMEOUT=2m")

			src := s.path("src")
			files := map[string][]byte{}
			for i := range 24 {
				n := []int{0, 10, 3 << 10, 70 << 10, 300 << 10}[i%5] + i
				files[fmt.Sprintf("dir/f%02d", i)] = randomBytes(t, n)
			}
			files["dir/big/striped.bin"] = randomBytes(t, 13<<20) // 3 parts
			files["dir/text.txt"] = textCorpus(2 << 20)
			for k, b := range files {
				writeFile(t, filepath.Join(src, k), b)
			}
			bucket := s3b.bucket(t)

			var r result
			switch dir {
			case "local to s3":
				r = s.runLimited(t, 3*time.Minute, "cp", "-r", "-y", "--json", filepath.Join(src, "dir"), join(bucket, "copy"))
				keys := s3b.list(t, bucket, "")
				var want []string
				for k := range files {
					want = append(want, "copy"+strings.TrimPrefix(k, "dir"))
				}
				sort.Strings(want)
				sort.Strings(keys)
				if strings.Join(keys, "\n") != strings.Join(want, "\n") {
					t.Errorf("bucket holds %v, want %v", keys, want)
				}
				for k, b := range files {
					key := "copy" + strings.TrimPrefix(k, "dir")
					if got, ok := s3b.get(t, bucket, key); !ok || !bytes.Equal(got, b) {
						t.Errorf("%s: %d bytes read back (present %v), want %d identical", key, len(got), ok, len(b))
					}
				}
			case "s3 to local":
				for k, b := range files {
					s3b.put(t, bucket, k, b)
				}
				dst := s.path("dst")
				r = s.runLimited(t, 3*time.Minute, "cp", "-r", "-y", "--json", join(bucket, "dir"), dst)
				assertTreesEqual(t, filepath.Join(src, "dir"), dst)
			}
			done := doneEvent(t, r.stdout)
			if n := done["store_retries"].(float64); n <= 0 {
				t.Errorf("the summary counts %v store retries, want > 0", n)
			}
			retries, statFiles := s.gatewayStats("", "store_retries")
			t.Logf("proxy answered SlowDown to %d of %d requests; gateways (%d) retried %v store requests",
				proxy.refused.Load(), proxy.requests.Load(), statFiles, retries)
			if proxy.refused.Load() == 0 {
				t.Fatalf("the proxy refused nothing (%d requests): skyplane did not go through it", proxy.requests.Load())
			}
			if !inProcess && (statFiles == 0 || retries <= 0) {
				t.Errorf("gateway stats (%d files) count %v store retries, want > 0", statFiles, retries)
			}
		})
	}
}
