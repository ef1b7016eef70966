// Package objstore is the store interface every backend (local disk, S3, GCS,
// Azure Blob, HDFS) implements as a driver, the portable layer every opened
// store gets over its driver (Portable: key, listing and multipart rules
// that hold for all backends), URL parsing, and the registries of backends
// with their retry counts.
//
// A Store is opened at bucket level; keys are relative to it. Listings stream
// (iter.Seq2) in lexicographic byte order so callers can merge-join a source
// and a destination listing with bounded memory.
package objstore

import (
	"context"
	"errors"
	"io"
	"iter"
	"time"
)

// Object is one entry of a listing or the answer of Head.
type Object struct {
	Key     string
	Size    int64
	ModTime time.Time
	// MD5 is the whole-object MD5 when the store knows it (nil otherwise, e.g.
	// for S3 multipart objects whose ETag is not an MD5).
	MD5 []byte
	// CRC32C is the whole-object CRC-32C (Castagnoli), 4 bytes big-endian,
	// when the store reports one (GCS, also for composed objects); nil
	// otherwise.
	CRC32C []byte
	// ETag is the store's entity tag as it reports it, without quotes (S3:
	// the MD5 of a single-part object, or the MD5 of the parts' MD5s
	// followed by "-N" for an object of N parts); empty where there is none.
	ETag string
	// Version names this version of the object's content, opaque to callers:
	// the S3 ETag (or version id), the GCS generation, the Azure ETag, local
	// size and mtime in nanoseconds. Empty when the store cannot tell. A
	// VersionReader refuses to read any other version.
	Version string
}

// Part describes one part of a multipart upload.
type Part struct {
	Number int   // 1-based
	Offset int64 // byte offset of the part in the final object
	Size   int64
	MD5    []byte // verified by the store when non-nil
	ETag   string // returned by UploadPart; handed back to CompleteMultipart
}

// Upload is an open multipart upload.
type Upload struct {
	Key      string
	UploadID string
}

// Features are a backend's capabilities and limits (rclone style).
type Features struct {
	// MinPartSize is the smallest allowed size of a non-final part (0 = none).
	MinPartSize int64
	// MaxParts is the most parts one multipart upload may have (0 = no limit).
	MaxParts int
	// NoFolderMarkers: keys ending in "/" are not objects here (local disk:
	// writing one makes a directory). Copies create them; verification
	// does not look for them.
	NoFolderMarkers bool
	// ReportsMD5: List and Head set Object.MD5 to the whole-object MD5 of
	// an object stored by Write with an MD5 (S3 single-part ETag, GCS
	// md5Hash, Azure Content-MD5). Where it is false, MD5 stays nil unless
	// the store happens to know it. An MD5 that is set is always right.
	ReportsMD5 bool
	// MultipartETag: after CompleteMultipart, Object.ETag is the S3 form
	// hex(MD5(part MD5s concatenated)) + "-N" for N parts, so a reader can
	// check the object against the part MD5s it recorded.
	MultipartETag bool
	// ReportsCRC32C: List and Head set Object.CRC32C for every object,
	// multipart ones included (GCS).
	ReportsCRC32C bool
}

// Store is the driver interface of one bucket (or container, or file system root).
type Store interface {
	// URL names the bucket this store was opened at, e.g. "s3://bucket" or "file:///".
	URL() string
	Features() Features
	// BucketExists returns nil, or an error wrapping ErrBucketNotFound or ErrAccessDenied.
	BucketExists(ctx context.Context) error
	// List yields every object whose key starts with prefix, recursively (no
	// delimiter), in lexicographic byte order of keys, page by page.
	List(ctx context.Context, prefix string) iter.Seq2[Object, error]
	// Head returns an error wrapping ErrNotFound when the key does not exist.
	Head(ctx context.Context, key string) (Object, error)
	// Read returns length bytes from offset; length < 0 reads to the end.
	Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	// Write stores size bytes from r as key, atomically: the object is either
	// absent or complete. A non-nil md5 is verified (ErrChecksumMismatch).
	Write(ctx context.Context, key string, r io.Reader, size int64, md5 []byte) error
	InitiateMultipart(ctx context.Context, key string) (uploadID string, err error)
	// UploadPart stores p.Size bytes from r as part p. Parts may arrive in any
	// order and from several processes. It returns the ETag for CompleteMultipart.
	UploadPart(ctx context.Context, key, uploadID string, p Part, r io.Reader) (etag string, err error)
	// CompleteMultipart makes the object visible from parts. Callers pass
	// them in any order; drivers get them sorted by Number (Portable).
	CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error
	// AbortMultipart discards an upload and every staged part.
	AbortMultipart(ctx context.Context, key, uploadID string) error
	// ListMultipartUploads lists open uploads under prefix (to callers
	// sorted by key, then upload id: Portable sorts them).
	ListMultipartUploads(ctx context.Context, prefix string) ([]Upload, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// VersionReader is implemented by stores that can pin a read to one version
// of an object (Object.Version), so the parts of one object read at
// different times all come from the same content.
type VersionReader interface {
	// ReadVersion is Read that fails with an error wrapping ErrChanged when
	// key no longer holds version.
	ReadVersion(ctx context.Context, key, version string, offset, length int64) (io.ReadCloser, error)
}

// ReadPinned reads from s pinned to version when version is non-empty and s
// can pin reads, and reads whatever is there otherwise.
func ReadPinned(ctx context.Context, s Store, key, version string, offset, length int64) (io.ReadCloser, error) {
	if vr, ok := s.(VersionReader); ok && version != "" {
		return vr.ReadVersion(ctx, key, version, offset, length)
	}
	return s.Read(ctx, key, offset, length)
}

// Locator is implemented by stores that know where their bucket lives. The
// answer is a region tag "<cloud>:<region>", e.g. "aws:us-east-1",
// "gcp:us-central1", "azure:eastus"; the planner places gateways by it.
type Locator interface {
	Region(ctx context.Context) (string, error)
}

// Sweeper is implemented by stores that can leave temporary files behind
// when a writer dies mid-write (local disk); SweepStale removes those whose
// writer is gone: beside a key, or anywhere under a prefix ending in "/".
type Sweeper interface {
	SweepStale(ctx context.Context, prefix string) error
}

// Errors callers branch on. Backends wrap them with %w and add context
// (bucket, key, credential source).
var (
	ErrNotFound         = errors.New("object not found")
	ErrBucketNotFound   = errors.New("bucket not found")
	ErrAccessDenied     = errors.New("access denied")
	ErrChecksumMismatch = errors.New("checksum mismatch")
	ErrUploadNotFound   = errors.New("multipart upload not found")
	ErrNotSupported     = errors.New("not supported")
	// ErrChanged: the object no longer holds the version a read was pinned
	// to (it was rewritten during the transfer).
	ErrChanged = errors.New("object changed during transfer")
)

// RetryableError marks a failure worth retrying (throttling, 5xx, resets).
type RetryableError struct{ Err error }

func (e *RetryableError) Error() string { return e.Err.Error() }
func (e *RetryableError) Unwrap() error { return e.Err }

// Retryable wraps err as retryable.
func Retryable(err error) error {
	if err == nil {
		return nil
	}
	return &RetryableError{Err: err}
}

// IsRetryable reports whether err (or anything it wraps) is retryable.
func IsRetryable(err error) bool {
	var r *RetryableError
	return errors.As(err, &r)
}
