package gcs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"

	"cloud.google.com/go/storage"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Read returns length bytes of key from offset (length < 0: to the end). The
// stored bytes are returned as they are (no decompressive transcoding of
// gzip-encoded objects). A zero length is answered without a request.
func (s *Store) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return s.read(ctx, key, 0, offset, length)
}

// ReadVersion implements objstore.VersionReader: Read with the precondition
// ifGenerationMatch (version is the generation). Asking for the generation
// itself would read an old one on a versioned bucket instead of failing; a
// 412 becomes objstore.ErrChanged.
func (s *Store) ReadVersion(ctx context.Context, key, version string, offset, length int64) (io.ReadCloser, error) {
	gen, err := strconv.ParseInt(version, 10, 64)
	if err != nil || gen <= 0 {
		return nil, fmt.Errorf("gcs: read %s: version %q is not a generation", s.objURL(key), version)
	}
	return s.read(ctx, key, gen, offset, length)
}

func (s *Store) read(ctx context.Context, key string, gen, offset, length int64) (io.ReadCloser, error) {
	if key == "" || reserved(key) {
		return nil, fmt.Errorf("gcs: read %s: %w", s.objURL(key), objstore.ErrNotFound)
	}
	if offset < 0 {
		return nil, fmt.Errorf("gcs: read %s: negative offset %d", s.objURL(key), offset)
	}
	obj := s.bucket.Object(key)
	if gen > 0 {
		obj = obj.If(storage.Conditions{GenerationMatch: gen})
	}
	if length == 0 && gen > 0 {
		// Nothing to read, but the generation must still be the one pinned.
		a, err := obj.Attrs(ctx)
		if err != nil {
			return nil, s.objErr("read", key, err)
		}
		if a.Generation != gen {
			return nil, changed(s.objURL(key), gen, a.Generation)
		}
	}
	if length == 0 {
		return io.NopCloser(bytes.NewReader(nil)), nil
	}
	r, err := obj.ReadCompressed(true).NewRangeReader(ctx, offset, length)
	if err != nil {
		return nil, s.objErr(fmt.Sprintf("read (offset %d, length %d)", offset, length), key, err)
	}
	if gen > 0 && r.Attrs.Generation != gen {
		// Servers that ignore the precondition (fake-gcs-server) still
		// name the generation they send.
		r.Close()
		return nil, changed(s.objURL(key), gen, r.Attrs.Generation)
	}
	return &reader{r: r, s: s, key: key}, nil
}

func changed(obj string, gen, now int64) error {
	return fmt.Errorf("gcs: read %s: generation %d was rewritten as %d since it was listed: %w", obj, gen, now, objstore.ErrChanged)
}

// reader maps the errors of a body being read to objstore errors.
type reader struct {
	r   *storage.Reader
	s   *Store
	key string
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.objErr("read", r.key, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.r.Close() }
