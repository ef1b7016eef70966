package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPlainProgress: with stdout not a terminal, progress is plain
// periodic lines ("progress: 40%, ...") with no bar and no carriage
// returns.
func TestPlainProgress(t *testing.T) {
	s := newSandbox(t)
	src := s.path("src")
	for i := range 40 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("f%02d", i)), randomBytes(t, 64<<10))
	}
	r := s.run([]string{"SKYPLANE_TEST_FRAME_DELAY_MS=100"}, "cp", "-r", "-y", src, s.path("dst"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var lines int
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "progress: ") {
			lines++
			if !strings.Contains(l, " of ") || !strings.Contains(l, "objects") || !strings.Contains(l, "Gbit/s") {
				t.Errorf("progress line lacks bytes, objects or rate: %q", l)
			}
		}
	}
	if lines == 0 {
		t.Errorf("no progress line:\n%s", r.stdout)
	}
	if strings.ContainsAny(r.stdout, "\r\x1b") || strings.Contains(r.stdout, "[==") || strings.Contains(r.stdout, "ETA") {
		t.Errorf("terminal bar in non-terminal output:\n%q", r.stdout)
	}
}

// TestSummaryNumbers: tiny files cost more on the wire than on disk
// (frames, tags): the summary says "no saving" and the overhead, never a
// negative saving; a broadcast says objects and bytes per destination.
func TestSummaryNumbers(t *testing.T) {
	s := newSandbox(t)
	src := s.path("src")
	for i := range 3 {
		writeFile(t, filepath.Join(src, fmt.Sprintf("tiny%d", i)), []byte("0123456789"))
	}
	r := s.mustRun("cp", "-r", "-y", src, s.path("one"))
	if !strings.Contains(r.stdout, "no saving") || regexp.MustCompile(`-[0-9.]+% saved`).MatchString(r.stdout) {
		t.Errorf("tiny files: summary does not say no saving:\n%s", r.stdout)
	}
	r = s.mustRun("cp", "-r", "-y", src, s.path("a"), s.path("b"))
	if !strings.Contains(r.stdout, "Objects:     3 (30 B) to each of 2 destinations: 6 objects, 60 B landed in all") {
		t.Errorf("broadcast summary does not give both per destination:\n%s", r.stdout)
	}
	done := doneEvent(t, s.mustRun("cp", "-r", "-y", "--json", "--no-resume", src, s.path("c"), s.path("d")).stdout)
	for k, want := range map[string]float64{"objects": 3, "destinations": 2, "bytes_per_destination": 30, "bytes": 60, "compression_saved_pct": 0} {
		if done[k] != want {
			t.Errorf("done event %s = %v, want %v", k, done[k], want)
		}
	}
	if done["wire_overhead_bytes"].(float64) <= 0 {
		t.Errorf("done event wire_overhead_bytes = %v, want > 0 for tiny files", done["wire_overhead_bytes"])
	}
}
