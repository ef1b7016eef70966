package objstore

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"iter"
	"slices"
	"strings"
)

// portable is the layer every store opened through a Registry gets over its
// driver: what the Store contract promises callers that drivers would
// otherwise each repeat. It refuses an empty key before any request, checks
// that listings come in strict byte order (callers merge-join listings; an
// out-of-order key would silently skip or duplicate objects), hands
// CompleteMultipart its parts sorted by number and returns multipart uploads
// sorted by key and upload id. The optional interfaces (VersionReader,
// Locator, Sweeper, KeyChecker) are always present and fall back to what a
// caller does when the driver lacks them.
type portable struct{ d Store }

var (
	_ Store         = portable{}
	_ VersionReader = portable{}
	_ Locator       = portable{}
	_ Sweeper       = portable{}
	_ KeyChecker    = portable{}
)

// Portable puts the portable layer over a driver (once: a store that has it
// is returned as is). Registry.Open does this; tests that open a driver
// directly use it to get what callers get.
func Portable(d Store) Store {
	if p, ok := d.(portable); ok {
		return p
	}
	return portable{d: d}
}

func (p portable) noKey(op string) error {
	return fmt.Errorf("%s: %s: empty key: name an object: %w", p.d.URL(), op, ErrNotSupported)
}

func (p portable) URL() string                            { return p.d.URL() }
func (p portable) Features() Features                     { return p.d.Features() }
func (p portable) BucketExists(ctx context.Context) error { return p.d.BucketExists(ctx) }

func (p portable) List(ctx context.Context, prefix string) iter.Seq2[Object, error] {
	return func(yield func(Object, error) bool) {
		prev, first := "", true
		for o, err := range p.d.List(ctx, prefix) {
			if err == nil && !first && o.Key <= prev {
				yield(Object{}, fmt.Errorf("%s: list %q: the store returned %q after %q, not in strict byte order", p.d.URL(), prefix, o.Key, prev))
				return
			}
			if err == nil {
				prev, first = o.Key, false
			}
			if !yield(o, err) {
				return
			}
		}
	}
}

func (p portable) Head(ctx context.Context, key string) (Object, error) {
	if key == "" {
		return Object{}, p.noKey("head")
	}
	return p.d.Head(ctx, key)
}

func (p portable) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if key == "" {
		return nil, p.noKey("read")
	}
	return p.d.Read(ctx, key, offset, length)
}

// ReadVersion pins the read when the driver can (see ReadPinned).
func (p portable) ReadVersion(ctx context.Context, key, version string, offset, length int64) (io.ReadCloser, error) {
	if key == "" {
		return nil, p.noKey("read")
	}
	return ReadPinned(ctx, p.d, key, version, offset, length)
}

func (p portable) Write(ctx context.Context, key string, r io.Reader, size int64, md5 []byte) error {
	if key == "" {
		return p.noKey("write")
	}
	return p.d.Write(ctx, key, r, size, md5)
}

func (p portable) InitiateMultipart(ctx context.Context, key string) (string, error) {
	if key == "" {
		return "", p.noKey("initiate multipart upload")
	}
	return p.d.InitiateMultipart(ctx, key)
}

func (p portable) UploadPart(ctx context.Context, key, uploadID string, part Part, r io.Reader) (string, error) {
	if key == "" {
		return "", p.noKey("upload part")
	}
	return p.d.UploadPart(ctx, key, uploadID, part, r)
}

func (p portable) CompleteMultipart(ctx context.Context, key, uploadID string, parts []Part) error {
	if key == "" {
		return p.noKey("complete multipart upload")
	}
	sorted := slices.Clone(parts)
	slices.SortFunc(sorted, func(a, b Part) int { return cmp.Compare(a.Number, b.Number) })
	return p.d.CompleteMultipart(ctx, key, uploadID, sorted)
}

func (p portable) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if key == "" {
		return p.noKey("abort multipart upload")
	}
	return p.d.AbortMultipart(ctx, key, uploadID)
}

func (p portable) ListMultipartUploads(ctx context.Context, prefix string) ([]Upload, error) {
	ups, err := p.d.ListMultipartUploads(ctx, prefix)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ups, func(a, b Upload) int {
		return cmp.Or(strings.Compare(a.Key, b.Key), strings.Compare(a.UploadID, b.UploadID))
	})
	return ups, nil
}

func (p portable) Delete(ctx context.Context, key string) error {
	if key == "" {
		return p.noKey("delete")
	}
	return p.d.Delete(ctx, key)
}

// Region is "" (unknown: the caller's default) when the driver cannot tell.
func (p portable) Region(ctx context.Context) (string, error) {
	if l, ok := p.d.(Locator); ok {
		return l.Region(ctx)
	}
	return "", nil
}

// SweepStale does nothing for drivers that leave nothing behind.
func (p portable) SweepStale(ctx context.Context, prefix string) error {
	if s, ok := p.d.(Sweeper); ok {
		return s.SweepStale(ctx, prefix)
	}
	return nil
}

// CheckKey accepts every key the driver does not refuse.
func (p portable) CheckKey(key string) error {
	if k, ok := p.d.(KeyChecker); ok {
		return k.CheckKey(key)
	}
	return nil
}

// Unwrap returns the driver under the portable layer (s itself when s is a
// bare driver), for what only that backend offers.
func Unwrap(s Store) Store {
	if p, ok := s.(portable); ok {
		return p.d
	}
	return s
}
