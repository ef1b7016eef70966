// Package gcs is the Google Cloud Storage backend of objstore (scheme "gs").
//
// # Client and credentials
//
// When Options.GCSEmulatorHost is set (e.g. "127.0.0.1:4443", as for
// fake-gcs-server; commands take it from STORAGE_EMULATOR_HOST) the client
// talks to that emulator without authentication and never looks for
// credentials. Otherwise it uses Application Default
// Credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth
// application-default login`, or the metadata server on GCP).
// Options.Endpoint overrides the JSON API endpoint; a bare scheme://host[:port]
// gets "/storage/v1/" appended.
//
// Requester-pays buckets (Options.RequesterPays) bill Options.GCSProject
// (commands take it from GOOGLE_CLOUD_PROJECT); Open fails when it is empty.
//
// Every call is retried by the client library (policy RetryAlways: all our
// writes are safe to repeat, since they put the same bytes under the same
// name) with exponential backoff, at most 6 attempts. Whatever still fails
// with 408/429/5xx or a connection error is returned wrapped in
// objstore.Retryable. Every retry counts in Options.Retries.
//
// # Writes
//
// Write sends the object's MD5 with the upload, so the server rejects a body
// that does not match (objstore.ErrChecksumMismatch); the object appears
// only when the upload finalizes, and a failed or short source aborts it.
// A seekable source (an in-memory chunk, a file section) is streamed in one
// request without any extra buffer (ChunkSize 0); since the library cannot
// retry such an upload, Write rewinds the source and retries it itself. A
// non-seekable source up to 16 MiB is buffered once and sent in one retried
// request; a larger one goes as a resumable upload in 16 MiB chunks.
//
// # Multipart uploads (parallel composite upload)
//
// GCS has no S3-style multipart upload, so one is built from temporary
// objects and compose, under the reserved prefix ".skyplane-mpu/":
//
//	.skyplane-mpu/uploads/<key>#<uploadID>   manifest: marks an open upload of <key>
//	.skyplane-mpu/parts/<uploadID>/p<NNNNN>  part N (MD5 verified by the server)
//	.skyplane-mpu/parts/<uploadID>/c<L>-<I>  intermediate composite I of compose level L
//
// The upload id is 32 random lowercase hex digits. No state is kept in
// memory: any process can upload parts (in any order) or complete, given the
// key and upload id. CompleteMultipart composes the parts in order, at most
// 32 sources per compose call: groups of 32 into intermediate composites,
// then groups of those, until one call writes the final object (tagged with
// metadata skyplane-upload-id=<uploadID>, which makes a repeated Complete of
// the same upload a no-op). It then deletes every part and intermediate
// object and the manifest. AbortMultipart deletes the same (idempotent).
// ListMultipartUploads lists the manifests under
// ".skyplane-mpu/uploads/<prefix>". An UploadPart that lands after its upload
// was completed or aborted notices the missing manifest and deletes its piece.
//
// Objects under ".skyplane-mpu/" are never listed by List, Head and Read
// report them as missing, and Write/Delete/InitiateMultipart refuse such keys
// (objstore.ErrNotSupported). Keys used with multipart can be at most 969
// bytes long (GCS names are at most 1,024 bytes and the manifest adds 55).
//
// A composite object has a CRC32C but no MD5 on real GCS, so Head reports a
// nil MD5 for objects made by CompleteMultipart (fake-gcs-server computes
// one anyway).
//
// Features: MinPartSize 0 (compose sources have no minimum size), MaxParts
// 10,000 (the compose tree has no limit of its own; this matches S3).
package gcs

import (
	"context"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"google.golang.org/api/iterator"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

const (
	// EmulatorHostEnv names the emulator (fake-gcs-server) to use instead
	// of GCS (Options.GCSEmulatorHost).
	EmulatorHostEnv = objstore.EnvGCSEmulatorHost
	// ProjectEnv names the project billed for requester-pays buckets
	// (Options.GCSProject).
	ProjectEnv = objstore.EnvGCSProject

	// MaxParts is the most parts one multipart upload may have.
	MaxParts = 10000

	reservedPrefix = ".skyplane-mpu/"
	// reservedEnd is the first name after every name starting with reservedPrefix.
	reservedEnd     = ".skyplane-mpu0"
	uploadsPrefix   = reservedPrefix + "uploads/"
	partsPrefix     = reservedPrefix + "parts/"
	uploadIDMeta    = "skyplane-upload-id"
	maxNameLen      = 1024
	maxComposeSrcs  = 32
	defaultPageSize = 1000 // the most GCS returns per page

	maxBufferedSingle = 16 << 20 // largest non-seekable source sent as one buffered request
	maxWriteAttempts  = 5        // our own attempts at an unbuffered (ChunkSize 0) upload
	maxUploadAttempts = 6        // the library's attempts at one request of a buffered upload
)

func init() {
	objstore.Register(objstore.SchemeGCS, func(ctx context.Context, loc objstore.Location, opts objstore.Options) (objstore.Store, error) {
		return Open(ctx, loc, opts)
	})
}

// Store is one GCS bucket.
type Store struct {
	client   *storage.Client
	bucket   *storage.BucketHandle
	name     string
	creds    string // where the credentials come from, for error messages
	pageSize int    // objects per listing page
}

var (
	_ objstore.Store   = (*Store)(nil)
	_ objstore.Locator = (*Store)(nil)
)

// Close releases the client's connections.
func (s *Store) Close() error { return s.client.Close() }

// URL is "gs://bucket".
func (s *Store) URL() string { return "gs://" + s.name }

// Features: no minimum part size (compose sources may be any size) and at
// most MaxParts parts.
func (s *Store) Features() objstore.Features {
	return objstore.Features{MinPartSize: 0, MaxParts: MaxParts, ReportsMD5: true, ReportsCRC32C: true}
}

// BucketExists reads the bucket's metadata. A principal that may list
// objects but not read bucket metadata (storage.buckets.get) is accepted
// when listing works.
func (s *Store) BucketExists(ctx context.Context) error {
	_, err := s.bucket.Attrs(ctx)
	if err == nil {
		return nil
	}
	err = s.bucketErr("check", err)
	if errors.Is(err, objstore.ErrAccessDenied) {
		it := s.bucket.Objects(ctx, &storage.Query{Prefix: "", Projection: storage.ProjectionNoACL})
		it.PageInfo().MaxSize = 1
		if _, lerr := it.Next(); lerr == nil || errors.Is(lerr, iterator.Done) {
			return nil
		}
	}
	return err
}

// Region returns "gcp:" + the bucket's location in lower case. A
// multi-region or dual-region location is mapped to a region inside it
// (US and NAM4 → us-central1, EU → europe-west1, EUR4 → europe-west4,
// ASIA → asia-east1, ASIA1 → asia-northeast1), since gateways run in a
// region; an empty location (some emulators) is taken as GCS's default, US.
func (s *Store) Region(ctx context.Context) (string, error) {
	a, err := s.bucket.Attrs(ctx)
	if err != nil {
		return "", s.bucketErr("get the location of", err)
	}
	return "gcp:" + regionOf(a.Location), nil
}

var multiRegions = map[string]string{
	"":      "us-central1",
	"us":    "us-central1",
	"nam4":  "us-central1",
	"eu":    "europe-west1",
	"eur4":  "europe-west4",
	"eur5":  "europe-west2",
	"eur7":  "europe-west3",
	"eur8":  "europe-west6",
	"asia":  "asia-east1",
	"asia1": "asia-northeast1",
}

func regionOf(location string) string {
	l := strings.ToLower(strings.TrimSpace(location))
	if r, ok := multiRegions[l]; ok {
		return r
	}
	return l
}

func reserved(key string) bool { return strings.HasPrefix(key, reservedPrefix) }

// checkKey returns "" when key may name a user object, else why not.
func checkKey(key string) string {
	switch {
	case reserved(key):
		return "names under " + reservedPrefix + " are reserved for multipart staging"
	case len(key) > maxNameLen:
		return fmt.Sprintf("key is %d bytes long, GCS allows at most %d", len(key), maxNameLen)
	case strings.ContainsAny(key, "\r\n"):
		return "GCS object names cannot contain carriage returns or line feeds"
	}
	return ""
}

func (s *Store) refuse(op, key, why string) error {
	return fmt.Errorf("gcs: %s %s: %s: %w", op, s.objURL(key), why, objstore.ErrNotSupported)
}

func (s *Store) objURL(key string) string { return "gs://" + s.name + "/" + key }

func toObject(a *storage.ObjectAttrs) objstore.Object {
	o := objstore.Object{Key: a.Name, Size: a.Size, ModTime: a.Updated, ETag: a.Etag, Version: strconv.FormatInt(a.Generation, 10)}
	if a.Generation == 0 {
		o.Version = ""
	}
	// GCS computes a CRC-32C of every object, composed ones too (0 is the
	// CRC of an empty object, not a missing one).
	o.CRC32C = binary.BigEndian.AppendUint32(nil, a.CRC32C)
	if len(a.MD5) == md5.Size {
		o.MD5 = a.MD5
	}
	return o
}

// List yields the objects under prefix in byte order, one page at a time,
// skipping the reserved multipart prefix (by listing around it with
// StartOffset/EndOffset when prefix could match it).
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		if reserved(prefix) {
			return
		}
		ranges := [][2]string{{"", ""}}
		if strings.HasPrefix(reservedPrefix, prefix) {
			ranges = [][2]string{{"", reservedPrefix}, {reservedEnd, ""}}
		}
		for _, r := range ranges {
			for a, err := range s.listRaw(ctx, &storage.Query{Prefix: prefix, StartOffset: r[0], EndOffset: r[1]}) {
				if err != nil {
					yield(objstore.Object{}, s.bucketErr(fmt.Sprintf("list (prefix %q) in", prefix), err))
					return
				}
				if reserved(a.Name) {
					continue
				}
				if !yield(toObject(a), nil) {
					return
				}
			}
		}
	}
}

// listRaw iterates over a query's objects, fetching a page at a time.
func (s *Store) listRaw(ctx context.Context, q *storage.Query) iter.Seq2[*storage.ObjectAttrs, error] {
	return func(yield func(*storage.ObjectAttrs, error) bool) {
		q.Projection = storage.ProjectionNoACL
		if err := q.SetAttrSelection([]string{"Name", "Size", "Updated", "MD5", "CRC32C", "Etag", "Generation"}); err != nil {
			yield(nil, err)
			return
		}
		it := s.bucket.Objects(ctx, q)
		it.PageInfo().MaxSize = s.pageSize
		for {
			a, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if a.Name == "" { // a prefix entry (only with a delimiter)
				continue
			}
			if !yield(a, nil) {
				return
			}
		}
	}
}

// Head returns key's size, update time and MD5 (nil for composite objects).
func (s *Store) Head(ctx context.Context, key string) (objstore.Object, error) {
	if key == "" || reserved(key) {
		return objstore.Object{}, fmt.Errorf("gcs: head %s: %w", s.objURL(key), objstore.ErrNotFound)
	}
	a, err := s.bucket.Object(key).Attrs(ctx)
	if err != nil {
		return objstore.Object{}, s.objErr("head", key, err)
	}
	return toObject(a), nil
}

// Write stores size bytes from r as key; a non-nil md5 is verified by the server.
func (s *Store) Write(ctx context.Context, key string, r io.Reader, size int64, sum []byte) error {
	if why := checkKey(key); why != "" {
		return s.refuse("write", key, why)
	}
	_, err := s.put(ctx, key, r, size, sum, nil)
	return err
}

// sourceError is a failure of the caller's reader, not of the upload.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// put uploads size bytes from r as object name (see the package comment for
// the request strategy). The object exists afterwards only on success.
func (s *Store) put(ctx context.Context, name string, r io.Reader, size int64, sum []byte, meta map[string]string) (*storage.ObjectAttrs, error) {
	if size < 0 {
		return nil, fmt.Errorf("gcs: write %s: negative size %d", s.objURL(name), size)
	}
	if sum != nil && len(sum) != md5.Size {
		return nil, fmt.Errorf("gcs: write %s: MD5 must be %d bytes, got %d", s.objURL(name), md5.Size, len(sum))
	}
	rs, seekable := r.(io.ReadSeeker)
	var start int64
	if seekable {
		var err error
		if start, err = rs.Seek(0, io.SeekCurrent); err != nil {
			seekable = false
		}
	}
	pause := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		a, err := s.putOnce(ctx, name, r, size, sum, meta, seekable)
		if err == nil {
			return a, nil
		}
		var se *sourceError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("gcs: write %s: reading the source: %w", s.objURL(name), se.err)
		}
		if !seekable || attempt >= maxWriteAttempts || ctx.Err() != nil || !storage.ShouldRetry(err) {
			return nil, s.objErr("write", name, err)
		}
		d := pause/2 + rand.N(pause)
		pause = min(2*pause, 8*time.Second)
		select {
		case <-ctx.Done():
			return nil, s.objErr("write", name, err)
		case <-time.After(d):
		}
		if _, serr := rs.Seek(start, io.SeekStart); serr != nil {
			return nil, s.objErr("write", name, err)
		}
	}
}

func (s *Store) putOnce(ctx context.Context, name string, r io.Reader, size int64, sum []byte, meta map[string]string, seekable bool) (*storage.ObjectAttrs, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // aborts the upload unless Close finished it
	// The library retries uploads (buffered ones) until the context ends;
	// give up after maxUploadAttempts failures in a row instead.
	fails := 0
	obj := s.bucket.Object(name).Retryer(storage.WithErrorFunc(func(err error) bool {
		if err == nil {
			fails = 0
			return false
		}
		if !storage.ShouldRetry(err) {
			return false
		}
		fails++
		return fails < maxUploadAttempts
	}))
	w := obj.NewWriter(ctx)
	w.Metadata = meta
	if sum != nil {
		w.MD5 = sum
		w.DisableAutoChecksum = true // the server checks the MD5
	}
	switch {
	case seekable:
		w.ChunkSize = 0 // one streamed request, no buffer; put retries it
	case size < maxBufferedSingle:
		w.ChunkSize = int(size) + 1 // one buffered request, retried by the library
	default:
		w.ChunkSize = maxBufferedSingle // resumable, 16 MiB chunks
	}
	src := &srcReader{r: io.LimitReader(r, size)}
	n, err := io.Copy(w, src)
	if err == nil && n < size {
		src.err = fmt.Errorf("source ended after %d of %d bytes", n, size)
	}
	if src.err != nil {
		cancel()
		w.Close()
		return nil, &sourceError{src.err}
	}
	if err != nil {
		cancel()
		w.Close()
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return w.Attrs(), nil
}

// srcReader records the caller's reader errors apart from upload errors.
type srcReader struct {
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// Delete removes key; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if why := checkKey(key); why != "" {
		return s.refuse("delete", key, why)
	}
	return s.deleteRaw(ctx, key)
}

func (s *Store) deleteRaw(ctx context.Context, name string) error {
	err := s.bucket.Object(name).Delete(ctx)
	if err == nil || errors.Is(err, storage.ErrObjectNotExist) {
		return nil
	}
	return s.objErr("delete", name, err)
}
