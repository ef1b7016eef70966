package azure

import (
	"errors"
	"fmt"
	"io"
)

// errNotRewindable is returned when the SDK wants to resend a request body
// (a retry after part of it went out) that was read from a plain io.Reader.
// It is mapped to a Retryable error: the caller must send the data again.
var errNotRewindable = errors.New("the request failed after part of its body was sent, and the source reader cannot be rewound to resend it")

// shortSourceError: the caller's reader ended before the declared size. It is
// neither retried by the SDK (NonRetriable) nor marked Retryable.
type shortSourceError struct{ got, want int64 }

func (e *shortSourceError) Error() string {
	return fmt.Sprintf("the source reader ended after %d of the %d bytes declared", e.got, e.want)
}

// NonRetriable tells the azcore retry policy not to try again.
func (*shortSourceError) NonRetriable() {}

// nopCloser adds a no-op Close to an io.ReadSeeker.
type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

// newBody returns exactly size bytes of r as the io.ReadSeekCloser the SDK
// wants. When r can seek, the section from its current position is used, so
// the SDK can rewind it and retry. Otherwise the body is streamed once
// without buffering (see oneShot).
func newBody(r io.Reader, size int64) io.ReadSeekCloser {
	if rs, ok := r.(io.ReadSeeker); ok {
		if cur, err := rs.Seek(0, io.SeekCurrent); err == nil {
			s := &section{rs: rs, base: cur, size: size, at: cur}
			if ra, ok := r.(io.ReaderAt); ok {
				s.ra = ra
			}
			return nopCloser{s}
		}
	}
	return &oneShot{r: io.LimitReader(r, size), size: size}
}

// section is size bytes from offset base of a seekable source, read with
// ReadAt when the source has it.
type section struct {
	ra        io.ReaderAt // may be nil
	rs        io.ReadSeeker
	base, pos int64
	size      int64
	at        int64 // position of rs
}

func (s *section) Read(p []byte) (n int, err error) {
	if s.pos >= s.size {
		return 0, io.EOF
	}
	if rem := s.size - s.pos; int64(len(p)) > rem {
		p = p[:rem]
	}
	if s.ra != nil {
		n, err = s.ra.ReadAt(p, s.base+s.pos)
		if err == io.EOF && n == len(p) {
			err = nil
		}
	} else {
		if s.at != s.base+s.pos {
			if _, err := s.rs.Seek(s.base+s.pos, io.SeekStart); err != nil {
				return 0, err
			}
			s.at = s.base + s.pos
		}
		n, err = s.rs.Read(p)
		s.at += int64(n)
	}
	s.pos += int64(n)
	if err == io.EOF && s.pos < s.size {
		err = &shortSourceError{got: s.pos, want: s.size}
	}
	return n, err
}

func (s *section) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += s.pos
	case io.SeekEnd:
		off += s.size
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if off < 0 {
		return 0, errors.New("seek: negative position")
	}
	s.pos = off
	return off, nil
}

// oneShot streams a plain reader as a request body. It seeks only while no
// byte has been read (the SDK seeks to the end and back to learn the size,
// and rewinds before the first try); a later rewind fails with
// errNotRewindable, so a retry after a partial send is left to the caller.
type oneShot struct {
	r        io.Reader
	size     int64
	pos      int64 // virtual position while nothing has been read
	consumed int64
}

func (o *oneShot) Read(p []byte) (int, error) {
	if o.consumed == 0 && o.pos != 0 {
		if o.pos >= o.size {
			return 0, io.EOF
		}
		return 0, errNotRewindable
	}
	n, err := o.r.Read(p)
	o.consumed += int64(n)
	if err == io.EOF && o.consumed < o.size {
		err = &shortSourceError{got: o.consumed, want: o.size}
	}
	return n, err
}

func (o *oneShot) Seek(off int64, whence int) (int64, error) {
	cur := o.pos
	if o.consumed > 0 {
		cur = o.consumed
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		off += cur
	case io.SeekEnd:
		off += o.size
	default:
		return 0, errors.New("seek: invalid whence")
	}
	if o.consumed > 0 {
		if off == o.consumed {
			return off, nil
		}
		return 0, errNotRewindable
	}
	if off < 0 {
		return 0, errors.New("seek: negative position")
	}
	o.pos = off
	return off, nil
}

func (o *oneShot) Close() error { return nil }
