package chunk

import (
	"strings"
	"testing"
)

func TestListPrefix(t *testing.T) {
	for _, tc := range []struct {
		src       string
		recursive bool
		want      string
	}{
		{"foo", true, "foo/"},
		{"foo/", true, "foo/"},
		{"foo//", true, "foo/"},
		{"a/b/c", true, "a/b/c/"},
		{"", true, ""},
		{"/", true, ""},
		{"//", true, ""},
		{"foo", false, "foo"},
		{"foo/", false, "foo/"},
		{"a/b.txt", false, "a/b.txt"},
	} {
		if got := NewMapping(tc.src, "dst", tc.recursive).ListPrefix(); got != tc.want {
			t.Errorf("NewMapping(%q, recursive=%v).ListPrefix() = %q, want %q", tc.src, tc.recursive, got, tc.want)
		}
	}
}

func TestDest(t *testing.T) {
	for _, tc := range []struct {
		src, dst  string
		recursive bool
		key       string
		want      string // "" with wantErr
		wantErr   string
	}{
		// Not recursive: the key must equal the source.
		{src: "a/b/file.txt", dst: "", key: "a/b/file.txt", want: "file.txt"},
		{src: "a/b/file.txt", dst: "/", key: "a/b/file.txt", want: "file.txt"},
		{src: "file.txt", dst: "", key: "file.txt", want: "file.txt"},
		{src: "a/b/file.txt", dst: "out/", key: "a/b/file.txt", want: "out/file.txt"},
		{src: "a/b/file.txt", dst: "x/y/", key: "a/b/file.txt", want: "x/y/file.txt"},
		{src: "a/b/file.txt", dst: "renamed.txt", key: "a/b/file.txt", want: "renamed.txt"},
		{src: "a/b/file.txt", dst: "x/renamed", key: "a/b/file.txt", want: "x/renamed"},
		{src: "a/dir/", dst: "", key: "a/dir/", want: "dir/"},
		{src: "a/dir/", dst: "out/", key: "a/dir/", want: "out/dir/"},
		{src: "foo", dst: "", key: "foo/a", wantErr: "not the object"},
		{src: "foo", dst: "x", key: "foobar", wantErr: "not the object"},
		{src: "", dst: "x", key: "", wantErr: "no base name"},
		// Recursive: a folder; one "/" between destination and remainder.
		{src: "foo", dst: "bar", recursive: true, key: "foo/a", want: "bar/a"},
		{src: "foo", dst: "bar/", recursive: true, key: "foo/a", want: "bar/a"},
		{src: "foo/", dst: "bar//", recursive: true, key: "foo/a/b/c", want: "bar/a/b/c"},
		{src: "foo", dst: "", recursive: true, key: "foo/a/b", want: "a/b"},
		{src: "foo", dst: "/", recursive: true, key: "foo/a/b", want: "a/b"},
		{src: "foo", dst: "bar", recursive: true, key: "foobar/a", wantErr: "not under the folder \"foo/\""},
		{src: "foo", dst: "bar", recursive: true, key: "foobar", wantErr: "not under"},
		{src: "foo", dst: "bar", recursive: true, key: "foo", wantErr: "not under"},
		{src: "foo", dst: "bar", recursive: true, key: "fo", wantErr: "not under"},
		{src: "", dst: "", recursive: true, key: "x/y", want: "x/y"},
		{src: "/", dst: "backup", recursive: true, key: "x/y", want: "backup/x/y"},
		{src: "", dst: "backup/", recursive: true, key: "top", want: "backup/top"},
		{src: "a/b", dst: "c/d", recursive: true, key: "a/b/ünï code +x", want: "c/d/ünï code +x"},
		// Folder marker equal to the prefix itself.
		{src: "foo", dst: "bar", recursive: true, key: "foo/", want: "bar/"},
		{src: "foo/", dst: "bar/", recursive: true, key: "foo/", want: "bar/"},
		{src: "foo", dst: "", recursive: true, key: "foo/", want: ""},
		// Nested folder markers keep their slash.
		{src: "foo", dst: "bar", recursive: true, key: "foo/sub/", want: "bar/sub/"},
		// Local paths (ParseURL keys: absolute without the leading "/").
		{src: "home/me/data", dst: "tmp/out", recursive: true, key: "home/me/data/x.bin", want: "tmp/out/x.bin"},
		{src: "home/me/data/x.bin", dst: "", key: "home/me/data/x.bin", want: "x.bin"},
	} {
		m := NewMapping(tc.src, tc.dst, tc.recursive)
		got, err := m.Dest(tc.key)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("NewMapping(%q, %q, %v).Dest(%q) = %q, %v; want error containing %q", tc.src, tc.dst, tc.recursive, tc.key, got, err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), tc.key) {
				t.Errorf("Dest(%q) error %q does not name the key", tc.key, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NewMapping(%q, %q, %v).Dest(%q) = %q, %v; want %q", tc.src, tc.dst, tc.recursive, tc.key, got, err, tc.want)
		}
	}
}

// Every key a recursive listing of ListPrefix returns maps without error.
func TestDestCoversListPrefix(t *testing.T) {
	for _, src := range []string{"", "/", "foo", "foo/", "a/b/"} {
		m := NewMapping(src, "d", true)
		key := m.ListPrefix() + "k/v"
		if got, err := m.Dest(key); err != nil || got != "d/k/v" {
			t.Errorf("NewMapping(%q).Dest(%q) = %q, %v; want d/k/v", src, key, got, err)
		}
	}
	if !NewMapping("a", "b", true).Recursive() || NewMapping("a", "b", false).Recursive() {
		t.Error("Recursive() wrong")
	}
}
