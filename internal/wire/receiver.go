package wire

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
	"github.com/skyplane-project/skyplane-go/internal/bufpool"
)

const (
	// probeSize bounds the allocation for a payload whose length says it
	// is larger: the buffer grows only as bytes actually arrive.
	probeSize = 1 << 20
	// directAlloc: a payload up to this size is allocated whole once its
	// first probeSize bytes have arrived (a default 64 MiB part fits).
	directAlloc = 65 << 20
	readBufSize = 64 << 10
)

// Receiver reads frames. It is not safe for concurrent use. It reads ahead
// from its io.Reader, so nothing else may read from it afterwards.
type Receiver struct {
	r        *bufio.Reader
	seal     bool
	tg       tagger
	verify   bool
	maxFrame uint64
	budget   Budget
	seq      uint64 // last sequence number received
	err      error  // sticky fatal error

	hdr   [HeaderSize]byte
	probe []byte // first bytes of a large payload, before committing to its size
}

// NewReceiver runs the handshake on rw: it challenges the sender, checks
// that it holds the key, and proves it holds the key too.
func NewReceiver(rw io.ReadWriter, opts Options) (*Receiver, error) {
	return newReceiver(rw, opts, rand.Reader)
}

func newReceiver(rw io.ReadWriter, opts Options, rnd io.Reader) (*Receiver, error) {
	if err := checkKey(opts.Key); err != nil {
		return nil, err
	}
	rc := &Receiver{r: bufio.NewReaderSize(rw, readBufSize), seal: opts.Seal, verify: opts.VerifyChecksum,
		maxFrame: opts.maxFrame(), budget: opts.Budget}
	k, err := receiverHandshake(rw, rc.r, opts, rnd)
	if err != nil {
		return nil, err
	}
	rc.tg.aead = k.aead
	return rc, nil
}

// Next reads the next frame. It returns io.EOF when the stream ends cleanly
// between frames, a *FrameError for a bad frame on a stream still in sync
// (keep reading), and any other error when the connection must be closed.
// wireBytes counts the header and payload bytes consumed, also for a
// FrameError. The returned Frame owns its Meta and Data; Release it.
func (r *Receiver) Next() (f *Frame, wireBytes int64, err error) {
	if r.err != nil {
		return nil, 0, r.err
	}
	f, wireBytes, err = r.next()
	var fe *FrameError
	if err != nil && !errors.As(err, &fe) {
		r.err = err
	}
	return f, wireBytes, err
}

// header checks everything a header says before any memory is committed
// to its frame, and returns what the frame will hold.
func (r *Receiver) header(h []byte) (metaLen, wireLen, rawLen uint64, err error) {
	if string(h[:4]) != magic {
		return 0, 0, 0, ErrBadMagic
	}
	if h[4] != Version {
		return 0, 0, 0, fmt.Errorf("%w %d", ErrVersion, h[4])
	}
	flags := h[5]
	if flags&^knownFlags != 0 || h[6] != 0 || h[7] != 0 {
		return 0, 0, 0, fmt.Errorf("%w: frame flags %#x reserved %#x", ErrVersion, flags, h[6:8])
	}
	if seq := binary.BigEndian.Uint64(h[8:]); seq != r.seq+1 {
		return 0, 0, 0, fmt.Errorf("%w: frame seq %d, want %d (replayed or reordered)", ErrAuth, seq, r.seq+1)
	}
	if (flags&flagSealed != 0) != r.seal {
		return 0, 0, 0, fmt.Errorf("%w: sealed flag does not match the connection", ErrAuth)
	}
	metaLen = uint64(binary.BigEndian.Uint32(h[32:]))
	wireLen = binary.BigEndian.Uint64(h[36:])
	rawLen = binary.BigEndian.Uint64(h[44:])
	switch {
	case metaLen > MaxMeta:
		return 0, 0, 0, fmt.Errorf("%w: meta length %d above %d", ErrTooLarge, metaLen, MaxMeta)
	case wireLen > r.maxFrame || rawLen > r.maxFrame:
		return 0, 0, 0, fmt.Errorf("%w: wire length %d, raw length %d, this receiver takes at most %d", ErrTooLarge, wireLen, rawLen, r.maxFrame)
	case wireLen < metaLen+TagSize:
		return 0, 0, 0, fmt.Errorf("%w: wire length %d cannot hold meta %d and tag", ErrTooLarge, wireLen, metaLen)
	}
	bodyLen := wireLen - metaLen - TagSize
	if flags&flagCompressed == 0 && rawLen != bodyLen {
		return 0, 0, 0, fmt.Errorf("%w: body %d bytes, raw length %d", ErrTooLarge, bodyLen, rawLen)
	}
	if flags&flagCompressed != 0 && rawLen > lz4MaxRatio*bodyLen+lz4Slack {
		return 0, 0, 0, fmt.Errorf("%w: raw length %d from %d compressed bytes (LZ4 expands at most %d×)", ErrTooLarge, rawLen, bodyLen, lz4MaxRatio)
	}
	return metaLen, wireLen, rawLen, nil
}

func (r *Receiver) acquire(n uint64) error {
	if r.budget == nil || n == 0 {
		return nil
	}
	return r.budget.Acquire(int64(n))
}

func (r *Receiver) release(n uint64) {
	if r.budget != nil && n > 0 {
		r.budget.Release(int64(n))
	}
}

func (r *Receiver) next() (*Frame, int64, error) {
	h := r.hdr[:]
	if _, err := io.ReadFull(r.r, h); err != nil {
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		return nil, 0, fmt.Errorf("wire: frame header: %w", err)
	}
	metaLen, wireLen, rawLen, err := r.header(h)
	if err != nil {
		return nil, 0, err
	}
	compressed := h[5]&flagCompressed != 0
	r.seq++
	var id [16]byte
	copy(id[:], h[16:32])

	// The frame's memory is taken from the budget before it is allocated:
	// the payload, and the decoded data when it differs.
	reserved := wireLen
	if compressed {
		reserved += rawLen
	}
	if err := r.acquire(reserved); err != nil {
		return nil, 0, fmt.Errorf("wire: memory budget: %w", err)
	}
	// The payload lands HeaderSize bytes into a pooled buffer and is opened
	// in place, so an uncompressed frame's data needs no copy and the Frame
	// can be relayed onwards sealed in place (NewFrameBuffer's layout).
	pbuf, payload, err := r.readPayload(int(wireLen))
	if err != nil {
		r.release(reserved)
		return nil, 0, fmt.Errorf("wire: frame payload: %w", eofUnexpected(err))
	}
	keep := false // pbuf becomes the Frame's
	defer func() {
		if !keep {
			bufpool.Put(pbuf)
		}
	}()
	wireBytes := int64(HeaderSize) + int64(wireLen)
	bad := func(err error) (*Frame, int64, error) {
		r.release(reserved)
		return nil, wireBytes, &FrameError{ChunkID: id, Err: err}
	}

	plainLen := len(payload) - TagSize
	body := payload[:plainLen-int(metaLen)]
	meta := payload[len(body):plainLen]
	if r.seal {
		putNonce(&r.tg.nonce, r.seq)
		if _, err := r.tg.aead.Open(payload[:0], r.tg.nonce[:], payload, h); err != nil {
			return bad(ErrAuth)
		}
	} else if subtle.ConstantTimeCompare(r.tg.tag(r.seq, h, meta, body), payload[plainLen:]) != 1 {
		return bad(ErrAuth)
	}
	fr := &Frame{ChunkID: id, Owned: true, budget: r.budget}
	if compressed {
		fr.Buf, fr.Data = NewFrameBuffer(int(rawLen))
		n, err := lz4.UncompressBlock(body, fr.Data)
		if err != nil || uint64(n) != rawLen {
			bufpool.Put(fr.Buf)
			return bad(fmt.Errorf("%w: decompress: got %d of %d bytes (%v)", ErrChecksum, n, rawLen, err))
		}
		// The compressed payload is recycled on return, but the frame keeps
		// its whole reservation: budgets round what they give and take, so
		// only the amount acquired goes back, once.
	} else {
		fr.Buf, fr.Data, keep = pbuf, body, true
	}
	fr.reserved = int64(reserved)
	copy(fr.MD5[:], h[52:68])
	if r.verify && md5.Sum(fr.Data) != fr.MD5 {
		keep = false
		if compressed {
			bufpool.Put(fr.Buf)
		}
		return bad(ErrChecksum)
	}
	if metaLen > 0 {
		fr.Meta = bytes.Clone(meta)
	}
	return fr, wireBytes, nil
}

// readPayload reads an n-byte payload into a pooled buffer, HeaderSize bytes
// in, and returns the buffer and the payload within it. Memory is committed
// only as bytes arrive: a payload over probeSize is first read into a small
// probe buffer; past that, up to directAlloc is allocated at once (every
// ordinary chunk: no copy), and a larger one grows in directAlloc steps,
// costing copies only for huge frames.
func (r *Receiver) readPayload(n int) (buf, payload []byte, err error) {
	if n > probeSize {
		if r.probe == nil {
			r.probe = make([]byte, probeSize)
		}
		if _, err := io.ReadFull(r.r, r.probe); err != nil {
			return nil, nil, err
		}
	}
	size := func(have int) int { return HeaderSize + min(n, have) + TagSize }
	have := min(n, directAlloc)
	buf = bufpool.Get(size(have))
	got := 0
	if n > probeSize {
		got = copy(buf[HeaderSize:], r.probe)
	}
	for {
		k, err := io.ReadFull(r.r, buf[HeaderSize+got:HeaderSize+have])
		got += k
		if err != nil {
			bufpool.Put(buf)
			return nil, nil, err
		}
		if have == n {
			return buf, buf[HeaderSize : HeaderSize+n], nil
		}
		have = min(n, have+directAlloc)
		bigger := bufpool.Get(size(have))
		copy(bigger[HeaderSize:], buf[HeaderSize:HeaderSize+got])
		bufpool.Put(buf)
		buf = bigger
	}
}
