package local

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store { return New(t.TempDir()) }, objstoretest.NoFolderMarkers())
}

func md5sum(b []byte) []byte { h := md5.Sum(b); return h[:] }

func put(t *testing.T, s objstore.Store, key, data string) {
	t.Helper()
	if err := s.Write(t.Context(), key, strings.NewReader(data), int64(len(data)), md5sum([]byte(data))); err != nil {
		t.Fatalf("Write(%q): %v", key, err)
	}
}

func listKeys(t *testing.T, s objstore.Store, prefix string) []string {
	t.Helper()
	var ks []string
	for o, err := range s.List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		ks = append(ks, o.Key)
	}
	return ks
}

// dirEntries lists every name under root (for checking that nothing is left behind).
func dirEntries(t *testing.T, root string) []string {
	t.Helper()
	var names []string
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if p != root {
			rel, _ := filepath.Rel(root, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	return names
}

func TestListOrderDotVersusSlash(t *testing.T) {
	s := New(t.TempDir())
	for _, k := range []string{"a/b", "a.txt", "a0", "a-b", "a/b.c/d", "a/b-c", "a/b/c", "b"} {
		if k == "a/b/c" {
			continue // "a/b" is a file
		}
		put(t, s, k, k)
	}
	want := []string{"a-b", "a.txt", "a/b", "a/b-c", "a/b.c/d", "a0", "b"}
	if got := listKeys(t, s, ""); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if got := listKeys(t, s, "a/b"); !slices.Equal(got, []string{"a/b", "a/b-c", "a/b.c/d"}) {
		t.Errorf("List(a/b) = %q", got)
	}
}

func TestTempAndStagingFilesInvisible(t *testing.T) {
	root := t.TempDir()
	s := objstore.Portable(New(root)) // sorted answers, as callers get them
	put(t, s, "d/real", "x")
	if err := os.MkdirAll(filepath.Join(root, "d", stagingName), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".skyplane-tmp-123", "d/.skyplane-tmp-abc", "d/" + stagingName + "/" + mpuPrefix + "00000000000000000000000000000000-x"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte("junk"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "d/.skyplane-mpu-x.parts/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "d/.skyplane-mpu-x.parts/sub/f"), nil, 0o644)
	id, err := s.InitiateMultipart(t.Context(), "d/pending")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadPart(t.Context(), "d/pending", id, objstore.Part{Number: 1, Size: 3}, strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	if got := listKeys(t, s, ""); !slices.Equal(got, []string{"d/real"}) {
		t.Errorf("List = %q, want only d/real", got)
	}
	for _, k := range []string{".skyplane-tmp-123", "d/.skyplane-tmp-abc", "d/pending"} {
		if _, err := s.Head(t.Context(), k); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Head(%q) = %v, want ErrNotFound", k, err)
		}
	}
	if err := s.Write(t.Context(), "d/.skyplane-tmp-abc", strings.NewReader(""), 0, nil); !errors.Is(err, objstore.ErrNotSupported) {
		t.Errorf("Write of a reserved name: %v, want ErrNotSupported", err)
	}
	ups, err := s.ListMultipartUploads(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []objstore.Upload{{Key: "d/pending", UploadID: id}, {Key: "d/x", UploadID: "00000000000000000000000000000000"}}; !slices.Equal(ups, want) {
		t.Errorf("ListMultipartUploads = %+v, want %+v", ups, want)
	}
}

func TestWriteLeavesNoTempFiles(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	// Short source.
	err := s.Write(t.Context(), "a/short", strings.NewReader("abc"), 10, nil)
	if err == nil || !strings.Contains(err.Error(), "3 of 10") {
		t.Errorf("Write with a short source: %v", err)
	}
	// Wrong MD5.
	err = s.Write(t.Context(), "a/bad", strings.NewReader("abc"), 3, md5sum([]byte("abd")))
	if !errors.Is(err, objstore.ErrChecksumMismatch) || !strings.Contains(err.Error(), filepath.Join(root, "a/bad")) {
		t.Errorf("Write with a wrong MD5: %v", err)
	}
	// Cancelled context.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Write(ctx, "a/cancelled", strings.NewReader("abc"), 3, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Write with a cancelled context: %v", err)
	}
	if got := dirEntries(t, root); !slices.Equal(got, []string{"a"}) {
		t.Errorf("left behind: %q", got)
	}
	put(t, s, "a/ok", "abc")
	fi, err := os.Stat(filepath.Join(root, "a/ok"))
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("written file: %v, mode %v, want 0644", err, fi.Mode())
	}
}

func TestInvalidKeys(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	os.Mkdir(root, 0o755)
	os.WriteFile(filepath.Join(parent, "secret"), []byte("s"), 0o644)
	s := New(root)
	for _, k := range []string{"", "../secret", "a/../../secret", "a//b", "/abs", "./x", "a/./b", "nul\x00"} {
		if err := s.Write(t.Context(), k, strings.NewReader("x"), 1, nil); !errors.Is(err, objstore.ErrNotSupported) {
			t.Errorf("Write(%q) = %v, want ErrNotSupported", k, err)
		}
		if _, err := s.Head(t.Context(), k); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Head(%q) = %v, want ErrNotFound", k, err)
		}
		if _, err := s.Read(t.Context(), k, 0, -1); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Read(%q) = %v, want ErrNotFound", k, err)
		}
		if _, err := s.InitiateMultipart(t.Context(), k); err == nil {
			t.Errorf("InitiateMultipart(%q) succeeded", k)
		}
	}
	if got := listKeys(t, s, "../"); got != nil {
		t.Errorf("List(../) = %q, want nothing", got)
	}
	if got := dirEntries(t, parent); !slices.Equal(got, []string{"root", "secret"}) {
		t.Errorf("parent now holds %q", got)
	}
}

func TestFolderMarkerKeys(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	if err := s.Write(t.Context(), "dir/sub/", strings.NewReader(""), 0, nil); err != nil {
		t.Fatalf("Write(dir/sub/) size 0: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(root, "dir/sub")); err != nil || !fi.IsDir() {
		t.Errorf("Write(dir/sub/) did not create the directory: %v", err)
	}
	if err := s.Write(t.Context(), "dir/x/", strings.NewReader("abc"), 3, nil); !errors.Is(err, objstore.ErrNotSupported) {
		t.Errorf("Write(dir/x/) with content: %v, want ErrNotSupported", err)
	}
	if _, err := s.Head(t.Context(), "dir/sub/"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head(dir/sub/) = %v, want ErrNotFound", err)
	}
	if _, err := s.Head(t.Context(), "dir/sub"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head(dir/sub) (a directory) = %v, want ErrNotFound", err)
	}
	if got := listKeys(t, s, ""); got != nil {
		t.Errorf("List = %q, want nothing", got)
	}
	if err := s.Delete(t.Context(), "dir/sub"); err != nil {
		t.Errorf("Delete(dir/sub) (a directory): %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "dir/sub")); err != nil {
		t.Errorf("Delete(dir/sub) removed the directory")
	}
	if err := s.Delete(t.Context(), "dir/sub/"); err != nil {
		t.Errorf("Delete(dir/sub/): %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "dir/sub")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete(dir/sub/) left the empty directory: %v", err)
	}
	put(t, s, "dir/f", "x")
	if err := s.Delete(t.Context(), "dir/"); err != nil {
		t.Errorf("Delete(dir/) of a non-empty directory: %v", err)
	}
	if got := listKeys(t, s, ""); !slices.Equal(got, []string{"dir/f"}) {
		t.Errorf("List = %q", got)
	}
}

func TestSymlinks(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	put(t, s, "real/file", "target content")
	if err := os.Symlink(filepath.Join(root, "real/file"), filepath.Join(root, "link-file")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "real"), filepath.Join(root, "link-dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(root, "real/loop")); err != nil {
		t.Fatal(err)
	}
	if got, want := listKeys(t, s, ""), []string{"link-file", "real/file"}; !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	o, err := s.Head(t.Context(), "link-file")
	if err != nil || o.Size != int64(len("target content")) {
		t.Errorf("Head(link-file) = %+v, %v", o, err)
	}
	rc, err := s.Read(t.Context(), "link-file", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if string(b) != "target content" {
		t.Errorf("Read(link-file) = %q", b)
	}
	// A prefix that names a symlinked directory is followed: the user asked for it.
	if got := listKeys(t, s, "link-dir/"); !slices.Equal(got, []string{"link-dir/file"}) {
		t.Errorf("List(link-dir/) = %q", got)
	}
	// A dangling link is an error naming it: skipping it would lose data
	// without a word.
	broken := filepath.Join(root, "broken")
	if err := os.Symlink(filepath.Join(root, "nowhere"), broken); err != nil {
		t.Fatal(err)
	}
	var listErr error
	for _, err := range s.List(t.Context(), "") {
		if err != nil {
			listErr = err
			break
		}
	}
	if listErr == nil || !strings.Contains(listErr.Error(), broken) {
		t.Errorf("listing a tree with a dangling link: err = %v, want one naming %s", listErr, broken)
	}
}

func TestListMissingPrefix(t *testing.T) {
	s := New(t.TempDir())
	put(t, s, "f", "x")
	for _, p := range []string{"nope/", "nope/deeper/", "f/", "f/x", "zzz"} {
		if got := listKeys(t, s, p); got != nil {
			t.Errorf("List(%q) = %q, want nothing", p, got)
		}
	}
	if got := listKeys(t, New(filepath.Join(t.TempDir(), "missing-root")), ""); got != nil {
		t.Errorf("List of a missing root = %q", got)
	}
}

func TestListUnreadableDirectory(t *testing.T) {
	// We run as root, where mode 0000 does not deny reads: simulate EACCES.
	root := t.TempDir()
	s := New(root)
	put(t, s, "a/1", "x")
	put(t, s, "b/locked/2", "x")
	put(t, s, "c/3", "x")
	locked := filepath.Join(root, "b", "locked")
	orig := readDir
	readDir = func(name string) ([]os.DirEntry, error) {
		if name == locked {
			return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
		}
		return orig(name)
	}
	t.Cleanup(func() { readDir = orig })
	var got []string
	var gotErr error
	for o, err := range s.List(t.Context(), "") {
		if err != nil {
			gotErr = err
			continue
		}
		got = append(got, o.Key)
	}
	if !slices.Equal(got, []string{"a/1"}) {
		t.Errorf("List before the error = %q, want [a/1]", got)
	}
	if !errors.Is(gotErr, objstore.ErrAccessDenied) || !strings.Contains(gotErr.Error(), locked) {
		t.Errorf("List error = %v, want ErrAccessDenied naming %s", gotErr, locked)
	}
	if _, err := s.ListMultipartUploads(t.Context(), ""); !errors.Is(err, objstore.ErrAccessDenied) {
		t.Errorf("ListMultipartUploads error = %v, want ErrAccessDenied", err)
	}
}

func TestListEarlyStopNoLeak(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	for i := range 200 {
		p := filepath.Join(root, fmt.Sprintf("d%02d", i%10), fmt.Sprintf("f%03d", i))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
	}
	before := runtime.NumGoroutine()
	for range 50 {
		n := 0
		for _, err := range s.List(t.Context(), "") {
			if err != nil {
				t.Fatal(err)
			}
			if n++; n == 5 {
				break
			}
		}
		next, stop := iter.Pull2(s.List(t.Context(), "d03/"))
		if o, err, ok := next(); !ok || err != nil || o.Key != "d03/f003" {
			t.Fatalf("first of List(d03/) = %+v, %v, %v", o, err, ok)
		}
		stop()
	}
	time.Sleep(10 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines: %d before, %d after stopping listings early", before, after)
	}
}

func TestListCancelled(t *testing.T) {
	s := New(t.TempDir())
	put(t, s, "a/b", "x")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var gotErr error
	for _, err := range s.List(ctx, "") {
		gotErr = err
	}
	if !errors.Is(gotErr, context.Canceled) {
		t.Errorf("List with a cancelled context: %v", gotErr)
	}
}

func TestMultipartConcurrentHandles(t *testing.T) {
	root := t.TempDir()
	const parts, size = 8, 256 << 10
	data := make([]byte, parts*size)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	id, err := New(root).InitiateMultipart(t.Context(), "x/obj")
	if err != nil {
		t.Fatal(err)
	}
	// Two "processes": separate stores (and file handles) writing interleaved parts.
	var wg sync.WaitGroup
	etags := make([]string, parts)
	errs := make([]error, parts)
	for w := range 2 {
		wg.Go(func() {
			s := New(root)
			for i := parts - 1 - w; i >= 0; i -= 2 {
				chunk := data[i*size : (i+1)*size]
				etags[i], errs[i] = s.UploadPart(t.Context(), "x/obj", id, objstore.Part{Number: i + 1, Offset: int64(i * size), Size: size, MD5: md5sum(chunk)}, bytes.NewReader(chunk))
			}
		})
	}
	wg.Wait()
	var ps []objstore.Part
	for i := range parts {
		if errs[i] != nil {
			t.Fatalf("part %d: %v", i+1, errs[i])
		}
		ps = append(ps, objstore.Part{Number: i + 1, Offset: int64(i * size), Size: size, ETag: etags[i]})
	}
	slices.Reverse(ps) // any order
	if err := objstore.Portable(New(root)).CompleteMultipart(t.Context(), "x/obj", id, ps); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "x/obj"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("completed object differs (%v)", err)
	}
	if got := dirEntries(t, root); !slices.Equal(got, []string{"x", "x/obj"}) {
		t.Errorf("left behind: %q", got)
	}
}

func TestMultipartValidation(t *testing.T) {
	root := t.TempDir()
	s := objstore.Portable(New(root))
	ctx := t.Context()
	key := "m/obj"
	id, err := s.InitiateMultipart(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	up := func(n int, off int64, data string) string {
		t.Helper()
		etag, err := s.UploadPart(ctx, key, id, objstore.Part{Number: n, Offset: off, Size: int64(len(data)), MD5: md5sum([]byte(data))}, strings.NewReader(data))
		if err != nil {
			t.Fatalf("UploadPart %d: %v", n, err)
		}
		return etag
	}
	e1 := up(1, 0, "hello ")
	e2 := up(2, 6, "world")
	if e1 != fmt.Sprintf("%x", md5sum([]byte("hello "))) {
		t.Errorf("etag %q is not the hex MD5 of the part", e1)
	}
	p1 := objstore.Part{Number: 1, Offset: 0, Size: 6, ETag: e1}
	p2 := objstore.Part{Number: 2, Offset: 6, Size: 5, ETag: e2}
	p3 := objstore.Part{Number: 3, Offset: 11, Size: 1}
	for name, tc := range map[string]struct {
		parts []objstore.Part
		want  string
	}{
		"none":         {nil, "no parts"},
		"gap":          {[]objstore.Part{p1, {Number: 2, Offset: 7, Size: 4, ETag: e2}}, "contiguous"},
		"not at 0":     {[]objstore.Part{p2}, "contiguous"},
		"never landed": {[]objstore.Part{p1, p2, p3}, "never uploaded"},
		"duplicate":    {[]objstore.Part{p1, p1}, "twice"},
		"wrong etag":   {[]objstore.Part{p1, {Number: 2, Offset: 6, Size: 5, ETag: e1}}, "etag"},
		"wrong size":   {[]objstore.Part{p1, {Number: 2, Offset: 6, Size: 4, ETag: e2}}, "uploaded at"},
	} {
		if err := s.CompleteMultipart(ctx, key, id, tc.parts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: CompleteMultipart = %v, want an error about %q", name, err, tc.want)
		}
	}
	// A rewritten part with a bad MD5 un-lands it until it is sent correctly.
	if _, err := s.UploadPart(ctx, key, id, objstore.Part{Number: 2, Offset: 6, Size: 5, MD5: md5sum([]byte("xxxxx"))}, strings.NewReader("WORLD")); !errors.Is(err, objstore.ErrChecksumMismatch) {
		t.Fatalf("bad part: %v", err)
	}
	if err := s.CompleteMultipart(ctx, key, id, []objstore.Part{p1, p2}); err == nil {
		t.Errorf("CompleteMultipart succeeded after part 2 was overwritten by a rejected upload")
	}
	up(2, 6, "world")
	// A part uploaded larger earlier and shorter now: the file is truncated to the parts.
	if err := s.CompleteMultipart(ctx, key, id, []objstore.Part{p2, p1}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, key))
	if string(b) != "hello world" {
		t.Errorf("object = %q", b)
	}
	// The upload is gone now.
	if err := s.CompleteMultipart(ctx, key, id, []objstore.Part{p1, p2}); !errors.Is(err, objstore.ErrUploadNotFound) {
		t.Errorf("second CompleteMultipart = %v, want ErrUploadNotFound", err)
	}
	if _, err := s.UploadPart(ctx, key, id, p1, strings.NewReader("hello ")); !errors.Is(err, objstore.ErrUploadNotFound) {
		t.Errorf("UploadPart after complete = %v, want ErrUploadNotFound", err)
	}
	if err := s.AbortMultipart(ctx, key, id); err != nil {
		t.Errorf("AbortMultipart of a finished upload = %v, want nil (idempotent)", err)
	}
	for _, bad := range []string{"", "../../etc", "ZZ", strings.Repeat("A", 32)} {
		if _, err := s.UploadPart(ctx, key, bad, p1, strings.NewReader("hello ")); !errors.Is(err, objstore.ErrUploadNotFound) {
			t.Errorf("UploadPart with upload id %q = %v, want ErrUploadNotFound", bad, err)
		}
	}
	if got := dirEntries(t, root); !slices.Equal(got, []string{"m", "m/obj"}) {
		t.Errorf("left behind: %q", got)
	}
}

func TestMultipartUploadsListing(t *testing.T) {
	s := objstore.Portable(New(t.TempDir()))
	ctx := t.Context()
	var want []objstore.Upload
	for _, k := range []string{"a/b/c", "a/bb", "a/b", "z", "a/x/y/z"} {
		id, err := s.InitiateMultipart(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, objstore.Upload{Key: k, UploadID: id})
	}
	slices.SortFunc(want, func(a, b objstore.Upload) int { return strings.Compare(a.Key, b.Key) })
	all, err := s.ListMultipartUploads(ctx, "")
	if err != nil || !slices.Equal(all, want) {
		t.Errorf("ListMultipartUploads(\"\") = %+v, %v; want %+v", all, err, want)
	}
	for prefix, n := range map[string]int{"a/": 4, "a/b": 3, "a/b/": 1, "a/bb": 1, "a/x/": 1, "q": 0, "nope/": 0} {
		ups, err := s.ListMultipartUploads(ctx, prefix)
		if err != nil || len(ups) != n {
			t.Errorf("ListMultipartUploads(%q) = %+v, %v; want %d uploads", prefix, ups, err, n)
		}
		for _, u := range ups {
			if !strings.HasPrefix(u.Key, prefix) {
				t.Errorf("ListMultipartUploads(%q) returned %q", prefix, u.Key)
			}
		}
	}
}

func TestBucketExistsAndURL(t *testing.T) {
	dir := t.TempDir()
	if err := New(dir).BucketExists(t.Context()); err != nil {
		t.Errorf("BucketExists(%s) = %v", dir, err)
	}
	missing := filepath.Join(dir, "missing")
	if err := New(missing).BucketExists(t.Context()); !errors.Is(err, objstore.ErrBucketNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("BucketExists(missing) = %v", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o644)
	if err := New(file).BucketExists(t.Context()); !errors.Is(err, objstore.ErrBucketNotFound) {
		t.Errorf("BucketExists(file) = %v", err)
	}
	if u := New("/").URL(); u != "file:///" {
		t.Errorf("URL of / = %q", u)
	}
	if u := New(dir).URL(); u != "file://"+dir {
		t.Errorf("URL = %q", u)
	}
}

func TestOpenThroughRegistry(t *testing.T) {
	dir := t.TempDir()
	loc, err := objstore.ParseURL(dir + "/sub/file.txt")
	if err != nil {
		t.Fatal(err)
	}
	st, err := objstore.Open(t.Context(), loc, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.URL() != "file:///" {
		t.Errorf("URL = %q", st.URL())
	}
	if err := st.Write(t.Context(), loc.Key, strings.NewReader("hi"), 2, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "sub/file.txt"))
	if err != nil || string(b) != "hi" {
		t.Errorf("file = %q, %v", b, err)
	}
	dirLoc, _ := objstore.ParseURL(dir + "/")
	var ks []string
	for o, err := range st.List(t.Context(), dirLoc.Key) {
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, o.Key)
	}
	if !slices.Equal(ks, []string{loc.Key}) {
		t.Errorf("List(%q) = %q, want [%q]", dirLoc.Key, ks, loc.Key)
	}
}

func TestReadRanges(t *testing.T) {
	s := New(t.TempDir())
	put(t, s, "r", "0123456789")
	for _, tc := range []struct {
		off, n int64
		want   string
	}{{0, -1, "0123456789"}, {3, 4, "3456"}, {8, 100, "89"}, {10, 0, ""}, {10, -1, ""}} {
		rc, err := s.Read(t.Context(), "r", tc.off, tc.n)
		if err != nil {
			t.Fatalf("Read(%d, %d): %v", tc.off, tc.n, err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != tc.want {
			t.Errorf("Read(%d, %d) = %q, want %q", tc.off, tc.n, b, tc.want)
		}
	}
	if _, err := s.Read(t.Context(), "r", 11, 1); err == nil {
		t.Errorf("Read past the end succeeded")
	}
	if _, err := s.Read(t.Context(), "r", -1, 1); err == nil {
		t.Errorf("Read at a negative offset succeeded")
	}
}

// TestReadVersionInPlaceRewrite: a file rewritten in place while a pinned
// read is under way (same inode, same size) fails the read at its end.
func TestReadVersionInPlaceRewrite(t *testing.T) {
	dir := t.TempDir()
	s := New(dir)
	ctx := t.Context()
	if err := s.Write(ctx, "f", strings.NewReader("0123456789"), 10, nil); err != nil {
		t.Fatal(err)
	}
	o, err := s.Head(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := s.ReadVersion(ctx, "f", o.Version, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("abcdefghij"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Timestamps may be coarser than the time between the two writes.
	later := o.ModTime.Add(time.Second)
	if err := os.Chtimes(filepath.Join(dir, "f"), later, later); err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(rc); !errors.Is(err, objstore.ErrChanged) {
		t.Fatalf("pinned read of a file rewritten in place = %q, %v; want ErrChanged", b, err)
	}
}
