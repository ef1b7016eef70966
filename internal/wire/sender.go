package wire

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"

	"github.com/pierrec/lz4/v4"
	"github.com/skyplane-project/skyplane-go/internal/bufpool"
)

const (
	// minCompress: smaller data is sent as is.
	minCompress = 32
	// Data of sampleMin bytes or more is compressed only when three
	// sampleSize windows (start, middle, end) shrink by sampleGain.
	sampleMin  = 1 << 20
	sampleSize = 64 << 10
	sampleGain = 0.03
	directMin  = 64 << 10
)

// tagger computes unsealed frames' tags: the last TagSize bytes of
// AEAD.Seal(header || meta) with the body as additional data, which costs
// one GHASH pass over the body (see BenchmarkFrameMAC for HMAC-SHA256).
type tagger struct {
	aead    cipher.AEAD
	nonce   [gcmNonceSize]byte
	scratch []byte
}

func (t *tagger) tag(seq uint64, h, meta, body []byte) []byte {
	n := HeaderSize + len(meta)
	if cap(t.scratch) < n+TagSize {
		t.scratch = make([]byte, n+TagSize)
	}
	plain := t.scratch[:n]
	copy(plain, h)
	copy(plain[HeaderSize:], meta)
	putNonce(&t.nonce, seq)
	out := t.aead.Seal(plain[:0], t.nonce[:], plain, body)
	return out[n:]
}

// Sender writes frames. It is not safe for concurrent use; use one Sender per
// connection from one goroutine at a time.
type Sender struct {
	w        io.Writer
	seal     bool
	tg       tagger
	compress bool
	corrupt  func(uint64, []byte)
	seq      uint64 // last sequence number sent
	err      error  // sticky write error: the stream is broken

	comp *lz4.Compressor
	// sample is scratch space for worthCompressing.
	sample []byte
	bufs   [3][]byte
}

// NewSender runs the handshake on rw (which must carry the receiver's
// answers back) and returns a Sender once the receiver has proved it holds
// the key.
func NewSender(rw io.ReadWriter, opts Options) (*Sender, error) {
	return newSender(rw, opts, rand.Reader)
}

func newSender(rw io.ReadWriter, opts Options, rnd io.Reader) (*Sender, error) {
	if err := checkKey(opts.Key); err != nil {
		return nil, err
	}
	k, err := senderHandshake(rw, opts, rnd)
	if err != nil {
		return nil, err
	}
	return &Sender{w: rw, seal: opts.Seal, tg: tagger{aead: k.aead}, compress: opts.Compress, corrupt: opts.Corrupt}, nil
}

// compressor is the Sender's LZ4 state, made on first use: uncompressed
// connections never pay for its tables.
func (s *Sender) compressor() *lz4.Compressor {
	if s.comp == nil {
		s.comp = new(lz4.Compressor)
	}
	return s.comp
}

// worthCompressing guesses from a few samples whether big data will
// shrink: LZ4 gives up on incompressible data only near its end, so a full
// attempt on a 64 MiB random part costs about as much as sealing it.
// Samples that shrink by less than sampleGain mean the data is sent as is.
func (s *Sender) worthCompressing(data []byte) bool {
	if len(data) < sampleMin {
		return true
	}
	if s.sample == nil {
		s.sample = make([]byte, lz4.CompressBlockBound(sampleSize))
	}
	in, out := 0, 0
	for _, at := range []int{0, len(data)/2 - sampleSize/2, len(data) - sampleSize} {
		win := data[at : at+sampleSize]
		n, err := s.compressor().CompressBlock(win, s.sample)
		if err != nil || n == 0 {
			n = sampleSize // incompressible: lz4 reports 0
		}
		in, out = in+sampleSize, out+n
	}
	return float64(out) < float64(in)*(1-sampleGain)
}

// Send writes one frame and returns the number of bytes it put on the wire
// (header + payload). f.MD5 is sent as the frame's checksum as is. A frame
// that is too large is refused with ErrTooLarge before anything is written;
// after a write error the Sender is broken and returns that error again.
//
// With f.Owned and a Buf laid out by NewFrameBuffer, an uncompressed frame is
// sealed in place: one pass over the data and no copy, after which f.Data
// holds ciphertext. Otherwise the frame is built in a pooled buffer.
func (s *Sender) Send(f *Frame) (wireBytes int64, err error) {
	if s.err != nil {
		return 0, s.err
	}
	metaLen, rawLen := len(f.Meta), len(f.Data)
	if rawLen > MaxChunk || metaLen > MaxMeta || metaLen+rawLen+TagSize > MaxChunk {
		return 0, fmt.Errorf("%w: meta %d + data %d bytes", ErrTooLarge, metaLen, rawLen)
	}
	seq := s.seq + 1

	// Lay out header || body || meta || tag in buf.
	var buf []byte
	var flags byte
	bodyLen := rawLen
	pooled := false
	if s.compress && rawLen >= minCompress && s.worthCompressing(f.Data) {
		cbuf := bufpool.Get(HeaderSize + rawLen + metaLen + TagSize)
		// A destination one byte short of the data makes the compressor
		// give up as soon as the result cannot be strictly smaller.
		n, err := s.compressor().CompressBlock(f.Data, cbuf[HeaderSize:HeaderSize+rawLen-1])
		if err == nil && n > 0 && n < rawLen {
			flags |= flagCompressed
			bodyLen = n
			buf, pooled = cbuf, true
		} else {
			bufpool.Put(cbuf)
		}
	}
	// Large unsealed, uncompressed data goes out straight from f.Data
	// (writev on a TCP connection), header, meta and tag around it.
	direct := buf == nil && !s.seal && s.corrupt == nil && rawLen >= directMin
	switch {
	case buf != nil:
	case direct:
		buf, pooled = bufpool.Get(HeaderSize+metaLen+TagSize), true
	case f.inPlace(metaLen + TagSize):
		buf = f.Buf[:HeaderSize+rawLen+metaLen+TagSize]
	default:
		buf, pooled = bufpool.Get(HeaderSize+rawLen+metaLen+TagSize), true
		copy(buf[HeaderSize:], f.Data)
	}
	if pooled {
		defer bufpool.Put(buf)
	}
	metaAt := HeaderSize + bodyLen
	if direct {
		metaAt = HeaderSize
	}
	copy(buf[metaAt:], f.Meta)
	if s.seal {
		flags |= flagSealed
	}
	plainLen := bodyLen + metaLen
	wireLen := plainLen + TagSize

	h := buf[:HeaderSize]
	copy(h, magic)
	h[4] = Version
	h[5] = flags
	h[6], h[7] = 0, 0
	binary.BigEndian.PutUint64(h[8:], seq)
	copy(h[16:32], f.ChunkID[:])
	binary.BigEndian.PutUint32(h[32:], uint32(metaLen))
	binary.BigEndian.PutUint64(h[36:], uint64(wireLen))
	binary.BigEndian.PutUint64(h[44:], uint64(rawLen))
	copy(h[52:68], f.MD5[:])

	if s.seal {
		putNonce(&s.tg.nonce, seq)
		plain := buf[HeaderSize : HeaderSize+plainLen]
		s.tg.aead.Seal(plain[:0], s.tg.nonce[:], plain, h)
	} else {
		body := f.Data
		if !direct {
			body = buf[HeaderSize : HeaderSize+bodyLen]
		}
		copy(buf[metaAt+metaLen:], s.tg.tag(seq, h, buf[metaAt:metaAt+metaLen], body))
	}
	if direct {
		s.bufs[0], s.bufs[1], s.bufs[2] = buf[:HeaderSize], f.Data, buf[HeaderSize:HeaderSize+metaLen+TagSize]
		nb := net.Buffers(s.bufs[:])
		_, err = nb.WriteTo(s.w)
		s.bufs = [3][]byte{}
	} else {
		if s.corrupt != nil {
			s.corrupt(seq, buf[HeaderSize:HeaderSize+wireLen])
		}
		_, err = s.w.Write(buf[:HeaderSize+wireLen])
	}
	if err != nil {
		s.err = fmt.Errorf("wire: send: %w", err)
		return 0, s.err
	}
	s.seq = seq
	return int64(HeaderSize + wireLen), nil
}
