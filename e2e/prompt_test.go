package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while a process writes it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// prompted is skyplane started without -y, stdin a pipe nobody writes.
type prompted struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
}

func (s *sandbox) startPrompted(t *testing.T, args ...string) *prompted {
	t.Helper()
	p := &prompted{cmd: exec.Command(binary, args...)}
	p.cmd.Env = s.env
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	stdin, err := p.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	return p
}

// waitPrompt waits until the question is printed (on stdout or stderr).
func (p *prompted) waitPrompt(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(p.stdout.String()+p.stderr.String(), "Continue? [Y/n]") {
		if time.Now().After(deadline) {
			t.Fatalf("no prompt after a minute\nstdout: %s\nstderr: %s", p.stdout.String(), p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exitWithin waits for the exit and returns its code; a process still
// running after d fails the test.
func (p *prompted) exitWithin(t *testing.T, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(d):
		t.Fatalf("still running %v after the signal\nstdout: %s\nstderr: %s", d, p.stdout.String(), p.stderr.String())
		return 0
	}
}

// TestCtrlCAtPrompt: SIGINT while skyplane waits at `Continue? [Y/n]`
// ends it at once with exit 130, saying nothing was transferred (not that
// gateways were torn down or that a rerun resumes: nothing had started).
func TestCtrlCAtPrompt(t *testing.T) {
	for _, cmd := range []string{"cp", "sync"} {
		t.Run(cmd, func(t *testing.T) {
			s := newSandbox(t)
			src, dst := s.path("src"), s.path("dst")
			writeFile(t, filepath.Join(src, "a.txt"), []byte("hello"))
			args := []string{cmd, src, dst}
			if cmd == "cp" {
				args = []string{cmd, "-r", src, dst}
			}
			p := s.startPrompted(t, args...)
			p.waitPrompt(t)
			if err := p.cmd.Process.Signal(syscall.SIGINT); err != nil {
				t.Fatal(err)
			}
			if code := p.exitWithin(t, 5*time.Second); code != 130 {
				t.Errorf("exit %d, want 130\nstderr: %s", code, p.stderr.String())
			}
			stderr := p.stderr.String()
			if !strings.Contains(stderr, "nothing was transferred") {
				t.Errorf("stderr does not say nothing was transferred:\n%s", stderr)
			}
			for _, wrong := range []string{"torn down", "resume"} {
				if strings.Contains(stderr, wrong) {
					t.Errorf("stderr mentions %q although nothing started:\n%s", wrong, stderr)
				}
			}
			if got := listTree(t, dst); len(got) != 0 {
				t.Errorf("destination written: %v", got)
			}
		})
	}
}
