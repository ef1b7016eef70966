package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStatePruned: a transfer starts by removing dataplane folders and
// usage records beyond the newest 20 that are older than a week; recent
// ones stay whatever their number.
func TestStatePruned(t *testing.T) {
	s := newSandbox(t)
	old := time.Now().Add(-30 * 24 * time.Hour)
	for _, sub := range []string{"dataplanes", "usage"} {
		for i := range 30 {
			p := filepath.Join(s.state, sub, fmt.Sprintf("old-%02d", i))
			writeFile(t, filepath.Join(p, "gateway.log"), []byte("log"))
			// old-00 is the oldest.
			mod := old.Add(time.Duration(i) * time.Minute)
			if err := os.Chtimes(p, mod, mod); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 25 {
			writeFile(t, filepath.Join(s.state, sub, fmt.Sprintf("recent-%02d", i), "x"), []byte("x"))
		}
	}
	writeFile(t, s.path("src", "a"), []byte("a"))
	s.mustRun("cp", "-r", "-y", s.path("src"), s.path("dst"))

	for _, sub := range []string{"dataplanes", "usage"} {
		entries, err := os.ReadDir(filepath.Join(s.state, sub))
		if err != nil {
			t.Fatal(err)
		}
		var olds, recents int
		for _, e := range entries {
			switch {
			case strings.HasPrefix(e.Name(), "old-"):
				olds++
			case strings.HasPrefix(e.Name(), "recent-"):
				recents++
			}
		}
		if olds != 0 || recents != 25 {
			t.Errorf("%s: %d old and %d recent entries left, want 0 and 25 (recent ones are kept, old ones beyond the newest 20 go)", sub, olds, recents)
		}
	}
}

// TestStateKeepsNewestOld: with few entries, even old ones stay (the newest
// 20 are kept whatever their age).
func TestStateKeepsNewestOld(t *testing.T) {
	s := newSandbox(t)
	old := time.Now().Add(-30 * 24 * time.Hour)
	for i := range 25 {
		p := filepath.Join(s.state, "dataplanes", fmt.Sprintf("old-%02d", i))
		writeFile(t, filepath.Join(p, "gateway.log"), []byte("log"))
		mod := old.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, s.path("src", "a"), []byte("a"))
	s.mustRun("cp", "-r", "-y", s.path("src"), s.path("dst"))
	for i := range 25 {
		_, err := os.Stat(filepath.Join(s.state, "dataplanes", fmt.Sprintf("old-%02d", i)))
		if gone := err != nil; gone != (i < 5) {
			t.Errorf("old-%02d: removed %v, want %v (the 20 newest stay)", i, gone, i < 5)
		}
	}
}

// TestUsageRecordAnonymous: usage statistics record the command and its
// flags and the kinds of stores, never paths or names, also when the
// transfer fails with a message naming them.
func TestUsageRecordAnonymous(t *testing.T) {
	s := newSandbox(t)
	const secret = "zebrafish-secret-4711"
	src := s.path(secret + "-src")
	writeFile(t, filepath.Join(src, secret+".txt"), []byte("a"))
	on := []string{"SKYPLANE_USAGE_STATS_ENABLED=1"}
	if r := s.run(on, "cp", "-r", "-y", "-n", "1", src, s.path(secret+"-dst")); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r := s.run(on, "cp", "-y", s.path(secret+"-missing"), s.path(secret+"-out")); r.code == 0 {
		t.Fatal("copy of a missing file succeeded")
	}
	files, _ := filepath.Glob(filepath.Join(s.state, "usage", "*.json"))
	if len(files) != 2 {
		t.Fatalf("%d usage files, want 2", len(files))
	}
	var all string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all += string(b)
	}
	if strings.Contains(all, secret) || strings.Contains(all, s.root) {
		t.Errorf("usage records hold a path or name:\n%s", all)
	}
	for _, want := range []string{`"cp"`, `"--recursive=true"`, `"--max-instances=1"`, `"src_region": "local"`, `"error": "failed"`} {
		if !strings.Contains(all, want) {
			t.Errorf("usage records lack %s:\n%s", want, all)
		}
	}
}
