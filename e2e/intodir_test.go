package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCopyIntoExistingDirectory: `cp a.txt ./existdir` (no trailing
// slash) lands existdir/a.txt, as cp(1) does, for one destination and for
// each of a broadcast's.
func TestCopyIntoExistingDirectory(t *testing.T) {
	s := newSandbox(t)
	writeFile(t, s.path("a.txt"), []byte("hello"))
	for _, d := range []string{"existdir", "other"} {
		if err := os.MkdirAll(s.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.mustRun("cp", "-y", s.path("a.txt"), s.path("existdir"))
	s.mustRun("cp", "-y", s.path("a.txt"), s.path("other"), s.path("new.txt"))
	for _, p := range []string{"existdir/a.txt", "other/a.txt", "new.txt"} {
		if b, err := os.ReadFile(s.path(p)); err != nil || string(b) != "hello" {
			t.Errorf("%s: %q, %v; want hello", p, b, err)
		}
	}
}

// TestPermanentErrorFailsFast: a write that cannot succeed on retry (a
// directory where a file must go) fails at once, naming the cause, instead
// of after 5 attempts with backoff.
func TestPermanentErrorFailsFast(t *testing.T) {
	s := newSandbox(t)
	src, dst := s.path("src"), s.path("dst")
	writeFile(t, filepath.Join(src, "x"), []byte("file"))
	writeFile(t, filepath.Join(dst, "x", "inner"), []byte("a directory is here"))
	start := time.Now()
	r := s.run(nil, "cp", "-r", "-y", src, dst)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstderr: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "a directory is in the way") {
		t.Errorf("stderr does not name the cause:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "after 5 attempts") {
		t.Errorf("a permanent error was retried:\n%s", r.stderr)
	}
	t.Logf("failed in %v", time.Since(start))
}
