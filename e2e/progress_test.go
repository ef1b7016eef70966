package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
	s.useGateways()
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

// TestResumingMessage: running an interrupted copy again says what it
// found at the destination before any progress line ("Resuming: 5 of 13
// objects (10.0 MiB) already at the destination"); with --json a resuming
// event says the same.
func TestResumingMessage(t *testing.T) {
	s := newSandbox(t)
	src := s.path("src")
	resumeTree(t, src)
	s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4", "num_connections", "2")
	re := regexp.MustCompile(`Resuming: ([0-9]+) of 13 objects \([0-9.]+ [KMG]?i?B\) already at the destination`)

	dst := s.path("dst")
	startAndStop(t, s, os.Interrupt, 0.5, src, dst)
	r := s.mustRun("cp", "-r", "-y", src, dst)
	assertTreesEqual(t, src, dst)
	m := re.FindStringSubmatchIndex(r.stdout)
	if m == nil {
		t.Fatalf("no Resuming line:\n%s", r.stdout)
	}
	if n, _ := strconv.Atoi(r.stdout[m[2]:m[3]]); n < 1 || n > 12 {
		t.Errorf("Resuming line says %d objects already there:\n%s", n, r.stdout)
	}
	if p := strings.Index(r.stdout, "progress: "); p >= 0 && p < m[0] {
		t.Errorf("a progress line came before the Resuming line:\n%s", r.stdout)
	}

	dst2 := s.path("dst2")
	startAndStop(t, s, os.Interrupt, 0.5, src, dst2)
	r = s.mustRun("cp", "-r", "-y", "--json", src, dst2)
	evs := events(t, r.stdout, "resuming")
	if len(evs) != 1 {
		t.Fatalf("%d resuming events, want 1:\n%s", len(evs), r.stdout)
	}
	already, total := evs[0]["objects_already"].(float64), evs[0]["objects"].(float64)
	if already < 1 || total != 13 || evs[0]["bytes_already"].(float64) <= 0 {
		t.Errorf("resuming event %v: want 1..12 of 13 objects and their bytes", evs[0])
	}
	if done := doneEvent(t, r.stdout); done["objects"].(float64)+already != 13 {
		t.Errorf("done says %v objects sent, resuming %v already there: not 13 in all", done["objects"], already)
	}
}
