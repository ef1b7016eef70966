package gcs

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cloud.google.com/go/storage"
	"github.com/googleapis/gax-go/v2"
	"google.golang.org/api/googleapi"
	"google.golang.org/api/option"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// --- fixtures ---

// useEmulator points the client at the test fake-gcs-server (skips the test
// when it is not running, see objstoretest.ServerEnv).
func useEmulator(t *testing.T) string {
	t.Helper()
	host := objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_GCS_HOST")
	t.Setenv(EmulatorHostEnv, host)
	return host
}

func randomBucketName() string { return "skyplane-test-" + objstore.NewUploadID()[:20] }

// recorder is an HTTP transport that logs requests and can answer some
// with an injected failure.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []string
	fail func(r *http.Request) bool
}

func (rec *recorder) RoundTrip(r *http.Request) (*http.Response, error) {
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	fail := rec.fail != nil && rec.fail(r)
	rec.mu.Unlock()
	if fail {
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		return &http.Response{
			StatusCode: http.StatusServiceUnavailable,
			Status:     "503 Service Unavailable",
			Header:     http.Header{"Content-Type": {"application/json"}},
			Body:       io.NopCloser(strings.NewReader(`{"error":{"code":503,"message":"injected failure"}}`)),
			Request:    r,
		}, nil
	}
	return rec.base.RoundTrip(r)
}

// count returns how many logged requests satisfy match, and resets the log.
func (rec *recorder) take(match func(string) bool) int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	n := 0
	for _, r := range rec.reqs {
		if match(r) {
			n++
		}
	}
	rec.reqs = nil
	return n
}

func (rec *recorder) setFail(f func(r *http.Request) bool) {
	rec.mu.Lock()
	rec.fail = f
	rec.mu.Unlock()
}

func isUpload(r string) bool { return strings.Contains(r, "/upload/storage/v1/") }
func isList(r string) bool {
	return strings.HasPrefix(r, "GET ") && strings.HasSuffix(strings.SplitN(r, "?", 2)[0], "/o")
}
func isCompose(r string) bool { return strings.Contains(r, "/compose?") }

// newStore creates a fresh bucket on the emulator and opens it; the bucket
// and its objects are removed when the test ends.
func newStore(t *testing.T) (*Store, *recorder) {
	t.Helper()
	useEmulator(t)
	rec := &recorder{base: http.DefaultTransport.(*http.Transport).Clone()}
	name := randomBucketName()
	s, err := open(t.Context(), name, withEnv(objstore.Options{}), option.WithHTTPClient(&http.Client{Transport: rec}))
	if err != nil {
		t.Fatalf("open(%s): %v", name, err)
	}
	if err := s.client.Bucket(name).Create(t.Context(), "skyplane-test", nil); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Cleanup(func() {
		removeBucket(t, s)
		s.Close()
	})
	rec.take(func(string) bool { return false })
	return s, rec
}

func removeBucket(t *testing.T, s *Store) {
	ctx := context.Background()
	names := rawNames(t, s)
	var wg sync.WaitGroup
	work := make(chan string)
	for range 16 {
		wg.Go(func() {
			for n := range work {
				s.client.Bucket(s.name).Object(n).Delete(ctx)
			}
		})
	}
	for _, n := range names {
		work <- n
	}
	close(work)
	wg.Wait()
	if err := s.client.Bucket(s.name).Delete(ctx); err != nil {
		t.Logf("removing bucket %s: %v", s.name, err)
	}
}

// rawNames lists the whole bucket through the storage client, reserved
// prefix included.
func rawNames(t *testing.T, s *Store) []string {
	t.Helper()
	var names []string
	for a, err := range s.listRaw(context.Background(), &storage.Query{}) {
		if err != nil {
			t.Fatalf("raw listing of gs://%s: %v", s.name, err)
		}
		names = append(names, a.Name)
	}
	return names
}

// fastRetry makes the library retry quickly (3 attempts), for fault tests.
func fastRetry(s *Store) {
	s.bucket = s.bucket.Retryer(
		storage.WithPolicy(storage.RetryAlways),
		storage.WithMaxAttempts(3),
		storage.WithBackoff(gax.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond, Multiplier: 2}),
	)
}

func data(seed uint64, n int) []byte {
	b := make([]byte, n)
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	rand.NewChaCha8(s).Read(b)
	return b
}

func sum(b []byte) []byte { h := md5.Sum(b); return h[:] }

func mustWrite(t *testing.T, s objstore.Store, key string, b []byte) {
	t.Helper()
	if err := s.Write(t.Context(), key, bytes.NewReader(b), int64(len(b)), sum(b)); err != nil {
		t.Fatalf("Write(%q): %v", key, err)
	}
}

// onlyReader hides every method but Read (a non-seekable source).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// --- conformance ---

func TestConformance(t *testing.T) {
	var (
		s   *Store
		rec *recorder
	)
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		s, rec = newStore(t)
		s.pageSize = 400 // the 1,100-key listing takes 3 pages
		return s
	})
	if t.Failed() || s == nil {
		return
	}
	if n := rec.take(func(r string) bool { return isList(r) && strings.Contains(r, "&prefix=list%2F&") }); n < 3 {
		t.Errorf("List(list/) of 1,100 keys took %d page requests, want at least 3", n)
	}
	// The suite completed or aborted every upload. Temporary objects may
	// only belong to uploads still listed, and aborting those must leave
	// none anywhere in the bucket.
	ctx := context.Background()
	ups, err := s.ListMultipartUploads(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range rawNames(t, s) {
		if reserved(n) && !slices.ContainsFunc(ups, func(u objstore.Upload) bool { return strings.Contains(n, u.UploadID) }) {
			t.Errorf("temporary object %q of no open upload left in the bucket", n)
		}
	}
	for _, u := range ups {
		if err := s.AbortMultipart(ctx, u.Key, u.UploadID); err != nil {
			t.Errorf("AbortMultipart(%+v): %v", u, err)
		}
	}
	for _, n := range rawNames(t, s) {
		if reserved(n) {
			t.Errorf("temporary object %q left in the bucket after aborting every open upload", n)
		}
	}
}

// TestFolderMarkers: GCS (and fake-gcs-server's memory backend, which
// scripts/test-servers.sh runs) keeps objects whose names end in "/".
func TestFolderMarkers(t *testing.T) {
	s, _ := newStore(t)
	mustWrite(t, s, "f/dir/", nil)
	mustWrite(t, s, "f/dir/x", []byte("x"))
	o, err := s.Head(t.Context(), "f/dir/")
	if err != nil || o.Size != 0 {
		t.Fatalf("Head(f/dir/) = %+v, %v", o, err)
	}
}

// --- multipart ---

func uploadAll(t *testing.T, s *Store, key, id string, ps []objstoretest.Part, order []int) []objstore.Part {
	t.Helper()
	for _, i := range order {
		etag, err := s.UploadPart(t.Context(), key, id, ps[i].Part, bytes.NewReader(ps[i].Data))
		if err != nil {
			t.Fatalf("UploadPart(%q, %d): %v", key, ps[i].Number, err)
		}
		if want := fmt.Sprintf("%x", ps[i].MD5); etag != want {
			t.Errorf("UploadPart(%q, %d) etag %q, want the part's MD5 %q", key, ps[i].Number, etag, want)
		}
		ps[i].ETag = etag
	}
	out := make([]objstore.Part, len(ps))
	for i, p := range ps {
		out[i] = p.Part
	}
	return out
}

func wantRaw(t *testing.T, s *Store, want ...string) {
	t.Helper()
	got := rawNames(t, s)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("whole bucket (raw listing) = %q, want %q", got, want)
	}
}

func TestMultipartLeavesNoPieces(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	key := "done/obj"
	ps, all := objstoretest.MakeParts(1, 3000, 1, 5000)
	id, err := s.InitiateMultipart(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !objstore.IsUploadID(id) {
		t.Errorf("upload id %q is not %d lowercase hex digits", id, objstore.UploadIDLen)
	}
	parts := uploadAll(t, s, key, id, ps, []int{2, 0, 1})
	if got := rawNames(t, s); len(got) != 4 { // manifest + 3 pieces
		t.Errorf("while uploading, the bucket holds %q, want a manifest and 3 pieces", got)
	}
	if _, err := s.Head(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head(%q) before Complete: %v, want ErrNotFound", key, err)
	}
	if err := s.CompleteMultipart(ctx, key, id, parts); err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	if got := objstoretest.ReadAll(t, s, key); !bytes.Equal(got, all) {
		t.Fatalf("completed object differs: %d bytes, want %d", len(got), len(all))
	}
	wantRaw(t, s, key)

	// Abort: parts, manifest, everything goes.
	key2 := "aborted/obj"
	id2, err := s.InitiateMultipart(ctx, key2)
	if err != nil {
		t.Fatal(err)
	}
	ps2, _ := objstoretest.MakeParts(2, 100, 200)
	uploadAll(t, s, key2, id2, ps2, []int{1, 0})
	if ups, err := s.ListMultipartUploads(ctx, ""); err != nil || !slices.Equal(ups, []objstore.Upload{{Key: key2, UploadID: id2}}) {
		t.Errorf("ListMultipartUploads(\"\") = %+v, %v; want just %s", ups, err, id2)
	}
	if err := s.AbortMultipart(ctx, key2, id2); err != nil {
		t.Fatalf("AbortMultipart: %v", err)
	}
	wantRaw(t, s, key)
	if err := s.AbortMultipart(ctx, key2, id2); err != nil {
		t.Errorf("second AbortMultipart: %v, want nil", err)
	}
	if ups, err := s.ListMultipartUploads(ctx, ""); err != nil || len(ups) != 0 {
		t.Errorf("ListMultipartUploads after abort = %+v, %v; want none", ups, err)
	}
}

// TestMultipartManyParts needs two compose levels: 40 parts → 2
// intermediate composites (32 + 8) → the object.
func TestMultipartManyParts(t *testing.T) {
	s, rec := newStore(t)
	ctx := t.Context()
	key := "many/obj"
	sizes := make([]int, 40)
	for i := range sizes {
		sizes[i] = 100 + i*37
	}
	ps, all := objstoretest.MakeParts(3, sizes...)
	id, err := s.InitiateMultipart(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	order := rand.Perm(len(ps))
	var wg sync.WaitGroup
	for w := range 8 { // from several "gateways" at once
		wg.Go(func() {
			for j := w; j < len(order); j += 8 {
				i := order[j]
				etag, err := s.UploadPart(ctx, key, id, ps[i].Part, bytes.NewReader(ps[i].Data))
				if err != nil {
					t.Errorf("UploadPart %d: %v", ps[i].Number, err)
					return
				}
				ps[i].ETag = etag
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	parts := make([]objstore.Part, len(ps))
	for i, p := range ps {
		parts[len(ps)-1-i] = p.Part // handed over in reverse: the portable layer sorts
	}
	rec.take(func(string) bool { return false })
	if err := objstore.Portable(s).CompleteMultipart(ctx, key, id, parts); err != nil {
		t.Fatalf("CompleteMultipart(40 parts): %v", err)
	}
	if n := rec.take(isCompose); n != 3 {
		t.Errorf("CompleteMultipart(40 parts) made %d compose calls, want 3 (2 intermediate + 1 final)", n)
	}
	if got := objstoretest.ReadAll(t, s, key); !bytes.Equal(got, all) {
		t.Fatalf("composed object differs: %d bytes, want %d", len(got), len(all))
	}
	o, err := s.Head(ctx, key)
	if err != nil || o.Size != int64(len(all)) {
		t.Fatalf("Head = %+v, %v; want size %d", o, err, len(all))
	}
	rc, err := s.Read(ctx, key, 32*100+10, 5000)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, all[32*100+10:32*100+10+5000]) {
		t.Errorf("ranged read across composite boundaries differs")
	}
	wantRaw(t, s, key)
}

func TestComposePlan(t *testing.T) {
	tmp := func(level, i int) string { return fmt.Sprintf("c%d-%d", level, i) }
	for _, tc := range []struct{ n, calls, levels int }{
		{1, 1, 1}, {2, 1, 1}, {32, 1, 1}, {33, 2, 2}, {40, 3, 2}, {64, 3, 2}, {65, 3, 2}, {66, 4, 2},
		{1024, 33, 2}, {1025, 34, 3}, {10000, 313 + 10 + 1, 3},
	} {
		srcs := make([]string, tc.n)
		for i := range srcs {
			srcs[i] = fmt.Sprintf("p%05d", i+1)
		}
		plan := composePlan(srcs, "final", tmp)
		if len(plan) != tc.levels {
			t.Errorf("n=%d: %d levels, want %d", tc.n, len(plan), tc.levels)
		}
		// Simulate: every source is used exactly once, in order, and
		// every call has 1..32 sources.
		content := map[string][]string{}
		for _, s := range srcs {
			content[s] = []string{s}
		}
		calls := 0
		for _, steps := range plan {
			for _, st := range steps {
				calls++
				if len(st.srcs) < 1 || len(st.srcs) > maxComposeSrcs {
					t.Errorf("n=%d: compose into %s has %d sources", tc.n, st.dst, len(st.srcs))
				}
				var c []string
				for _, src := range st.srcs {
					if content[src] == nil {
						t.Fatalf("n=%d: %s composed before it exists", tc.n, src)
					}
					c = append(c, content[src]...)
					delete(content, src)
				}
				content[st.dst] = c
			}
		}
		if calls != tc.calls {
			t.Errorf("n=%d: %d compose calls, want %d", tc.n, calls, tc.calls)
		}
		if len(content) != 1 || !slices.Equal(content["final"], srcs) {
			t.Errorf("n=%d: the plan does not concatenate the sources in order into final", tc.n)
		}
		if last := plan[len(plan)-1]; len(last) != 1 || last[0].dst != "final" {
			t.Errorf("n=%d: last level %+v, want one call into final", tc.n, last)
		}
	}
}

func TestMultipartEdgeCases(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	ps, all := objstoretest.MakeParts(4, 10, 20)

	t.Run("UnknownUpload", func(t *testing.T) {
		bogus := objstore.NewUploadID()
		if _, err := s.UploadPart(ctx, "x/k", bogus, ps[0].Part, bytes.NewReader(ps[0].Data)); !errors.Is(err, objstore.ErrUploadNotFound) {
			t.Errorf("UploadPart(unknown upload) = %v, want ErrUploadNotFound", err)
		}
		if _, err := s.UploadPart(ctx, "x/k", "not-an-id", ps[0].Part, bytes.NewReader(ps[0].Data)); !errors.Is(err, objstore.ErrUploadNotFound) {
			t.Errorf("UploadPart(malformed id) = %v, want ErrUploadNotFound", err)
		}
		if err := s.CompleteMultipart(ctx, "x/k", bogus, nil); !errors.Is(err, objstore.ErrUploadNotFound) {
			t.Errorf("CompleteMultipart(unknown upload) = %v, want ErrUploadNotFound", err)
		}
		if err := s.AbortMultipart(ctx, "x/k", bogus); err != nil {
			t.Errorf("AbortMultipart(unknown upload) = %v, want nil", err)
		}
		id, err := s.InitiateMultipart(ctx, "x/k")
		if err != nil {
			t.Fatal(err)
		}
		defer s.AbortMultipart(ctx, "x/k", id)
		if _, err := s.UploadPart(ctx, "x/other", id, ps[0].Part, bytes.NewReader(ps[0].Data)); !errors.Is(err, objstore.ErrUploadNotFound) {
			t.Errorf("UploadPart(upload of another key) = %v, want ErrUploadNotFound", err)
		}
		bad := ps[0].Part
		bad.Number = MaxParts + 1
		if _, err := s.UploadPart(ctx, "x/k", id, bad, bytes.NewReader(ps[0].Data)); err == nil {
			t.Errorf("UploadPart(part %d) succeeded", bad.Number)
		}
	})

	t.Run("CompleteTwiceAndLatePart", func(t *testing.T) {
		key := "twice/obj"
		id, err := s.InitiateMultipart(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		parts := uploadAll(t, s, key, id, ps, []int{0, 1})
		if err := s.CompleteMultipart(ctx, key, id, parts); err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteMultipart(ctx, key, id, parts); err != nil {
			t.Errorf("repeated CompleteMultipart = %v, want nil", err)
		}
		if _, err := s.UploadPart(ctx, key, id, ps[0].Part, bytes.NewReader(ps[0].Data)); !errors.Is(err, objstore.ErrUploadNotFound) {
			t.Errorf("UploadPart after Complete = %v, want ErrUploadNotFound", err)
		}
		if got := objstoretest.ReadAll(t, s, key); !bytes.Equal(got, all) {
			t.Errorf("object differs after a repeated Complete")
		}
		for _, n := range rawNames(t, s) {
			if reserved(n) {
				t.Errorf("temporary object %q left behind", n)
			}
		}
	})

	t.Run("MissingPart", func(t *testing.T) {
		fastRetry(s) // fake-gcs-server answers 500 (GCS: 404) to a compose of a missing source
		key := "missing/obj"
		id, err := s.InitiateMultipart(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		parts := uploadAll(t, s, key, id, ps[:1], []int{0})
		parts = append(parts, ps[1].Part) // never uploaded
		err = s.CompleteMultipart(ctx, key, id, parts)
		if err == nil || !strings.Contains(err.Error(), "part 2 is missing") || objstore.IsRetryable(err) {
			t.Errorf("CompleteMultipart with a part never uploaded = %v, want a (not retryable) error naming part 2", err)
		}
		if _, err := s.Head(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("Head after a failed Complete = %v, want ErrNotFound", err)
		}
		if ups, _ := s.ListMultipartUploads(ctx, "missing/"); len(ups) != 1 {
			t.Errorf("after a failed Complete the upload should still be listed, got %+v", ups)
		}
		if err := s.AbortMultipart(ctx, key, id); err != nil {
			t.Fatal(err)
		}
		for _, n := range rawNames(t, s) {
			if strings.Contains(n, id) {
				t.Errorf("temporary object %q left after abort", n)
			}
		}
	})

	t.Run("NoParts", func(t *testing.T) {
		key := "noparts/obj"
		id, err := s.InitiateMultipart(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CompleteMultipart(ctx, key, id, nil); err != nil {
			t.Fatal(err)
		}
		if o, err := s.Head(ctx, key); err != nil || o.Size != 0 {
			t.Errorf("Head after Complete with no parts = %+v, %v; want an empty object", o, err)
		}
	})

	t.Run("ListUploads", func(t *testing.T) {
		var want []objstore.Upload
		for _, k := range []string{"lu/b", "lu/a", "lu/a!", "lu/a/b", "lux/c"} {
			id, err := s.InitiateMultipart(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			defer s.AbortMultipart(ctx, k, id)
			if strings.HasPrefix(k, "lu/") {
				want = append(want, objstore.Upload{Key: k, UploadID: id})
			}
		}
		slices.SortFunc(want, func(a, b objstore.Upload) int { return strings.Compare(a.Key, b.Key) })
		got, err := objstore.Portable(s).ListMultipartUploads(ctx, "lu/") // sorted as callers get it
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ListMultipartUploads(lu/) = %+v, %v; want %+v", got, err, want)
		}
		for _, o := range objstoretest.List(t, s, "") {
			if strings.HasPrefix(o.Key, "lu") || reserved(o.Key) {
				t.Errorf("List(\"\") shows %q", o.Key)
			}
		}
	})

	t.Run("KeyTooLong", func(t *testing.T) {
		if _, err := s.InitiateMultipart(ctx, strings.Repeat("k", 1000)); !errors.Is(err, objstore.ErrNotSupported) {
			t.Errorf("InitiateMultipart(1000-byte key) = %v, want ErrNotSupported", err)
		}
	})
}

// --- reserved names, listing ---

func TestReservedPrefix(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	k := reservedPrefix + "x"
	if err := s.Write(ctx, k, bytes.NewReader(nil), 0, nil); !errors.Is(err, objstore.ErrNotSupported) {
		t.Errorf("Write(%q) = %v, want ErrNotSupported", k, err)
	}
	if err := s.Delete(ctx, k); !errors.Is(err, objstore.ErrNotSupported) {
		t.Errorf("Delete(%q) = %v, want ErrNotSupported", k, err)
	}
	// Keys that sort around the reserved prefix are listed, in order.
	// (Not ".skyplane-mpu" itself: fake-gcs-server's filesystem backend
	// cannot hold a file and a directory of the same name.)
	keys := []string{".a", ".skyplane-mp", ".skyplane-mpu.x", ".skyplane-mpu0", ".skyplane-mpuz/y", "a"}
	for _, key := range keys {
		mustWrite(t, s, key, []byte(key))
	}
	id, err := s.InitiateMultipart(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	defer s.AbortMultipart(ctx, "a", id)
	ps, _ := objstoretest.MakeParts(5, 10)
	uploadAll(t, s, "a", id, ps, []int{0})
	for _, prefix := range []string{"", ".", ".skyplane-mpu", ".skyplane-"} {
		var want []string
		for _, k := range keys {
			if strings.HasPrefix(k, prefix) {
				want = append(want, k)
			}
		}
		var got []string
		for _, o := range objstoretest.List(t, s, prefix) {
			got = append(got, o.Key)
		}
		if !slices.Equal(got, want) {
			t.Errorf("List(%q) = %q, want %q", prefix, got, want)
		}
	}
	for _, prefix := range []string{reservedPrefix, uploadsPrefix, partsPrefix} {
		if got := objstoretest.List(t, s, prefix); len(got) != 0 {
			t.Errorf("List(%q) = %+v, want nothing", prefix, got)
		}
	}
	if _, err := s.Head(ctx, pieceName(id, 1)); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head(a piece) = %v, want ErrNotFound", err)
	}
	if _, err := s.Read(ctx, manifestName("a", id), 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Read(a manifest) = %v, want ErrNotFound", err)
	}
}

func TestListPagingAndEarlyStop(t *testing.T) {
	s, rec := newStore(t)
	s.pageSize = 3
	var want []string
	for i := range 10 {
		k := fmt.Sprintf("pg/%02d", i)
		mustWrite(t, s, k, []byte{byte(i)})
		want = append(want, k)
	}
	rec.take(func(string) bool { return false })
	var got []string
	for _, o := range objstoretest.List(t, s, "pg/") {
		got = append(got, o.Key)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List(pg/) = %q, want %q", got, want)
	}
	if n := rec.take(isList); n != 4 {
		t.Errorf("List of 10 keys with pages of 3 made %d list requests, want 4", n)
	}
	for _, err := range s.List(t.Context(), "pg/") {
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	if n := rec.take(isList); n != 1 {
		t.Errorf("List stopped after the first object made %d list requests, want 1", n)
	}
}

// --- writes ---

func TestWriteRequests(t *testing.T) {
	s, rec := newStore(t)
	ctx := t.Context()
	big := data(6, 20<<20+3)

	// A seekable source of any size: one streamed request.
	mustWrite(t, s, "w/seekable-big", big)
	if n := rec.take(isUpload); n != 1 {
		t.Errorf("Write of a 20 MiB bytes.Reader made %d upload requests, want 1", n)
	}
	// A small non-seekable source: one request.
	small := big[:1<<20]
	if err := s.Write(ctx, "w/stream-small", onlyReader{bytes.NewReader(small)}, int64(len(small)), sum(small)); err != nil {
		t.Fatal(err)
	}
	if n := rec.take(isUpload); n != 1 {
		t.Errorf("Write of a 1 MiB stream made %d upload requests, want 1", n)
	}
	// A big non-seekable source: a resumable upload in 16 MiB chunks.
	if err := s.Write(ctx, "w/stream-big", onlyReader{bytes.NewReader(big)}, int64(len(big)), sum(big)); err != nil {
		t.Fatal(err)
	}
	if n := rec.take(isUpload); n != 3 {
		t.Errorf("Write of a 20 MiB stream made %d upload requests, want 3 (start + 2 chunks)", n)
	}
	for k, want := range map[string][]byte{"w/seekable-big": big, "w/stream-small": small, "w/stream-big": big} {
		if got := objstoretest.ReadAll(t, s, k); !bytes.Equal(got, want) {
			t.Errorf("%s: read back %d bytes, want %d", k, len(got), len(want))
		}
	}
	// The server checks the MD5 of a buffered upload too. (Not tested for
	// a multi-chunk resumable upload: fake-gcs-server v1.56.1 forgets the
	// declared MD5 after the first chunk; GCS checks it.)
	err := s.Write(ctx, "w/stream-bad", onlyReader{bytes.NewReader(small)}, int64(len(small)), sum([]byte("other")))
	if !errors.Is(err, objstore.ErrChecksumMismatch) {
		t.Errorf("buffered Write with a wrong MD5 = %v, want ErrChecksumMismatch", err)
	}
	if _, err := s.Head(ctx, "w/stream-bad"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head after a rejected Write = %v, want ErrNotFound", err)
	}
}

type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	f.n -= k
	return k, nil
}

func TestWriteAtomicOnSourceFailure(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	boom := errors.New("boom")
	for _, tc := range []struct {
		name string
		r    io.Reader
		size int64
		want error
	}{
		{"short-seekable", bytes.NewReader(make([]byte, 100)), 1000, nil},
		{"short-stream", onlyReader{bytes.NewReader(make([]byte, 100))}, 1000, nil},
		{"error-small", &failingReader{n: 5000, err: boom}, 10000, boom},
		{"error-big", &failingReader{n: 17 << 20, err: boom}, 40 << 20, boom},
	} {
		key := "atomic/" + tc.name
		err := s.Write(ctx, key, tc.r, tc.size, nil)
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: Write = %v, want an error (wrapping %v)", tc.name, err, tc.want)
		}
		if objstore.IsRetryable(err) {
			t.Errorf("%s: a source failure must not be retryable: %v", tc.name, err)
		}
		if _, err := s.Head(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("%s: Head after a failed Write = %v, want ErrNotFound", tc.name, err)
		}
	}
	if got := rawNames(t, s); len(got) != 0 {
		t.Errorf("bucket holds %q after failed writes", got)
	}
}

func TestRetries(t *testing.T) {
	s, rec := newStore(t)
	fastRetry(s)
	ctx := t.Context()
	b := data(7, 4096)

	// An unbuffered upload failing once is retried by Write (rewinding).
	failed := 0
	rec.setFail(func(r *http.Request) bool {
		if strings.Contains(r.URL.Path, "/upload/") && failed == 0 {
			failed++
			return true
		}
		return false
	})
	mustWrite(t, s, "retry/seekable", b)
	if n := rec.take(isUpload); n != 2 {
		t.Errorf("Write with one injected 503 made %d upload requests, want 2", n)
	}
	if got := objstoretest.ReadAll(t, s, "retry/seekable"); !bytes.Equal(got, b) {
		t.Errorf("content differs after a retried upload")
	}

	// Metadata calls are retried by the library.
	failed = 0
	rec.setFail(func(r *http.Request) bool {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/o/retry%2Fseekable") && failed == 0 {
			failed++
			return true
		}
		return false
	})
	if _, err := s.Head(ctx, "retry/seekable"); err != nil {
		t.Errorf("Head with one injected 503: %v", err)
	}

	// What keeps failing is reported as retryable.
	rec.setFail(func(r *http.Request) bool { return true })
	err := s.Write(ctx, "retry/stream", onlyReader{bytes.NewReader(b)}, int64(len(b)), sum(b))
	if !objstore.IsRetryable(err) {
		t.Errorf("Write against a server answering 503: %v, want a retryable error", err)
	}
	if _, err := s.Head(ctx, "retry/seekable"); !objstore.IsRetryable(err) {
		t.Errorf("Head against a server answering 503: %v, want a retryable error", err)
	}
	for _, err := range s.List(ctx, "retry/") {
		if !objstore.IsRetryable(err) {
			t.Errorf("List against a server answering 503: %v, want a retryable error", err)
		}
	}
	rec.setFail(nil)
}

// --- missing things, region, open ---

func TestMissingBucket(t *testing.T) {
	host := useEmulator(t)
	name := randomBucketName()
	st, err := objstore.Open(t.Context(), objstore.Location{Scheme: objstore.SchemeGCS, Bucket: name}, withEnv(objstore.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	s := objstore.Unwrap(st).(*Store)
	defer s.Close()
	err = s.BucketExists(t.Context())
	if !errors.Is(err, objstore.ErrBucketNotFound) {
		t.Fatalf("BucketExists(missing) = %v, want ErrBucketNotFound", err)
	}
	for _, want := range []string{name, "emulator (no authentication) at " + host} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("BucketExists error %q does not mention %q", err, want)
		}
	}
	for _, err := range s.List(t.Context(), "") {
		if !errors.Is(err, objstore.ErrBucketNotFound) {
			t.Errorf("List(missing bucket) = %v, want ErrBucketNotFound", err)
		}
	}
	if _, err := s.Region(t.Context()); !errors.Is(err, objstore.ErrBucketNotFound) {
		t.Errorf("Region(missing bucket) = %v, want ErrBucketNotFound", err)
	}
	if _, err := s.ListMultipartUploads(t.Context(), ""); !errors.Is(err, objstore.ErrBucketNotFound) {
		t.Errorf("ListMultipartUploads(missing bucket) = %v, want ErrBucketNotFound", err)
	}
	if err := s.Write(t.Context(), "k", bytes.NewReader([]byte("x")), 1, nil); err == nil {
		t.Errorf("Write into a missing bucket succeeded")
	}
}

func TestMissingObject(t *testing.T) {
	s, _ := newStore(t)
	ctx := t.Context()
	if _, err := s.Head(ctx, "nope/x"); !errors.Is(err, objstore.ErrNotFound) || !strings.Contains(err.Error(), "gs://"+s.name+"/nope/x") {
		t.Errorf("Head(missing) = %v, want ErrNotFound naming the object", err)
	}
	if _, err := s.Read(ctx, "nope/x", 0, 10); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Read(missing) = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "nope/x"); err != nil {
		t.Errorf("Delete(missing) = %v, want nil", err)
	}
	if err := s.BucketExists(ctx); err != nil {
		t.Errorf("BucketExists = %v", err)
	}
}

func TestRegion(t *testing.T) {
	s, _ := newStore(t)
	r, err := s.Region(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r, "gcp:") || r != strings.ToLower(r) || r == "gcp:" {
		t.Errorf("Region = %q, want gcp:<lowercase region>", r)
	}
}

func TestRegionOf(t *testing.T) {
	for loc, want := range map[string]string{
		"US-CENTRAL1": "us-central1", "europe-west4": "europe-west4", "": "us-central1",
		"US": "us-central1", "EU": "europe-west1", "ASIA": "asia-east1", "NAM4": "us-central1",
	} {
		if got := regionOf(loc); got != want {
			t.Errorf("regionOf(%q) = %q, want %q", loc, got, want)
		}
	}
}

func TestOpen(t *testing.T) {
	useEmulator(t)
	loc, err := objstore.ParseURL("gs://some-bucket/a/key")
	if err != nil {
		t.Fatal(err)
	}
	st, err := objstore.Open(t.Context(), loc, withEnv(objstore.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	s := objstore.Unwrap(st).(*Store)
	defer s.Close()
	if s.URL() != "gs://some-bucket" {
		t.Errorf("URL() = %q", s.URL())
	}
	if f := s.Features(); f.MinPartSize != 0 || f.MaxParts != MaxParts {
		t.Errorf("Features() = %+v", f)
	}

	t.Setenv(ProjectEnv, "")
	_, err = Open(t.Context(), loc, withEnv(objstore.Options{RequesterPays: true}))
	if err == nil || !strings.Contains(err.Error(), ProjectEnv) {
		t.Errorf("Open with requester pays and no project = %v, want an error naming %s", err, ProjectEnv)
	}
	t.Setenv(ProjectEnv, "billing-project")
	rp, err := Open(t.Context(), loc, withEnv(objstore.Options{RequesterPays: true}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rp.(*Store).creds, "billing-project") {
		t.Errorf("requester-pays store does not record its billing project: %q", rp.(*Store).creds)
	}
	rp.(*Store).Close()
}

func TestJSONEndpoint(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4443":               "http://127.0.0.1:4443/storage/v1/",
		"https://storage.example.com/":        "https://storage.example.com/storage/v1/",
		"https://storage.example.com/api/v1/": "https://storage.example.com/api/v1/",
	} {
		if got := jsonEndpoint(in); got != want {
			t.Errorf("jsonEndpoint(%q) = %q, want %q", in, got, want)
		}
	}
}

// A requester-pays store works against the emulator (which ignores billing).
func TestRequesterPaysAgainstEmulator(t *testing.T) {
	s, _ := newStore(t)
	t.Setenv(ProjectEnv, "billing-project")
	st, err := Open(t.Context(), objstore.Location{Scheme: "gs", Bucket: s.name}, withEnv(objstore.Options{RequesterPays: true}))
	if err != nil {
		t.Fatal(err)
	}
	defer objstore.Unwrap(st).(*Store).Close()
	mustWrite(t, st, "rp/k", []byte("v"))
	if got := objstoretest.ReadAll(t, st, "rp/k"); string(got) != "v" {
		t.Errorf("read %q", got)
	}
}

// --- error mapping ---

func TestErrorMapping(t *testing.T) {
	s := &Store{name: "bkt", creds: "Application Default Credentials"}
	gerr := func(code int, msg string) error { return &googleapi.Error{Code: code, Message: msg} }
	for _, tc := range []struct {
		name      string
		err       error
		bucket    bool
		want      error
		retryable bool
		mention   []string
	}{
		{"bucket sentinel", storage.ErrBucketNotExist, false, objstore.ErrBucketNotFound, false, []string{`"bkt"`, "Application Default Credentials"}},
		{"object sentinel", fmt.Errorf("%w: %w", storage.ErrObjectNotExist, gerr(404, "No such object: bkt/k")), false, objstore.ErrNotFound, false, []string{"gs://bkt/k"}},
		{"404 on bucket", gerr(404, "Not Found"), true, objstore.ErrBucketNotFound, false, []string{`"bkt"`}},
		{"404 bucket message", gerr(404, "The specified bucket does not exist."), false, objstore.ErrBucketNotFound, false, nil},
		{"404 object", gerr(404, "Not Found"), false, objstore.ErrNotFound, false, nil},
		{"401", gerr(401, "Anonymous caller does not have storage.objects.get access"), false, objstore.ErrAccessDenied, false, []string{"Application Default Credentials", "IAM"}},
		{"403", gerr(403, "caller does not have storage.objects.create access"), false, objstore.ErrAccessDenied, false, []string{"bkt"}},
		{"requester pays", gerr(400, "Bucket is a requester pays bucket but no user project provided."), false, objstore.ErrAccessDenied, false, []string{"requester_pays", ProjectEnv}},
		{"md5 real", gerr(400, `Provided MD5 hash "x" doesn't match calculated MD5 hash "y".`), false, objstore.ErrChecksumMismatch, false, nil},
		{"md5 fake", gerr(400, `provided MD5 hash "x" doesn't match calculated MD5 hash "y"`), false, objstore.ErrChecksumMismatch, false, nil},
		{"crc32c", gerr(400, `Provided CRC32C "x" doesn't match calculated CRC32C "y".`), false, objstore.ErrChecksumMismatch, false, nil},
		{"bad crc on read", errors.New("storage: bad CRC on read: got 1, want 2"), false, objstore.ErrChecksumMismatch, false, nil},
		{"other 400", gerr(400, "Invalid argument."), false, nil, false, nil},
		{"408", gerr(408, "timeout"), false, nil, true, nil},
		{"429", gerr(429, "rate limit"), false, nil, true, nil},
		{"500", gerr(500, "backend error"), false, nil, true, nil},
		{"503 after retries", fmt.Errorf("storage: retry failed after 6 attempts; last error: %w", gerr(503, "unavailable")), false, nil, true, nil},
		{"412", gerr(412, "At least one of the pre-conditions you specified did not hold."), false, objstore.ErrChanged, false, []string{"rewritten"}},
		{"reset", &url.Error{Op: "Put", URL: "http://x", Err: syscall.ECONNRESET}, false, nil, true, nil},
		{"unexpected EOF", fmt.Errorf("reading body: %w", io.ErrUnexpectedEOF), false, nil, true, nil},
		{"canceled", context.Canceled, false, nil, false, nil},
		{"plain", errors.New("something"), false, nil, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got error
			if tc.bucket {
				got = s.bucketErr("check", tc.err)
			} else {
				got = s.objErr("head", "k", tc.err)
			}
			for _, sentinel := range []error{objstore.ErrBucketNotFound, objstore.ErrNotFound, objstore.ErrAccessDenied, objstore.ErrChecksumMismatch} {
				if is := errors.Is(got, sentinel); is != (sentinel == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", got, sentinel, is)
				}
			}
			if objstore.IsRetryable(got) != tc.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", got, !tc.retryable, tc.retryable)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("%v does not wrap the original error", got)
			}
			for _, m := range tc.mention {
				if !strings.Contains(got.Error(), m) {
					t.Errorf("%q does not mention %q", got, m)
				}
			}
		})
	}
}
