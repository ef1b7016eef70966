package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

type readCloser struct {
	io.Reader
	io.Closer
}

// Read returns length bytes of key from offset (length < 0: to the end). A
// range past the end of the file is an error; a range running past the end
// is cut short.
func (s *Store) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	return s.read(ctx, key, "", offset, length)
}

// ReadVersion implements objstore.VersionReader: the file is opened, and
// the size, mtime and inode of the opened file must be version's. The
// descriptor keeps reading that file even if another one is renamed over
// its name meanwhile; a rewrite in place during the read is caught by a
// second check when the range has been read (within the file system's
// timestamp granularity).
func (s *Store) ReadVersion(ctx context.Context, key, version string, offset, length int64) (io.ReadCloser, error) {
	if version == "" {
		return nil, fmt.Errorf("local: read %q: empty version", key)
	}
	return s.read(ctx, key, version, offset, length)
}

func (s *Store) read(ctx context.Context, key, want string, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := s.objectPath("read", key)
	if err != nil {
		if errors.Is(err, objstore.ErrNotSupported) {
			return nil, notFound("read", key, s.path(key))
		}
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, osErr("read", p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, osErr("read", p, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notFound("read", key, p)
	}
	if v := version(fi); want != "" && v != want {
		f.Close()
		return nil, fmt.Errorf("local: read %s: the file changed since it was listed (size-mtime-inode %s, was %s): %w", p, v, want, objstore.ErrChanged)
	}
	if offset < 0 || offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("local: read %s: offset %d out of range (size %d)", p, offset, fi.Size())
	}
	n := fi.Size() - offset
	if length >= 0 && length < n {
		n = length
	}
	if want != "" {
		return readCloser{&pinnedReader{io.NewSectionReader(f, offset, n), f, want}, f}, nil
	}
	return readCloser{io.NewSectionReader(f, offset, n), f}, nil
}

// pinnedReader checks the file's version again at the end of its range.
type pinnedReader struct {
	r    io.Reader
	f    *os.File
	want string
}

func (p *pinnedReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err == io.EOF {
		fi, serr := p.f.Stat()
		switch {
		case serr != nil:
			return n, osErr("read: stat", p.f.Name(), serr)
		case version(fi) != p.want:
			return n, fmt.Errorf("local: read %s: the file changed while it was read (size-mtime-inode %s, was %s): %w", p.f.Name(), version(fi), p.want, objstore.ErrChanged)
		}
	}
	return n, err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// copyN copies exactly n bytes from r to w. A chunk already in memory (a
// *bytes.Reader holding exactly n bytes, as gateways hand over) goes out
// in one write; anything else streams, checking ctx between reads.
func copyN(ctx context.Context, w io.Writer, r io.Reader, n int64) (int64, error) {
	if br, ok := r.(*bytes.Reader); ok && int64(br.Len()) == n {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return br.WriteTo(w)
	}
	return io.CopyBuffer(w, io.LimitReader(ctxReader{ctx, r}, n), make([]byte, 1<<20))
}
