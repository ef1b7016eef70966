package e2e

import (
	"fmt"
	"path/filepath"
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
