// Package e2e runs the built skyplane binary end to end: real gateway
// processes, real TCP, local disk on both sides.
package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/skyplane-project/skyplane-go/internal/testbin"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/hostlab"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skyplane-e2e-bin-")
	if err != nil {
		panic(err)
	}
	if binary, err = testbin.Build(dir, os.Getenv("SKYPLANE_E2E_RACE") == "1"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The host lab tests (hosts_test.go) need it; CI=true starts it.
	code := hostlab.Main(m, os.Getenv)
	os.RemoveAll(dir)
	os.Exit(code)
}

// sandbox is one test's config and state directories.
type sandbox struct {
	t     *testing.T
	root  string
	state string
	env   []string
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	root := t.TempDir()
	s := &sandbox{t: t, root: root, state: filepath.Join(root, "state")}
	s.env = append(os.Environ(),
		"SKYPLANE_CONFIG="+filepath.Join(root, "config"),
		"SKYPLANE_STATE_DIR="+s.state,
		"SKYPLANE_USAGE_STATS_ENABLED=0",
	)
	t.Cleanup(func() { s.assertNoGateways() })
	return s
}

// useGateways makes every transfer of the sandbox start gateway processes
// (in_process false): what tests of gateways, frames and the wire need,
// since a copy whose stores are all reached from here runs in process.
func (s *sandbox) useGateways() { s.config("in_process", "false") }

func (s *sandbox) path(p ...string) string { return filepath.Join(append([]string{s.root}, p...)...) }

type result struct {
	stdout, stderr string
	code           int
}

func (s *sandbox) run(extraEnv []string, args ...string) result {
	s.t.Helper()
	return s.runIn(extraEnv, "", "", args...)
}

// runIn runs skyplane with extraEnv added, in the working directory dir
// ("" = the test's) and with stdin as its input.
func (s *sandbox) runIn(extraEnv []string, dir, stdin string, args ...string) result {
	s.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(append([]string{}, s.env...), extraEnv...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatalf("run skyplane %v: %v", args, err)
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

// mustRun runs skyplane and fails the test unless it exits 0.
func (s *sandbox) mustRun(args ...string) result {
	s.t.Helper()
	r := s.run(nil, args...)
	if r.code != 0 {
		s.t.Fatalf("skyplane %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

func (s *sandbox) config(kv ...string) {
	s.t.Helper()
	for i := 0; i < len(kv); i += 2 {
		s.mustRun("config", "set", kv[i], kv[i+1])
	}
}

// events decodes NDJSON output and returns the events of one kind.
func events(t *testing.T, stdout, kind string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stdout line is not JSON: %q", sc.Text())
		}
		if ev["event"] == kind {
			out = append(out, ev)
		}
	}
	return out
}

func doneEvent(t *testing.T, stdout string) map[string]any {
	t.Helper()
	evs := events(t, stdout, "done")
	if len(evs) != 1 {
		t.Fatalf("want one done event, got %d in:\n%s", len(evs), stdout)
	}
	return evs[0]
}

// gatewayStats sums a counter over the final stats files of the gateways
// whose id starts with prefix ("src", "dst").
func (s *sandbox) gatewayStats(prefix, counter string) (sum float64, files int) {
	s.t.Helper()
	matches, _ := filepath.Glob(filepath.Join(s.state, "dataplanes", "*", prefix+"*.stats.json"))
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			s.t.Fatal(err)
		}
		var st map[string]any
		if err := json.Unmarshal(b, &st); err != nil {
			s.t.Fatalf("%s: %v", m, err)
		}
		sum += st[counter].(float64)
		files++
	}
	return sum, files
}

// assertNoGateways fails if any gateway process of this sandbox still runs.
func (s *sandbox) assertNoGateways() {
	s.t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		pids := gatewayPIDs(s.state)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Errorf("gateway processes still running after skyplane exited: %v", pids)
			for _, p := range pids {
				if pr, err := os.FindProcess(p); err == nil {
					_ = pr.Kill()
				}
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gatewayPIDs finds running gateway processes of this sandbox.
func gatewayPIDs(stateDir string) []int { return local.Running(stateDir) }

// writeFile creates a file with the given content, making parent dirs.
func writeFile(t *testing.T, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// writeRandomFile streams n random bytes to p without holding them.
func writeRandomFile(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		t.Fatal(err)
	}
}

// textCorpus is compressible English-like text.
func textCorpus(n int) []byte {
	words := strings.Fields(`the quick brown fox jumps over the lazy dog while skyplane moves bulk data
between object stores across regions and clouds with gateways that compress encrypt and checksum
every chunk they send over many parallel connections to keep the network busy and costs low`)
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		b.WriteString(words[(i*7+i/3)%len(words)])
		if i%13 == 12 {
			b.WriteString(".\n")
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// assertTreesEqual checks dst holds exactly src's regular files, byte for
// byte, and nothing else (no temp or staging files either).
func assertTreesEqual(t *testing.T, src, dst string) {
	t.Helper()
	want := listTree(t, src)
	got := listTree(t, dst)
	for rel := range want {
		if _, ok := got[rel]; !ok {
			t.Errorf("missing at destination: %s", rel)
		}
	}
	for rel := range got {
		if _, ok := want[rel]; !ok {
			t.Errorf("unexpected at destination: %s", rel)
		}
	}
	if t.Failed() {
		return
	}
	for rel, size := range want {
		if got[rel] != size {
			t.Errorf("%s: size %d, want %d", rel, got[rel], size)
			continue
		}
		if !sameContent(t, filepath.Join(src, rel), filepath.Join(dst, rel)) {
			t.Errorf("%s: content differs", rel)
		}
	}
}

func listTree(t *testing.T, root string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)] = info.Size()
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func sameContent(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Open(a)
	if err != nil {
		t.Fatal(err)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	ba, bb := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		na, ea := io.ReadFull(fa, ba)
		nb, eb := io.ReadFull(fb, bb)
		if na != nb || !bytes.Equal(ba[:na], bb[:nb]) {
			return false
		}
		if ea != nil || eb != nil {
			return (ea == io.EOF || ea == io.ErrUnexpectedEOF) && (eb == io.EOF || eb == io.ErrUnexpectedEOF)
		}
	}
}

// watched is a running skyplane whose NDJSON events the test reads as they
// arrive (start it with --json).
type watched struct {
	cmd    *exec.Cmd
	sc     *bufio.Scanner
	out    strings.Builder
	stderr strings.Builder
}

// watch runs skyplane in the background with extraEnv added.
func (s *sandbox) watch(extraEnv []string, args ...string) *watched {
	s.t.Helper()
	w := &watched{cmd: exec.Command(binary, args...)}
	w.cmd.Env = append(append([]string{}, s.env...), extraEnv...)
	w.cmd.Stderr = &w.stderr
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	w.sc = bufio.NewScanner(stdout)
	w.sc.Buffer(make([]byte, 1<<20), 1<<20)
	return w
}

// waitProgress reads events until a progress event satisfies pred and
// returns its bytes done, or 0 if the run ended first.
func (w *watched) waitProgress(pred func(done, total float64) bool) float64 {
	for w.sc.Scan() {
		w.out.WriteString(w.sc.Text() + "\n")
		var ev map[string]any
		if json.Unmarshal(w.sc.Bytes(), &ev) != nil || ev["event"] != "progress" {
			continue
		}
		done, total := ev["bytes_done"].(float64), ev["bytes_total"].(float64)
		if pred(done, total) {
			return done
		}
	}
	return 0
}

// midway: some bytes landed, and less than frac of them.
func midway(frac float64) func(done, total float64) bool {
	return func(done, total float64) bool { return done > 0 && total > 0 && done < frac*total }
}

// past: at least frac of the bytes landed, not all.
func past(frac float64) func(done, total float64) bool {
	return func(done, total float64) bool { return total > 0 && done >= frac*total && done < total }
}

// finish reads the rest of the output and waits for the exit (bounded).
func (w *watched) finish(t *testing.T) error {
	t.Helper()
	for w.sc.Scan() {
		w.out.WriteString(w.sc.Text() + "\n")
	}
	done := make(chan error, 1)
	go func() { done <- w.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		_ = w.cmd.Process.Kill()
		t.Fatal("skyplane did not exit")
		return nil
	}
}
