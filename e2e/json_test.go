package e2e

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// allEvents decodes every stdout line; a line that is not a versioned
// event fails the test.
func allEvents(t *testing.T, stdout string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSuffix(stdout, "\n"), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("stdout line is not JSON: %q\nstdout:\n%s", line, stdout)
		}
		if ev["v"] != 1.0 {
			t.Errorf("event without \"v\":1: %s", line)
		}
		out = append(out, ev)
	}
	return out
}

// TestJSONOutput: with --json stdout carries only NDJSON events, each with
// "v":1: the confirmation question goes to stderr, a usage error ends the
// stream with an error event, and dry-run events say op (copy/delete) and
// reason apart.
func TestJSONOutput(t *testing.T) {
	t.Run("prompt on stderr", func(t *testing.T) {
		s := newSandbox(t)
		src, dst := s.path("src"), s.path("dst")
		writeFile(t, filepath.Join(src, "a"), []byte("aaa"))
		r := s.runIn(nil, "", "y\n", "sync", "--json", src, dst)
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "Continue? [Y/n]") {
			t.Errorf("no question on stderr:\n%s", r.stderr)
		}
		evs := allEvents(t, r.stdout)
		if evs[0]["event"] != "plan" || evs[len(evs)-1]["event"] != "done" {
			t.Errorf("events do not run from plan to done:\n%s", r.stdout)
		}
	})
	t.Run("usage errors", func(t *testing.T) {
		s := newSandbox(t)
		src, dst := s.path("src"), s.path("dst")
		writeFile(t, filepath.Join(src, "a"), []byte("aaa"))
		for _, args := range [][]string{
			{"cp", "-r", "-y", "--json", "-n", "1000", src, dst},
			{"cp", "--json", "--bogus", src, dst},
			{"sync", "--json", src},
		} {
			r := s.run(nil, args...)
			if r.code != 2 {
				t.Errorf("%v: exit %d, want 2", args, r.code)
			}
			evs := allEvents(t, r.stdout)
			last := evs[len(evs)-1]
			if last["event"] != "error" || last["kind"] != "usage" || last["exit_code"] != 2.0 || last["error"] == "" {
				t.Errorf("%v: last event %v, want an error event of kind usage, exit_code 2", args, last)
			}
		}
	})
	t.Run("dry run op and reason", func(t *testing.T) {
		s := newSandbox(t)
		src, dst := s.path("src"), s.path("dst")
		writeFile(t, filepath.Join(src, "changed"), []byte("new content"))
		writeFile(t, filepath.Join(src, "new"), []byte("n"))
		writeFile(t, filepath.Join(dst, "changed"), []byte("old"))
		writeFile(t, filepath.Join(dst, "stale"), []byte("s"))
		r := s.mustRun("sync", "--dry-run", "--delete", "--json", src, dst)
		got := map[string][2]string{}
		for _, ev := range allEvents(t, r.stdout) {
			if ev["event"] == "dry_run" {
				got[filepath.Base(ev["dst"].(string))] = [2]string{ev["op"].(string), ev["reason"].(string)}
			}
		}
		want := map[string][2]string{
			"changed": {"copy", "size differs"},
			"new":     {"copy", "missing"},
			"stale":   {"delete", "not at the source"},
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: op/reason %v, want %v", k, got[k], w)
			}
		}
	})
}
