// Package objstoretest is the conformance suite every objstore backend runs
// unchanged (local disk here; S3, GCS and Azure against their emulators).
//
//	func TestConformance(t *testing.T) {
//		objstoretest.Run(t, func(t *testing.T) objstore.Store { return local.New(t.TempDir()) },
//			objstoretest.NoFolderMarkers())
//	}
//
// newStore is called once per Run and must return an empty, fresh bucket.
// Every subtest uses its own key prefix, so they share that bucket.
package objstoretest

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Option adjusts the suite to a backend's known limits.
type Option func(*options)

type options struct {
	noFolderMarkers bool
}

// NoFolderMarkers skips the test of keys ending in "/" (folder markers) for
// stores that cannot hold content there, such as a file system.
func NoFolderMarkers() Option { return func(o *options) { o.noFolderMarkers = true } }

const mib = 1 << 20

// Run runs the conformance suite against the store newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) objstore.Store, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// What callers get: the driver under objstore's portable layer.
	s := objstore.Portable(newStore(t))
	tests := []struct {
		name string
		fn   func(t *testing.T, s objstore.Store)
		skip bool
	}{
		{"BucketExists", testBucketExists, false},
		{"WriteHeadRead", testWriteHeadRead, false},
		{"RangedRead", testRangedRead, false},
		{"ZeroByte", testZeroByte, false},
		{"Missing", testMissing, false},
		{"WriteChecksumMismatch", testWriteChecksumMismatch, false},
		{"ListManyKeys", testListManyKeys, false},
		{"ListPrefix", testListPrefix, false},
		{"ListEarlyStop", testListEarlyStop, false},
		{"SpecialKeys", testSpecialKeys, false},
		{"FolderMarkers", testFolderMarkers, o.noFolderMarkers},
		{"Multipart", testMultipart, false},
		{"MultipartChecksumMismatch", testMultipartChecksumMismatch, false},
		{"MultipartAbort", testMultipartAbort, false},
		{"MultipartIncompleteInvisible", testMultipartIncomplete, false},
		{"Delete", testDelete, false},
		{"Overwrite", testOverwrite, false},
		{"PinnedRead", testPinnedRead, false},
		{"ReportedChecksums", testReportedChecksums, false},
		{"EmptyKey", testEmptyKey, false},
		{"UploadsSorted", testUploadsSorted, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.skip {
				t.Skip("backend does not support this (option)")
			}
			tc.fn(t, s)
		})
	}
}

// --- helpers ---

func randBytes(seed uint64, n int) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	rand.NewChaCha8(s).Read(b)
	return b
}

func sum(b []byte) []byte {
	h := md5.Sum(b)
	return h[:]
}

func write(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Write(t.Context(), key, bytes.NewReader(data), int64(len(data)), sum(data)); err != nil {
		t.Fatalf("Write(%q, %d bytes): %v", key, len(data), err)
	}
}

// ReadAll reads a whole object, failing the test on any error.
func ReadAll(t testing.TB, s objstore.Store, key string) []byte {
	t.Helper()
	return read(t, s, key, 0, -1)
}

func read(t testing.TB, s objstore.Store, key string, off, n int64) []byte {
	t.Helper()
	rc, err := s.Read(t.Context(), key, off, n)
	if err != nil {
		t.Fatalf("Read(%q, %d, %d): %v", key, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("Read(%q, %d, %d): reading body: %v", key, off, n, err)
	}
	return b
}

// List lists a prefix in full, failing the test on any error.
func List(t testing.TB, s objstore.Store, prefix string) []objstore.Object {
	t.Helper()
	var objs []objstore.Object
	for o, err := range s.List(t.Context(), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		objs = append(objs, o)
	}
	return objs
}

func keys(objs []objstore.Object) []string {
	ks := make([]string, len(objs))
	for i, o := range objs {
		ks[i] = o.Key
	}
	return ks
}

func wantKeys(t *testing.T, s objstore.Store, prefix string, want []string) {
	t.Helper()
	got := keys(List(t, s, prefix))
	if !slices.Equal(got, want) {
		t.Errorf("List(%q) = %q, want %q", prefix, got, want)
	}
}

func wantNotFound(t *testing.T, s objstore.Store, key string) {
	t.Helper()
	if o, err := s.Head(t.Context(), key); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head(%q) = %+v, %v; want an error wrapping ErrNotFound", key, o, err)
	}
}

func wantHead(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	o, err := s.Head(t.Context(), key)
	if err != nil {
		t.Fatalf("Head(%q): %v", key, err)
	}
	if o.Key != key || o.Size != int64(len(data)) {
		t.Errorf("Head(%q) = key %q size %d, want size %d", key, o.Key, o.Size, len(data))
	}
	if o.MD5 != nil && !bytes.Equal(o.MD5, sum(data)) {
		t.Errorf("Head(%q).MD5 = %x, want %x", key, o.MD5, sum(data))
	}
}

func wantContent(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if got := read(t, s, key, 0, -1); !bytes.Equal(got, data) {
		t.Errorf("Read(%q) returned %d bytes (md5 %x), want %d bytes (md5 %x)", key, len(got), sum(got), len(data), sum(data))
	}
}

// --- tests ---

func testBucketExists(t *testing.T, s objstore.Store) {
	if err := s.BucketExists(t.Context()); err != nil {
		t.Fatalf("BucketExists: %v", err)
	}
	if s.URL() == "" {
		t.Error("URL() is empty")
	}
}

func testWriteHeadRead(t *testing.T, s objstore.Store) {
	data := randBytes(1, mib+123)
	key := "rw/dir/object.bin"
	write(t, s, key, data)
	wantHead(t, s, key, data)
	o, _ := s.Head(t.Context(), key)
	if o.ModTime.IsZero() {
		t.Errorf("Head(%q).ModTime is zero", key)
	}
	wantContent(t, s, key, data)
	objs := List(t, s, "rw/")
	if len(objs) != 1 || objs[0].Key != key || objs[0].Size != int64(len(data)) {
		t.Errorf("List(rw/) = %+v, want just %q (%d bytes)", objs, key, len(data))
	}
}

func testRangedRead(t *testing.T, s objstore.Store) {
	data := randBytes(2, 1000)
	key := "range/obj"
	write(t, s, key, data)
	for _, r := range []struct{ off, n int64 }{
		{0, 1000}, {0, 1}, {100, 200}, {999, 1}, {900, -1}, {0, -1}, {1000, 0}, {500, 0},
	} {
		want := data[r.off:]
		if r.n >= 0 {
			want = data[r.off : r.off+r.n]
		}
		if got := read(t, s, key, r.off, r.n); !bytes.Equal(got, want) {
			t.Errorf("Read(%q, %d, %d) returned %d bytes, want %d (content differs: %v)", key, r.off, r.n, len(got), len(want), len(got) == len(want))
		}
	}
}

func testZeroByte(t *testing.T, s objstore.Store) {
	key := "zero/empty"
	write(t, s, key, nil)
	wantHead(t, s, key, nil)
	if got := read(t, s, key, 0, -1); len(got) != 0 {
		t.Errorf("Read(%q) returned %d bytes, want 0", key, len(got))
	}
	objs := List(t, s, "zero/")
	if len(objs) != 1 || objs[0].Key != key || objs[0].Size != 0 {
		t.Errorf("List(zero/) = %+v, want just %q with size 0", objs, key)
	}
}

func testMissing(t *testing.T, s objstore.Store) {
	wantNotFound(t, s, "missing/nope")
	rc, err := s.Read(t.Context(), "missing/nope", 0, -1)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Read(missing/nope) error %v, want an error wrapping ErrNotFound", err)
	}
	wantKeys(t, s, "missing/", nil)
}

func testWriteChecksumMismatch(t *testing.T, s objstore.Store) {
	data := randBytes(3, 4096)
	bad := sum([]byte("something else"))
	key := "badmd5/obj"
	err := s.Write(t.Context(), key, bytes.NewReader(data), int64(len(data)), bad)
	if !errors.Is(err, objstore.ErrChecksumMismatch) {
		t.Fatalf("Write with a wrong MD5: error %v, want an error wrapping ErrChecksumMismatch", err)
	}
	wantNotFound(t, s, key)
	wantKeys(t, s, "badmd5/", nil)
}

// manyKeys returns n distinct keys under prefix in nested folders, with the
// byte-order traps '-' < '.' < '/' < '0' included.
func manyKeys(prefix string, n int) []string {
	ks := []string{prefix + "a-b", prefix + "a.txt", prefix + "a/b", prefix + "a0", prefix + "z/y/x/w"}
	for i := 0; len(ks) < n; i++ {
		switch i % 5 {
		case 0:
			ks = append(ks, fmt.Sprintf("%sk%04d", prefix, i))
		case 1:
			ks = append(ks, fmt.Sprintf("%sk%04d/x", prefix, i))
		case 2:
			ks = append(ks, fmt.Sprintf("%sn/k%04d.txt", prefix, i))
		case 3:
			ks = append(ks, fmt.Sprintf("%sn/k%04d/deep/y", prefix, i))
		case 4:
			ks = append(ks, fmt.Sprintf("%sn/m/%d", prefix, i))
		}
	}
	return ks
}

func writeConcurrently(t *testing.T, s objstore.Store, ks []string, content func(string) []byte) {
	t.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		work  = make(chan string)
	)
	for range 16 {
		wg.Go(func() {
			for k := range work {
				data := content(k)
				if err := s.Write(t.Context(), k, bytes.NewReader(data), int64(len(data)), sum(data)); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("Write(%q): %w", k, err)
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, k := range ks {
		work <- k
	}
	close(work)
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
}

func testListManyKeys(t *testing.T, s objstore.Store) {
	const n = 1100 // more than one 1,000-key S3 page
	ks := manyKeys("list/", n)
	content := func(k string) []byte { return []byte("content of " + k) }
	writeConcurrently(t, s, ks, content)

	want := slices.Clone(ks)
	sort.Strings(want)
	objs := List(t, s, "list/")
	got := keys(objs)
	for i := 1; i < len(got); i++ {
		if got[i-1] >= got[i] {
			t.Errorf("List(list/) not in strict byte order: %q then %q (positions %d, %d)", got[i-1], got[i], i-1, i)
			break
		}
	}
	if !slices.Equal(got, want) {
		gotSet := map[string]bool{}
		for _, k := range got {
			gotSet[k] = true
		}
		var missing []string
		for _, k := range want {
			if !gotSet[k] {
				missing = append(missing, k)
			}
		}
		t.Fatalf("List(list/) returned %d keys, want %d; missing %d (first: %q)", len(got), len(want), len(missing), missing[:min(len(missing), 5)])
	}
	for _, o := range objs {
		if o.Size != int64(len(content(o.Key))) {
			t.Errorf("List(list/): %q has size %d, want %d", o.Key, o.Size, len(content(o.Key)))
		}
	}
	wantKeys(t, s, "list/a", []string{"list/a-b", "list/a.txt", "list/a/b", "list/a0"})
	wantKeys(t, s, "list/z/", []string{"list/z/y/x/w"})
	var sub []string
	for _, k := range want {
		if strings.HasPrefix(k, "list/n/k00") {
			sub = append(sub, k)
		}
	}
	wantKeys(t, s, "list/n/k00", sub)
}

func testListPrefix(t *testing.T, s objstore.Store) {
	for _, k := range []string{"pfx/foo/x", "pfx/foo/y/z", "pfx/fob", "pfx/foobar", "pfx/fxx", "pfx/g"} {
		write(t, s, k, []byte(k))
	}
	wantKeys(t, s, "pfx/fo", []string{"pfx/fob", "pfx/foo/x", "pfx/foo/y/z", "pfx/foobar"})
	wantKeys(t, s, "pfx/foo", []string{"pfx/foo/x", "pfx/foo/y/z", "pfx/foobar"})
	wantKeys(t, s, "pfx/foo/", []string{"pfx/foo/x", "pfx/foo/y/z"})
	wantKeys(t, s, "pfx/foo/y", []string{"pfx/foo/y/z"})
	wantKeys(t, s, "pfx/fx", []string{"pfx/fxx"})
	wantKeys(t, s, "pfx/fxx", []string{"pfx/fxx"})
	wantKeys(t, s, "pfx/", []string{"pfx/fob", "pfx/foo/x", "pfx/foo/y/z", "pfx/foobar", "pfx/fxx", "pfx/g"})
	wantKeys(t, s, "pfx/nothing/", nil)
	wantKeys(t, s, "pfx/nothing", nil)
	wantKeys(t, s, "pfx/fob/", nil)
	wantKeys(t, s, "nosuchprefix/", nil)
}

func testListEarlyStop(t *testing.T, s objstore.Store) {
	for i := range 20 {
		write(t, s, fmt.Sprintf("stop/d%d/k%02d", i%3, i), []byte{byte(i)})
	}
	n := 0
	for _, err := range s.List(t.Context(), "stop/") {
		if err != nil {
			t.Fatalf("List(stop/): %v", err)
		}
		n++
		if n == 3 {
			break // the iterator must not yield again (the runtime panics if it does)
		}
	}
	if n != 3 {
		t.Fatalf("List(stop/) yielded %d objects before break, want 3", n)
	}
	if got := len(List(t, s, "stop/")); got != 20 {
		t.Errorf("List(stop/) after an early stop returned %d objects, want 20", got)
	}
}

func testSpecialKeys(t *testing.T, s objstore.Store) {
	ks := []string{
		"special/with space.txt",
		"special/ünïcødé/日本語.bin",
		"special/a+b=c&d.txt",
		"special/percent%20and%2Fslash",
		"special/tilde~hash#question?",
		"special/semi;colon:comma,quote'",
		"special/emoji 🚀/x",
	}
	for _, k := range ks {
		data := []byte("data of " + k)
		write(t, s, k, data)
		wantHead(t, s, k, data)
		wantContent(t, s, k, data)
	}
	want := slices.Clone(ks)
	sort.Strings(want)
	wantKeys(t, s, "special/", want)
	wantKeys(t, s, "special/ünïcødé/", []string{"special/ünïcødé/日本語.bin"})
	wantKeys(t, s, "special/a+", []string{"special/a+b=c&d.txt"})
	wantKeys(t, s, "special/with ", []string{"special/with space.txt"})
}

func testFolderMarkers(t *testing.T, s objstore.Store) {
	write(t, s, "folders/dir/", nil)
	write(t, s, "folders/dir/file", []byte("x"))
	write(t, s, "folders/empty/", nil)
	wantHead(t, s, "folders/dir/", nil)
	wantKeys(t, s, "folders/", []string{"folders/dir/", "folders/dir/file", "folders/empty/"})
	wantKeys(t, s, "folders/dir/", []string{"folders/dir/", "folders/dir/file"})
	if err := s.Delete(t.Context(), "folders/empty/"); err != nil {
		t.Fatalf("Delete(folders/empty/): %v", err)
	}
	wantKeys(t, s, "folders/", []string{"folders/dir/", "folders/dir/file"})
}

func testDelete(t *testing.T, s objstore.Store) {
	key := "del/obj"
	write(t, s, key, []byte("bye"))
	write(t, s, "del/keep", []byte("stay"))
	if err := s.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	wantNotFound(t, s, key)
	wantKeys(t, s, "del/", []string{"del/keep"})
	if err := s.Delete(t.Context(), key); err != nil {
		t.Errorf("Delete(%q) again: %v, want nil", key, err)
	}
	if err := s.Delete(t.Context(), "del/never/existed"); err != nil {
		t.Errorf("Delete of a missing key: %v, want nil", err)
	}
}

func testOverwrite(t *testing.T, s objstore.Store) {
	key := "over/k"
	write(t, s, key, []byte("the first, longer content"))
	second := []byte("second")
	write(t, s, key, second)
	wantHead(t, s, key, second)
	wantContent(t, s, key, second)
	wantKeys(t, s, "over/", []string{key})
}

// testEmptyKey: every call naming an object refuses an empty key before
// sending anything, with an error wrapping ErrNotSupported.
func testEmptyKey(t *testing.T, s objstore.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		op   string
		call func() error
	}{
		{"Head", func() error { _, err := s.Head(ctx, ""); return err }},
		{"Read", func() error { _, err := s.Read(ctx, "", 0, -1); return err }},
		{"Write", func() error { return s.Write(ctx, "", bytes.NewReader(nil), 0, nil) }},
		{"InitiateMultipart", func() error { _, err := s.InitiateMultipart(ctx, ""); return err }},
		{"Delete", func() error { return s.Delete(ctx, "") }},
	} {
		if err := tc.call(); !errors.Is(err, objstore.ErrNotSupported) {
			t.Errorf("%s(\"\") = %v, want an error wrapping ErrNotSupported", tc.op, err)
		}
	}
}
