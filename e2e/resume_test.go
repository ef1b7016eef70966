package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// startAndStop runs `skyplane cp` slowed down and stops the client with sig
// once at least frac of the bytes have landed; it returns the bytes landed
// by then.
func startAndStop(t *testing.T, s *sandbox, sig os.Signal, frac float64, args ...string) float64 {
	t.Helper()
	w := s.watch([]string{"SKYPLANE_TEST_FRAME_DELAY_MS=150"}, append([]string{"cp", "-r", "-y", "--json"}, args...)...)
	landed := w.waitProgress(past(frac))
	if landed > 0 {
		_ = w.cmd.Process.Signal(sig)
	}
	_ = w.finish(t)
	if landed == 0 {
		t.Fatal("never caught the transfer midway")
	}
	return landed
}

func resumeTree(t *testing.T, src string) float64 {
	total := 0
	for i := range 12 {
		n := 2<<20 + i
		writeFile(t, filepath.Join(src, fmt.Sprintf("d%d/f%02d", i%3, i)), randomBytes(t, n))
		total += n
	}
	writeRandomFile(t, filepath.Join(src, "striped"), 32<<20)
	return float64(total + 32<<20)
}

// TestResumeAfterClientKill: the client is SIGKILLed at about half way
// (no teardown, no journal close); running the same command again
// finishes and sends well under 60 % of the bytes.
func TestResumeAfterClientKill(t *testing.T) {
	s := newSandbox(t)
	src, dst := s.path("src"), s.path("dst")
	total := resumeTree(t, src)
	s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4", "num_connections", "2")
	landed := startAndStop(t, s, os.Kill, 0.5, src, dst)
	r := s.mustRun("cp", "-r", "-y", "--json", src, dst)
	assertTreesEqual(t, src, dst)
	sent := doneEvent(t, r.stdout)["bytes"].(float64)
	if sent >= 0.6*total {
		t.Errorf("the rerun sent %.0f of %.0f bytes (%.0f%%); %.0f had landed before the kill", sent, total, 100*sent/total, landed)
	}
	t.Logf("killed at %.0f%%, rerun sent %.0f%%", 100*landed/total, 100*sent/total)
	// --no-resume sends everything again.
	r = s.mustRun("cp", "-r", "-y", "--json", "--no-resume", src, dst)
	if sent := doneEvent(t, r.stdout)["bytes"].(float64); sent != total {
		t.Errorf("--no-resume sent %.0f bytes, want all %.0f", sent, total)
	}
}

// TestDeprovisionAbandonsInterrupted: an interrupted transfer keeps its
// multipart upload for a resume; `skyplane deprovision` aborts it instead.
func TestDeprovisionAbandonsInterrupted(t *testing.T) {
	s := newSandbox(t)
	src, dst := s.path("src"), s.path("dst")
	resumeTree(t, src)
	s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4", "num_connections", "2")
	startAndStop(t, s, os.Interrupt, 0.3, src, dst)
	staging := func() []string {
		var out []string
		_ = filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.HasPrefix(d.Name(), ".skyplane-") {
				out = append(out, p)
			}
			return nil
		})
		return out
	}
	if len(staging()) == 0 {
		t.Fatal("the interrupted transfer kept no multipart staging to resume")
	}
	r := s.mustRun("deprovision")
	if !strings.Contains(r.stdout, "aborted 1 open multipart upload") {
		t.Errorf("deprovision said: %s", r.stdout)
	}
	if left := staging(); len(left) != 0 {
		t.Errorf("staging left after deprovision: %v", left)
	}
	assertNoPartial(t, src, dst)
}
