package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBadInput: each mistake gets a message naming the problem, a
// non-zero exit code of the documented class, and nothing at the destination.
func TestBadInput(t *testing.T) {
	tests := []struct {
		name    string
		args    func(src, dst string) []string
		code    int
		message string
	}{
		{"missing source object", func(src, dst string) []string { return []string{"cp", "-y", src + "/missing", dst + "/x"} }, 1, "no such object"},
		{"missing source folder", func(src, dst string) []string { return []string{"cp", "-r", "-y", "/nonexistent-skyplane-dir", dst} }, 1, "no objects found at prefix"},
		{"unknown scheme", func(src, dst string) []string { return []string{"cp", "-y", "ftp://host/x", dst} }, 2, "unsupported scheme"},
		{"malformed s3 URL", func(src, dst string) []string { return []string{"cp", "-y", "s3://", dst} }, 2, "bucket"},
		{"bad bucket name", func(src, dst string) []string { return []string{"cp", "-y", "s3://Bad_Bucket/x", dst} }, 2, "bucket"},
		{"folder without -r", func(src, dst string) []string { return []string{"cp", "-y", src + "/dir", dst + "/x"} }, 1, "-r"},
		{"one argument", func(src, dst string) []string { return []string{"cp", src} }, 2, "destination"},
		{"sync with three arguments", func(src, dst string) []string { return []string{"sync", src, dst, dst} }, 2, "usage"},
		{"zero gateways", func(src, dst string) []string { return []string{"cp", "-r", "-y", "-n", "0", src, dst} }, 2, "max-instances"},
		{"zero connections", func(src, dst string) []string { return []string{"cp", "-r", "-y", "--max-connections", "0", src, dst} }, 2, "max-connections"},
		{"unknown flag", func(src, dst string) []string { return []string{"cp", "--bogus", src, dst} }, 2, "bogus"},
		{"unknown solver", func(src, dst string) []string { return []string{"cp", "-r", "-y", "--solver", "fastest", src, dst} }, 2, "solver"},
		{"contradicting multipart flags", func(src, dst string) []string {
			return []string{"cp", "-r", "-y", "--multipart", "--no-multipart", src, dst}
		}, 2, "contradict"},
		{"not confirmed", func(src, dst string) []string { return []string{"cp", "-r", src, dst} }, 2, "-y"},
		{"bad config value", func(src, dst string) []string { return []string{"config", "set", "num_connections", "-5"} }, 2, "num_connections"},
		{"bad boolean", func(src, dst string) []string { return []string{"config", "set", "compress", "maybe"} }, 2, "compress"},
		{"unknown config key", func(src, dst string) []string { return []string{"config", "set", "num_conections", "4"} }, 2, "did you mean \"num_connections\""},
		{"get unknown key", func(src, dst string) []string { return []string{"config", "get", "nope"} }, 2, "unknown config key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			src, dst := s.path("src"), s.path("dst")
			writeFile(t, filepath.Join(src, "dir/a"), []byte("a"))
			r := s.run(nil, tt.args(src, dst)...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.message) {
				t.Errorf("stderr lacks %q:\n%s", tt.message, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "Error: ") && !strings.Contains(r.stderr, "\nError: ") {
				t.Errorf("no Error: line on stderr:\n%s", r.stderr)
			}
			if got := listTree(t, dst); len(got) != 0 {
				t.Errorf("destination not empty after a failed command: %v", got)
			}
		})
	}
}

// TestBadConfigFile: a broken config file stops every command with its
// path and line.
func TestBadConfigFile(t *testing.T) {
	s := newSandbox(t)
	writeFile(t, s.path("config"), []byte("num_connections = 8\nmultipart_chunk_size_mb = lots\n"))
	r := s.run(nil, "cp", "-r", "-y", s.path("src"), s.path("dst"))
	if r.code != 2 || !strings.Contains(r.stderr, s.path("config")+":2") {
		t.Errorf("exit %d, stderr %q: want exit 2 naming %s:2", r.code, r.stderr, s.path("config"))
	}
}

// TestInterrupt: SIGINT midway through a striped transfer exits 130, stops
// every gateway and leaves nothing partial visible; running the same
// command again finishes the job and leaves no staging behind. In process
// and through gateways.
func TestInterrupt(t *testing.T) {
	for _, mode := range []string{"in-process", "gateways"} {
		t.Run(mode, func(t *testing.T) { interruptMidway(t, mode == "in-process") })
	}
}

func interruptMidway(t *testing.T, inProcess bool) {
	s := newSandbox(t)
	if !inProcess {
		s.useGateways()
	}
	src, dst := s.path("src"), s.path("dst")
	writeRandomFile(t, filepath.Join(src, "big"), 64<<20)
	writeFile(t, filepath.Join(src, "small"), []byte("small"))
	s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4", "num_connections", "2")

	w := s.watch([]string{"SKYPLANE_TEST_FRAME_DELAY_MS=300"}, "cp", "-r", "-y", "--json", src, dst)
	// Interrupt once some, but not all, bytes have landed.
	if w.waitProgress(midway(1)) == 0 {
		t.Fatal("transfer never reported partial progress")
	}
	if n := len(gatewayPIDs(s.state)); inProcess && n > 0 {
		t.Errorf("%d gateway processes running in process", n)
	} else if !inProcess && n == 0 {
		t.Error("no gateway process found while the transfer runs")
	}
	_ = w.cmd.Process.Signal(syscall.SIGINT)
	var ee *exec.ExitError
	if err := w.finish(t); !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit %v, want 130\nstderr: %s", err, w.stderr.String())
	}
	if !strings.Contains(w.stderr.String(), "interrupted") {
		t.Errorf("stderr does not say interrupted: %s", w.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dst, "big")); err == nil {
		t.Error("the interrupted striped object is visible at the destination")
	}
	if !strings.Contains(w.stderr.String(), "resume") {
		t.Errorf("the interruption message does not say how to resume: %s", w.stderr.String())
	}
	s.mustRun("cp", "-r", "-y", src, dst)
	assertTreesEqual(t, src, dst)
	assertNoPartial(t, src, dst)
}
