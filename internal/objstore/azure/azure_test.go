package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// serverEnv returns the Azurite connection string and points
// AZURE_STORAGE_CONNECTION_STRING at it (the other credential variables are
// cleared so nothing can reach the real service or Entra ID).
func serverEnv(t *testing.T) (cs string, p connString) {
	t.Helper()
	cs = objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_AZURE_CONNECTION_STRING")
	p, err := parseConnString(cs)
	if err != nil {
		t.Fatalf("SKYPLANE_TEST_AZURE_CONNECTION_STRING: %v", err)
	}
	t.Setenv(EnvConnectionString, cs)
	t.Setenv(EnvAccountKey, "")
	t.Setenv(EnvAccount, "")
	return cs, p
}

// newContainer creates a fresh randomly named container and deletes it after the test.
func newContainer(t *testing.T, cs string) string {
	t.Helper()
	name := "skyplane-test-" + objstore.NewUploadID()[:16]
	cc, err := container.NewClientFromConnectionString(cs, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(t.Context(), nil); err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	t.Cleanup(func() { cc.Delete(context.Background(), nil) })
	return name
}

func openLoc(t *testing.T, loc objstore.Location, opts objstore.Options) *Store {
	t.Helper()
	st, err := objstore.Open(t.Context(), loc, withEnv(opts))
	if err != nil {
		t.Fatalf("Open(%s): %v", loc, err)
	}
	return objstore.Unwrap(st).(*Store)
}

// freshStore opens a store on a new container.
func freshStore(t *testing.T) *Store {
	t.Helper()
	cs, p := serverEnv(t)
	name := newContainer(t, cs)
	return openLoc(t, objstore.Location{Scheme: objstore.SchemeAzure, Account: p.account, Bucket: name}, objstore.Options{})
}

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		s := freshStore(t)
		s.pageSize = 400 // the 1,100-key listing spans 3 pages
		return s
	})
}

func md5sum(b []byte) []byte { h := md5.Sum(b); return h[:] }

func mustWrite(t *testing.T, s *Store, key string, data []byte) {
	t.Helper()
	if err := s.Write(t.Context(), key, bytes.NewReader(data), int64(len(data)), md5sum(data)); err != nil {
		t.Fatalf("Write(%q): %v", key, err)
	}
}

func listKeys(t *testing.T, s *Store, prefix string) []string {
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

func uploads(t *testing.T, s *Store, prefix string) []objstore.Upload {
	t.Helper()
	ups, err := objstore.Portable(s).ListMultipartUploads(t.Context(), prefix) // sorted, as callers get them
	if err != nil {
		t.Fatalf("ListMultipartUploads(%q): %v", prefix, err)
	}
	return ups
}

func uploadPart(t *testing.T, s *Store, key, id string, n int, data []byte) objstore.Part {
	t.Helper()
	p := objstore.Part{Number: n, Size: int64(len(data)), MD5: md5sum(data)}
	etag, err := s.UploadPart(t.Context(), key, id, p, bytes.NewReader(data))
	if err != nil {
		t.Fatalf("UploadPart(%q, %d): %v", key, n, err)
	}
	p.ETag = etag
	return p
}

// wantBlob checks key holds exactly data (Head, Read, List).
func wantBlob(t *testing.T, s *Store, key string, data []byte) {
	t.Helper()
	o, err := s.Head(t.Context(), key)
	if err != nil {
		t.Fatalf("Head(%q): %v", key, err)
	}
	if o.Size != int64(len(data)) || (o.MD5 != nil && !bytes.Equal(o.MD5, md5sum(data))) {
		t.Errorf("Head(%q) = size %d md5 %x, want %d %x", key, o.Size, o.MD5, len(data), md5sum(data))
	}
	if got := objstoretest.ReadAll(t, s, key); !bytes.Equal(got, data) {
		t.Errorf("Read(%q) = %q, want %q", key, got, data)
	}
	if ks := listKeys(t, s, key); !slices.Equal(ks, []string{key}) {
		t.Errorf("List(%q) = %q, want just the key", key, ks)
	}
}

func TestExistingBlobSurvivesAbortedAndFailedUploads(t *testing.T) {
	s := freshStore(t)
	ctx := t.Context()
	key := "keep/obj"
	orig := []byte("the committed original")
	mustWrite(t, s, key, orig)

	// An upload staged over it: invisible, the original intact, the upload listed.
	id := must(s.InitiateMultipart(ctx, key))
	uploadPart(t, s, key, id, 1, []byte("new part one"))
	uploadPart(t, s, key, id, 2, []byte("new part two"))
	bad := objstore.Part{Number: 3, Size: 4, MD5: md5sum([]byte("nope"))}
	if _, err := s.UploadPart(ctx, key, id, bad, strings.NewReader("data")); !errors.Is(err, objstore.ErrChecksumMismatch) {
		t.Fatalf("UploadPart with a wrong MD5: %v, want ErrChecksumMismatch", err)
	}
	wantBlob(t, s, key, orig)
	if ups := uploads(t, s, "keep/"); !slices.Equal(ups, []objstore.Upload{{Key: key, UploadID: id}}) {
		t.Errorf("ListMultipartUploads = %+v, want the open upload", ups)
	}

	// A failed Complete (a part never uploaded) changes nothing.
	err := s.CompleteMultipart(ctx, key, id, []objstore.Part{{Number: 1, Size: 12}, {Number: 2, Size: 12}, {Number: 3, Size: 4}})
	if !errors.Is(err, objstore.ErrUploadNotFound) {
		t.Errorf("CompleteMultipart with a missing part: %v, want ErrUploadNotFound", err)
	}
	wantBlob(t, s, key, orig)

	// Abort: the blob is left alone, the upload is gone, and cannot be completed.
	if err := s.AbortMultipart(ctx, key, id); err != nil {
		t.Fatalf("AbortMultipart: %v", err)
	}
	wantBlob(t, s, key, orig)
	if ups := uploads(t, s, "keep/"); len(ups) != 0 {
		t.Errorf("ListMultipartUploads after abort = %+v, want none", ups)
	}
	if err := s.AbortMultipart(ctx, key, id); err != nil {
		t.Errorf("second AbortMultipart: %v", err)
	}
	err = s.CompleteMultipart(ctx, key, id, []objstore.Part{{Number: 1, Size: 12}, {Number: 2, Size: 12}})
	if !errors.Is(err, objstore.ErrUploadNotFound) {
		t.Errorf("CompleteMultipart after abort: %v, want ErrUploadNotFound", err)
	}
	wantBlob(t, s, key, orig)

	// A later upload to the same key still works and replaces the blob.
	id2 := must(s.InitiateMultipart(ctx, key))
	p1 := uploadPart(t, s, key, id2, 1, []byte("replacement"))
	if err := s.CompleteMultipart(ctx, key, id2, []objstore.Part{p1}); err != nil {
		t.Fatalf("CompleteMultipart: %v", err)
	}
	wantBlob(t, s, key, []byte("replacement"))
	if ups := uploads(t, s, "keep/"); len(ups) != 0 {
		t.Errorf("ListMultipartUploads after the commit = %+v, want none (tombstones are discarded)", ups)
	}
}

func TestUncommittedBlocksInvisible(t *testing.T) {
	s := freshStore(t)
	ctx := t.Context()
	key := "hidden/obj"
	id := must(s.InitiateMultipart(ctx, key))
	uploadPart(t, s, key, id, 1, []byte("staged"))
	if _, err := s.Head(ctx, key); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head of a key with only staged blocks: %v, want ErrNotFound", err)
	}
	if _, err := s.Read(ctx, key, 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Read of a key with only staged blocks: %v, want ErrNotFound", err)
	}
	if ks := listKeys(t, s, ""); len(ks) != 0 {
		t.Errorf("List = %q, want nothing", ks)
	}
	// Abort of an upload on a fresh key deletes the uncommitted blob itself.
	if err := s.AbortMultipart(ctx, key, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cc.NewBlockBlobClient(key).GetBlockList(ctx, blockblob.BlockListTypeAll, nil); !isBlobNotFound(err) {
		t.Errorf("GetBlockList after abort: %v, want BlobNotFound (blocks deleted)", err)
	}
}

func TestAbortKeepsConcurrentUpload(t *testing.T) {
	s := freshStore(t)
	ctx := t.Context()
	key := "two/obj"
	a := must(s.InitiateMultipart(ctx, key))
	b := must(s.InitiateMultipart(ctx, key))
	uploadPart(t, s, key, a, 1, []byte("from a"))
	pb := uploadPart(t, s, key, b, 1, []byte("from b"))
	want := []objstore.Upload{{Key: key, UploadID: min(a, b)}, {Key: key, UploadID: max(a, b)}}
	if ups := uploads(t, s, ""); !slices.Equal(ups, want) {
		t.Errorf("ListMultipartUploads = %+v, want %+v", ups, want)
	}
	if err := s.AbortMultipart(ctx, key, a); err != nil {
		t.Fatal(err)
	}
	if ups := uploads(t, s, ""); !slices.Equal(ups, []objstore.Upload{{Key: key, UploadID: b}}) {
		t.Errorf("ListMultipartUploads after aborting a = %+v, want only b", ups)
	}
	if err := s.CompleteMultipart(ctx, key, b, []objstore.Part{pb}); err != nil {
		t.Fatalf("CompleteMultipart(b): %v", err)
	}
	wantBlob(t, s, key, []byte("from b"))
	// Complete is idempotent.
	if err := s.CompleteMultipart(ctx, key, b, []objstore.Part{pb}); err != nil {
		t.Errorf("CompleteMultipart(b) again: %v", err)
	}
	if ups := uploads(t, s, ""); len(ups) != 0 {
		t.Errorf("ListMultipartUploads after completing = %+v, want none", ups)
	}
}

func TestMultipartZeroByte(t *testing.T) {
	s := freshStore(t)
	ctx := t.Context()
	key := "zero/mpu"
	id := must(s.InitiateMultipart(ctx, key))
	p := uploadPart(t, s, key, id, 1, nil)
	if err := s.CompleteMultipart(ctx, key, id, []objstore.Part{p}); err != nil {
		t.Fatal(err)
	}
	wantBlob(t, s, key, nil)
}

func TestBothURLFormsOpenSameContainer(t *testing.T) {
	cs, p := serverEnv(t)
	name := newContainer(t, cs)
	var stores []*Store
	for _, u := range []string{
		"azure://" + p.account + "/" + name + "/some/key",
		"https://" + p.account + ".blob.core.windows.net/" + name + "/some/key",
	} {
		loc, err := objstore.ParseURL(u)
		if err != nil {
			t.Fatal(err)
		}
		s := openLoc(t, loc.BucketURL(), objstore.Options{})
		if got, want := s.URL(), "azure://"+p.account+"/"+name; got != want {
			t.Errorf("%s: URL() = %q, want %q", u, got, want)
		}
		if !strings.Contains(s.CredentialSource(), EnvConnectionString) {
			t.Errorf("%s: credential %q, want the connection string", u, s.CredentialSource())
		}
		stores = append(stores, s)
	}
	mustWrite(t, stores[0], "some/key", []byte("via azure://"))
	wantBlob(t, stores[1], "some/key", []byte("via azure://"))
}

func TestMissingContainer(t *testing.T) {
	_, p := serverEnv(t)
	name := "skyplane-missing-" + objstore.NewUploadID()[:12]
	s := openLoc(t, objstore.Location{Scheme: objstore.SchemeAzure, Account: p.account, Bucket: name}, objstore.Options{})
	ctx := t.Context()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, objstore.ErrBucketNotFound) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s on a missing container: %v, want ErrBucketNotFound naming %s", what, err, name)
		}
	}
	check("BucketExists", s.BucketExists(ctx))
	_, err := s.Head(ctx, "k")
	check("Head", err)
	check("Write", s.Write(ctx, "k", strings.NewReader("x"), 1, nil))
	for _, err := range s.List(ctx, "") {
		check("List", err)
	}
	_, err = s.ListMultipartUploads(ctx, "")
	check("ListMultipartUploads", err)
	check("Delete", s.Delete(ctx, "k"))
}

func TestWrongKeyAccessDenied(t *testing.T) {
	cs, p := serverEnv(t)
	name := newContainer(t, cs)
	loc := objstore.Location{Scheme: objstore.SchemeAzure, Account: p.account, Bucket: name}
	wrong := "d3Jvbmcga2V5IGZvciB0aGUgdGVzdCBvZiBhY2Nlc3MgZGVuaWVkIGVycm9ycw=="

	t.Run("connection string", func(t *testing.T) {
		t.Setenv(EnvConnectionString, strings.Replace(cs, "AccountKey="+p.key, "AccountKey="+wrong, 1))
		s := openLoc(t, loc, objstore.Options{})
		err := s.BucketExists(t.Context())
		if !errors.Is(err, objstore.ErrAccessDenied) || !strings.Contains(err.Error(), EnvConnectionString) {
			t.Errorf("BucketExists with a wrong key: %v, want ErrAccessDenied naming %s", err, EnvConnectionString)
		}
		if objstore.IsRetryable(err) {
			t.Errorf("access denied is marked retryable: %v", err)
		}
	})
	t.Run("AZURE_STORAGE_KEY", func(t *testing.T) {
		t.Setenv(EnvConnectionString, "")
		t.Setenv(EnvAccountKey, wrong)
		s := openLoc(t, loc, objstore.Options{Endpoint: p.endpoint})
		err := s.BucketExists(t.Context())
		if !errors.Is(err, objstore.ErrAccessDenied) || !strings.Contains(err.Error(), EnvAccountKey) {
			t.Errorf("BucketExists with a wrong key: %v, want ErrAccessDenied naming %s", err, EnvAccountKey)
		}
		_, err = s.Head(t.Context(), "k")
		if !errors.Is(err, objstore.ErrAccessDenied) {
			t.Errorf("Head with a wrong key: %v, want ErrAccessDenied", err)
		}
	})
	t.Run("AZURE_STORAGE_KEY right", func(t *testing.T) {
		t.Setenv(EnvConnectionString, "")
		t.Setenv(EnvAccountKey, p.key)
		s := openLoc(t, loc, objstore.Options{Endpoint: p.endpoint})
		if err := s.BucketExists(t.Context()); err != nil {
			t.Errorf("BucketExists with the right key from %s: %v", EnvAccountKey, err)
		}
	})
}

func TestListPaging(t *testing.T) {
	s := freshStore(t)
	var want []string
	for i := range 25 {
		k := fmt.Sprintf("pg/%02d", i)
		mustWrite(t, s, k, []byte(k))
		want = append(want, k)
	}
	var pages []int
	s.pageSize = 10
	s.onListPage = func(n int) { pages = append(pages, n) }
	if got := listKeys(t, s, "pg/"); !slices.Equal(got, want) {
		t.Errorf("List = %q, want %q", got, want)
	}
	if !slices.Equal(pages, []int{10, 10, 5}) {
		t.Errorf("page sizes %v, want [10 10 5]", pages)
	}
	// An early stop fetches no further page.
	pages = nil
	for range s.List(t.Context(), "pg/") {
		break
	}
	if len(pages) != 1 {
		t.Errorf("an early stop fetched %d pages, want 1", len(pages))
	}
	// ListMultipartUploads pages too.
	id := must(s.InitiateMultipart(t.Context(), "pg/zz"))
	uploadPart(t, s, "pg/zz", id, 1, []byte("x"))
	if ups := uploads(t, s, "pg/"); !slices.Equal(ups, []objstore.Upload{{Key: "pg/zz", UploadID: id}}) {
		t.Errorf("ListMultipartUploads = %+v", ups)
	}
}

// plainReader hides every interface but io.Reader.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

func TestStagedWrite(t *testing.T) {
	s := freshStore(t)
	ctx := t.Context()
	s.singlePutLimit = 1 << 20
	s.writeBlockSize = 256 << 10
	data := bytes.Repeat([]byte("0123456789abcdef"), (3<<20)/16+7) // 3 MiB + 112 bytes: 13 blocks
	for _, tc := range []struct {
		name string
		r    func() io.Reader
	}{
		{"seekable", func() io.Reader { return bytes.NewReader(data) }},
		{"plain reader", func() io.Reader { return plainReader{bytes.NewReader(data)} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "staged/" + strings.ReplaceAll(tc.name, " ", "-")
			if err := s.Write(ctx, key, tc.r(), int64(len(data)), md5sum(data)); err != nil {
				t.Fatalf("Write: %v", err)
			}
			wantBlob(t, s, key, data)
			o, _ := s.Head(ctx, key)
			if !bytes.Equal(o.MD5, md5sum(data)) {
				t.Errorf("Head.MD5 = %x, want %x", o.MD5, md5sum(data))
			}
			bad := key + "-bad"
			err := s.Write(ctx, bad, tc.r(), int64(len(data)), md5sum([]byte("other")))
			if !errors.Is(err, objstore.ErrChecksumMismatch) {
				t.Errorf("Write with a wrong MD5: %v, want ErrChecksumMismatch", err)
			}
			if _, err := s.Head(ctx, bad); !errors.Is(err, objstore.ErrNotFound) {
				t.Errorf("Head after a failed staged write: %v, want ErrNotFound", err)
			}
			if ups := uploads(t, s, bad); len(ups) != 0 {
				t.Errorf("a failed staged write left uploads %+v", ups)
			}
		})
	}
}

func TestPlainReaderWrite(t *testing.T) {
	s := freshStore(t)
	ctx := t.Context()
	data := []byte("streamed without seeking")
	if err := s.Write(ctx, "plain/ok", plainReader{bytes.NewReader(data)}, int64(len(data)), md5sum(data)); err != nil {
		t.Fatal(err)
	}
	wantBlob(t, s, "plain/ok", data)
	err := s.Write(ctx, "plain/bad", plainReader{bytes.NewReader(data)}, int64(len(data)), md5sum([]byte("x")))
	if !errors.Is(err, objstore.ErrChecksumMismatch) {
		t.Errorf("Write with a wrong MD5: %v, want ErrChecksumMismatch", err)
	}
	// A source shorter than the declared size fails, is not retryable, and writes nothing.
	for name, r := range map[string]io.Reader{"plain": plainReader{strings.NewReader("short")}, "seekable": strings.NewReader("short")} {
		err := s.Write(ctx, "plain/short", r, 10, nil)
		if err == nil || objstore.IsRetryable(err) || !strings.Contains(err.Error(), "5 of the 10 bytes") {
			t.Errorf("Write from a short %s source: %v, want a non-retryable error saying so", name, err)
		}
	}
	if _, err := s.Head(ctx, "plain/short"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head after short writes: %v, want ErrNotFound", err)
	}
	// A part from a plain reader, and a reader positioned mid-stream.
	id := must(s.InitiateMultipart(ctx, "plain/mpu"))
	p1 := objstore.Part{Number: 1, Size: 5, MD5: md5sum([]byte("hello"))}
	if _, err := s.UploadPart(ctx, "plain/mpu", id, p1, plainReader{strings.NewReader("hello")}); err != nil {
		t.Fatal(err)
	}
	r := strings.NewReader("XXworld")
	r.Seek(2, io.SeekStart)
	p2 := objstore.Part{Number: 2, Size: 5, MD5: md5sum([]byte("world"))}
	if _, err := s.UploadPart(ctx, "plain/mpu", id, p2, r); err != nil {
		t.Fatal(err)
	}
	if err := objstore.Portable(s).CompleteMultipart(ctx, "plain/mpu", id, []objstore.Part{p2, p1}); err != nil {
		t.Fatal(err)
	}
	wantBlob(t, s, "plain/mpu", []byte("helloworld"))
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
