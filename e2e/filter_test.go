package e2e

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// filterTree is the source every filter case starts from.
var filterTree = []string{"a.txt", "b.log", "docs/c.txt", "docs/d.log", "tmp/e.txt", "tmp/x/f.txt"}

// TestFilters: --include/--exclude globs and --files-from (a file or
// stdin) select what cp -r and sync send, by key relative to the source
// folder; sync --delete never deletes what the filters leave out.
func TestFilters(t *testing.T) {
	tests := []struct {
		name  string
		args  []string // between the command and SRC DST
		cmd   string
		stdin string
		list  string // written to a file passed as --files-from
		want  []string
	}{
		{name: "include any depth", cmd: "cp", args: []string{"-r", "--include", "**/*.txt"},
			want: []string{"a.txt", "docs/c.txt", "tmp/e.txt", "tmp/x/f.txt"}},
		{name: "star stays at the top", cmd: "cp", args: []string{"-r", "--include", "*.txt"},
			want: []string{"a.txt"}},
		{name: "exclude a folder", cmd: "sync", args: []string{"--exclude", "tmp/**", "--exclude", "*.log"},
			want: []string{"a.txt", "docs/c.txt", "docs/d.log"}},
		{name: "files-from a file", cmd: "cp", args: []string{"-r"}, list: "b.log\ntmp/x/f.txt\nnot-there\n",
			want: []string{"b.log", "tmp/x/f.txt"}},
		{name: "files-from stdin", cmd: "sync", args: []string{"--files-from", "-"}, stdin: "docs/c.txt\n",
			want: []string{"docs/c.txt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			src, dst := s.path("src"), s.path("dst")
			for _, k := range filterTree {
				writeFile(t, filepath.Join(src, k), []byte(k))
			}
			args := append([]string{tt.cmd, "-y"}, tt.args...)
			if tt.list != "" {
				writeFile(t, s.path("list"), []byte(tt.list))
				args = append(args, "--files-from", s.path("list"))
			}
			r := s.runIn(nil, "", tt.stdin, append(args, src, dst)...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
			}
			got := slices.Sorted(maps.Keys(listTree(t, dst)))
			if !slices.Equal(got, tt.want) {
				t.Errorf("destination holds %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSyncDeleteKeepsExcluded: sync --delete removes destination objects
// the source lacks, except those the filters leave out.
func TestSyncDeleteKeepsExcluded(t *testing.T) {
	s := newSandbox(t)
	src, dst := s.path("src"), s.path("dst")
	writeFile(t, filepath.Join(src, "a.txt"), []byte("a"))
	writeFile(t, filepath.Join(dst, "stale.txt"), []byte("s"))
	writeFile(t, filepath.Join(dst, "local/notes.txt"), []byte("mine"))
	writeFile(t, filepath.Join(dst, "cache.tmp"), []byte("c"))

	dry := s.mustRun("sync", "--dry-run", "--delete", "--exclude", "local/**", "--exclude", "*.tmp", src, dst)
	if strings.Contains(dry.stdout, "notes.txt") || strings.Contains(dry.stdout, "cache.tmp") || !strings.Contains(dry.stdout, "delete "+dst+"/stale.txt") {
		t.Errorf("dry run does not plan exactly the stale delete:\n%s", dry.stdout)
	}
	s.mustRun("sync", "-y", "--delete", "--exclude", "local/**", "--exclude", "*.tmp", src, dst)
	got := slices.Sorted(maps.Keys(listTree(t, dst)))
	if want := []string{"a.txt", "cache.tmp", "local/notes.txt"}; !slices.Equal(got, want) {
		t.Errorf("destination holds %v, want %v", got, want)
	}
}

// TestFilterUsageErrors: filters on a single object, a bad pattern, and
// --files-from - with the confirmation question are usage errors.
func TestFilterUsageErrors(t *testing.T) {
	s := newSandbox(t)
	src := s.path("src")
	writeFile(t, filepath.Join(src, "a"), []byte("a"))
	for _, tt := range []struct {
		args []string
		msg  string
	}{
		{[]string{"cp", "-y", "--include", "*", filepath.Join(src, "a"), s.path("x")}, "use them with cp -r or sync"},
		{[]string{"cp", "-r", "-y", "--exclude", "[", src, s.path("x")}, `exclude pattern "["`},
		{[]string{"sync", "--files-from", "-", src, s.path("x")}, "pass -y"},
		{[]string{"sync", "-y", "--files-from", s.path("missing"), src, s.path("x")}, "--files-from"},
	} {
		r := s.run(nil, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.msg) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.msg)
		}
	}
}
