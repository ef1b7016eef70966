package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeyMapping drives the key-mapping rules (docs/cli.md) through the binary on local disk.
func TestKeyMapping(t *testing.T) {
	tests := []struct {
		name      string
		args      func(src, dst string) []string
		wantFiles []string // relative to dst, exactly these
		wantCode  int
		wantErr   string
	}{
		{"object into folder (trailing slash)", func(src, dst string) []string { return []string{src + "/foo/a", dst + "/"} },
			[]string{"a"}, 0, ""},
		{"object to exact key", func(src, dst string) []string { return []string{src + "/foo/a", dst + "/renamed"} },
			[]string{"renamed"}, 0, ""},
		{"recursive prefix is a folder: foo matches foo/ not foobar/", func(src, dst string) []string { return []string{"-r", src + "/foo", dst + "/out"} },
			[]string{"out/a", "out/sub/b"}, 0, ""},
		{"recursive with trailing slashes", func(src, dst string) []string { return []string{"-r", src + "/foo/", dst + "/out/"} },
			[]string{"out/a", "out/sub/b"}, 0, ""},
		{"recursive foobar", func(src, dst string) []string { return []string{"-r", src + "/foobar", dst} },
			[]string{"a"}, 0, ""},
		{"folder without -r", func(src, dst string) []string { return []string{src + "/foo", dst + "/x"} },
			nil, 1, "no such object"},
		{"prefix with trailing slash without -r", func(src, dst string) []string { return []string{src + "/foo/", dst + "/x"} },
			nil, 1, "use -r"},
		{"missing object", func(src, dst string) []string { return []string{src + "/nope", dst + "/x"} },
			nil, 1, "no such object"},
		{"empty prefix", func(src, dst string) []string { return []string{"-r", src + "/fo", dst} },
			nil, 1, "no objects found at prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			src, dst := s.path("src"), s.path("dst")
			writeFile(t, filepath.Join(src, "foo/a"), []byte("foo-a"))
			writeFile(t, filepath.Join(src, "foo/sub/b"), []byte("foo-sub-b"))
			writeFile(t, filepath.Join(src, "foobar/a"), []byte("foobar-a"))
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			r := s.run(nil, append([]string{"cp", "-y"}, tt.args(src, dst)...)...)
			if r.code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.wantCode, r.stdout, r.stderr)
			}
			if tt.wantErr != "" && !strings.Contains(r.stderr, tt.wantErr) {
				t.Errorf("stderr %q does not contain %q", r.stderr, tt.wantErr)
			}
			if strings.Contains(tt.wantErr, "no such object") && !strings.Contains(r.stderr, "-r") {
				t.Errorf("missing-object error has no -r hint: %s", r.stderr)
			}
			got := listTree(t, dst)
			if len(got) != len(tt.wantFiles) {
				t.Errorf("destination holds %v, want %v", got, tt.wantFiles)
			}
			for _, f := range tt.wantFiles {
				if _, ok := got[f]; !ok {
					t.Errorf("destination lacks %s (has %v)", f, got)
				}
			}
			// Content follows the mapping: out/a is foo/a, not foobar/a.
			if b, err := os.ReadFile(filepath.Join(dst, "out/a")); err == nil && string(b) != "foo-a" {
				t.Errorf("out/a = %q, want foo-a", b)
			}
		})
	}
}

func TestSync(t *testing.T) {
	s := newSandbox(t)
	src, dst := s.path("src"), s.path("dst")
	for _, n := range []string{"a", "b", "dir/c", "dir/d", "dir/sub/e"} {
		writeFile(t, filepath.Join(src, n), []byte("content of "+n))
	}
	objects := func(r result) float64 { return doneEvent(t, r.stdout)["objects"].(float64) }

	r := s.mustRun("sync", "-y", "--json", src, dst)
	if got := objects(r); got != 5 {
		t.Fatalf("first sync copied %v objects, want 5", got)
	}
	assertTreesEqual(t, src, dst)

	r = s.mustRun("sync", "-y", "--json", src, dst)
	if got := objects(r); got != 0 {
		t.Errorf("second sync copied %v objects, want 0", got)
	}
	// Without -y, the preview finds nothing and no gateway even starts.
	r = s.mustRun("sync", src, dst)
	if !strings.Contains(r.stdout, "up to date") {
		t.Errorf("interactive sync of an up-to-date tree says:\n%s", r.stdout)
	}

	// A touched source file (newer) and a destination file of another size.
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(src, "dir/c"), future, future); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dst, "b"), []byte("tampered, longer than before"))
	before := readFile(t, filepath.Join(dst, "a"))
	r = s.mustRun("sync", "-y", "--json", src, dst)
	if got := objects(r); got != 2 {
		t.Errorf("sync after touch copied %v objects, want 2 (dir/c newer, b size differs)", got)
	}
	assertTreesEqual(t, src, dst)
	if readFile(t, filepath.Join(dst, "a")) != before {
		t.Error("untouched file changed")
	}

	// Extras at the destination: kept without --delete, listed by a dry
	// run, removed with --delete.
	writeFile(t, filepath.Join(dst, "extra"), []byte("x"))
	writeFile(t, filepath.Join(dst, "dir/zz-extra"), []byte("x"))
	s.mustRun("sync", "-y", src, dst)
	if _, err := os.Stat(filepath.Join(dst, "extra")); err != nil {
		t.Error("sync without --delete removed an extra file")
	}
	writeFile(t, filepath.Join(src, "new"), []byte("new file"))
	r = s.mustRun("sync", "--delete", "--dry-run", src, dst)
	for _, want := range []string{"copy " + src + "/new", "delete " + dst + "/extra", "delete " + dst + "/dir/zz-extra", "nothing was changed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, r.stdout)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "new")); err == nil {
		t.Error("dry run copied a file")
	}
	if _, err := os.Stat(filepath.Join(dst, "extra")); err != nil {
		t.Error("dry run deleted a file")
	}
	r = s.mustRun("sync", "-y", "--delete", "--json", src, dst)
	if d := doneEvent(t, r.stdout)["deleted"].(float64); d != 2 {
		t.Errorf("deleted %v, want 2", d)
	}
	assertTreesEqual(t, src, dst)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
