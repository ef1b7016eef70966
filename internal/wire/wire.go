// Package wire frames chunks on a gateway-to-gateway TCP stream.
//
// A connection is one-way: a Sender writes a handshake and then one frame per
// chunk; a Receiver on the other end reads them back. This comment is the
// specification other gateways speak. All integers are big-endian.
//
// # Handshake (sender → receiver)
//
//	offset size field
//	0      4    magic "SKYP"
//	4      1    version (1)
//	5      1    flags: bit0 = sealed; other bits must be zero
//	6      32   connection salt (fresh from crypto/rand per connection)
//	38     16   token, only when sealed
//
// When sealed, both ends derive the connection key
//
//	connKey = HKDF-SHA256(secret = dataplane key, salt = connection salt,
//	                      info = "skyplane wire v1"), 32 bytes
//
// and the AEAD is AES-256-GCM under connKey with the 12-byte nonce
// 4 zero bytes || uint64 seq. The token is AEAD.Seal of an empty plaintext
// with seq 0 and additional data = the 38 handshake bytes before it. A
// receiver whose key differs, or whose sealed/unsealed configuration differs
// from the sender's flags, refuses the handshake with ErrAuth. Because every
// connection has its own key, nonces never repeat across connections and a
// frame spliced in from another connection fails authentication.
//
// # Frame
//
// A frame is a fixed 68-byte header followed by wire-length payload bytes.
//
//	offset size field
//	0      4    magic "SKYP"
//	4      1    version (1)
//	5      1    flags: bit0 = body is LZ4-compressed, bit1 = sealed;
//	            other bits must be zero
//	6      2    reserved, zero
//	8      8    seq: 1 for the first frame, +1 for each later frame
//	16     16   chunk id
//	32     4    meta length
//	36     8    wire length (payload bytes following the header)
//	44     8    raw length (length of the chunk data)
//	52     16   checksum: MD5 of the raw chunk data
//
// The plaintext is body || meta, where body is the LZ4 block encoding of the
// data when the compressed flag is set (the sender compresses only when that
// is strictly smaller than the data, and data of 1 MiB or more only when
// three 64 KiB samples of it shrink by 3 %) and the data itself otherwise. When
// sealed, payload = AEAD.Seal(plaintext) with nonce seq and additional data =
// the whole 68-byte header, so wire length = len(body) + meta length + 16.
// Unsealed, payload = plaintext || CRC-32C (Castagnoli) of header || meta,
// so wire length = len(body) + meta length + 4: the data is covered by its
// MD5, the header and meta by the CRC.
//
// # Receiver errors
//
// Bad magic (ErrBadMagic), unknown version or flag bits (ErrVersion), a seq
// other than previous+1 (wraps ErrAuth), a raw or wire length above MaxChunk
// (ErrTooLarge) and a truncated stream (io.ErrUnexpectedEOF) are fatal: the
// Receiver returns the same error from then on and the caller closes the
// connection. A frame that fails authentication (ErrAuth), decompression or
// the MD5 check (ErrChecksum) is returned as a *FrameError: its payload has
// been consumed, the stream is still in sync, and the caller fails that
// chunk and keeps reading. On an unsealed connection only the data is
// protected (by MD5); the meta and header fields are not.
package wire

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/skyplane-project/skyplane-go/internal/bufpool"
	"hash/crc32"
	"io"
	"net"

	"github.com/pierrec/lz4/v4"
)

const (
	// MaxChunk bounds a frame's raw length and wire length.
	MaxChunk = 1 << 30
	// Version is the format version this package speaks.
	Version = 1
	// HeaderSize is the size of a frame header.
	HeaderSize = 68
	// TagSize is what sealing adds to a frame's payload.
	TagSize = 16
	// KeySize is the size of a dataplane key.
	KeySize = 32

	magic = "SKYP"
	info  = "skyplane wire v1"

	saltSize        = 32
	handshakePrefix = 4 + 1 + 1 + saltSize // before the token
	nonceSize       = 12

	hsSealed = 1 << 0

	flagCompressed = 1 << 0
	flagSealed     = 1 << 1
	knownFlags     = flagCompressed | flagSealed

	// minCompress: smaller data is sent as is.
	minCompress = 32
	// Data of sampleMin bytes or more is compressed only when three
	// sampleSize windows (start, middle, end) shrink by sampleGain.
	sampleMin  = 1 << 20
	sampleSize = 64 << 10
	sampleGain = 0.03
	// probeSize bounds the allocation for a payload whose
	// (unauthenticated) length says it is larger: the buffer grows only as
	// bytes actually arrive.
	probeSize = 1 << 20
	// directAlloc: a payload up to this size is allocated whole once its
	// first probeSize bytes have arrived (a default 64 MiB part fits).
	directAlloc = 65 << 20
	readBufSize = 64 << 10
	directMin   = 64 << 10
)

var (
	// ErrAuth: sealed under another key, tampered with, replayed or
	// reordered, or the handshake failed.
	ErrAuth = errors.New("wire: authentication failed")
	// ErrChecksum: the decoded data does not match the header's MD5 (or
	// does not decode to the header's raw length).
	ErrChecksum = errors.New("wire: checksum mismatch")
	// ErrBadMagic: the stream is not speaking this protocol.
	ErrBadMagic = errors.New("wire: bad magic")
	// ErrVersion: unknown version or flags.
	ErrVersion = errors.New("wire: unsupported version")
	// ErrTooLarge: a length above MaxChunk.
	ErrTooLarge = errors.New("wire: frame too large")
)

// FrameError reports a bad frame on a stream that is still in sync: the
// caller marks the chunk failed and keeps reading. ChunkID comes from the
// header and is not authenticated when Err is ErrAuth.
type FrameError struct {
	ChunkID [16]byte
	Err     error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("wire: chunk %x: %v", e.ChunkID, e.Err)
}

func (e *FrameError) Unwrap() error { return e.Err }

// Options configure a Sender or Receiver.
type Options struct {
	Key            []byte // 32-byte per-dataplane key; nil or empty = no sealing (plaintext, still MD5-checked)
	Compress       bool   // LZ4-compress the data when it shrinks (sender side only; receiver follows header flags)
	VerifyChecksum bool   // receiver: check MD5 of the decoded data against the header (config verify_checksums)
	// Corrupt is a test hook (sender only): called with the frame's
	// sequence number and the encoded payload bytes (after
	// compression+sealing) just before they are written; it may flip bytes.
	Corrupt func(seq uint64, payload []byte)
}

// Frame is one chunk on the wire.
type Frame struct {
	ChunkID [16]byte
	Meta    []byte   // opaque metadata (a JSON chunk request), carried sealed together with the data
	Data    []byte   // the raw chunk bytes
	MD5     [16]byte // MD5 of Data, computed by the source as it read the data

	// Buf, when set, is the pooled buffer Data lives in, laid out by
	// NewFrameBuffer: HeaderSize bytes of headroom, then Data, then room for
	// meta and tag. Frames from a Receiver always have one.
	Buf []byte
	// Owned lets Send seal the frame in place, overwriting Data. Set it only
	// when nothing else reads Data (no other destination shares it).
	Owned bool
}

// crcSize is the CRC-32C trailer of unsealed frames.
const crcSize = 4

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// TailRoom is the room NewFrameBuffer leaves after the data for the meta
// (a chunk request) and the authentication tag.
const TailRoom = 4096 + TagSize

// NewFrameBuffer returns a pooled buffer laid out for in-place sending and
// the n-byte Data window within it. Release the Frame (or bufpool.Put(buf))
// when done.
func NewFrameBuffer(n int) (buf, data []byte) {
	buf = bufpool.Get(HeaderSize + n + TailRoom)
	return buf, buf[HeaderSize : HeaderSize+n]
}

// inPlace reports whether the frame can be sealed where it lies, with
// extra bytes (meta and tag) after Data.
func (f *Frame) inPlace(extra int) bool {
	n := len(f.Data)
	return f.Owned && len(f.Buf) >= HeaderSize+n && cap(f.Buf) >= HeaderSize+n+extra &&
		(n == 0 || &f.Buf[HeaderSize] == &f.Data[0])
}

// Release recycles the buffer behind Data. Optional (the GC reclaims it
// otherwise); Data must not be used afterwards.
func (f *Frame) Release() {
	if f.Buf != nil {
		bufpool.Put(f.Buf)
		f.Buf, f.Data = nil, nil
	}
}

func checkKey(key []byte) error {
	if len(key) != 0 && len(key) != KeySize {
		return fmt.Errorf("wire: key is %d bytes, want %d", len(key), KeySize)
	}
	return nil
}

// connAEAD derives the connection AEAD from the dataplane key and salt.
func connAEAD(key, salt []byte) (cipher.AEAD, error) {
	ck, err := hkdf.Key(sha256.New, key, salt, info, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(ck)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func putNonce(nonce *[nonceSize]byte, seq uint64) {
	binary.BigEndian.PutUint64(nonce[4:], seq)
}

// Sender writes frames. It is not safe for concurrent use; use one Sender per
// connection from one goroutine at a time.
type Sender struct {
	w        io.Writer
	aead     cipher.AEAD // nil when unsealed
	compress bool
	corrupt  func(uint64, []byte)
	seq      uint64 // last sequence number sent
	err      error  // sticky write error: the stream is broken

	comp *lz4.Compressor
	// sample is scratch space for worthCompressing.
	sample []byte
	nonce  [nonceSize]byte
	bufs   [3][]byte
}

// NewSender writes the handshake to w and returns a Sender.
func NewSender(w io.Writer, opts Options) (*Sender, error) {
	return newSender(w, opts, rand.Reader)
}

func newSender(w io.Writer, opts Options, saltSrc io.Reader) (*Sender, error) {
	if err := checkKey(opts.Key); err != nil {
		return nil, err
	}
	s := &Sender{w: w, compress: opts.Compress, corrupt: opts.Corrupt}
	hs := make([]byte, handshakePrefix, handshakePrefix+TagSize)
	copy(hs, magic)
	hs[4] = Version
	salt := hs[6:handshakePrefix]
	if _, err := io.ReadFull(saltSrc, salt); err != nil {
		return nil, fmt.Errorf("wire: salt: %w", err)
	}
	if len(opts.Key) != 0 {
		hs[5] = hsSealed
		aead, err := connAEAD(opts.Key, salt)
		if err != nil {
			return nil, err
		}
		s.aead = aead
		putNonce(&s.nonce, 0)
		hs = aead.Seal(hs, s.nonce[:], nil, hs[:handshakePrefix])
	}
	if _, err := w.Write(hs); err != nil {
		return nil, fmt.Errorf("wire: handshake: %w", err)
	}
	return s, nil
}

// compressor is the Sender's LZ4 state, made on first use: unsealed,
// uncompressed connections never pay for its tables.
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
	overhead := crcSize
	if s.aead != nil {
		overhead = s.aead.Overhead()
	}
	metaLen, rawLen := len(f.Meta), len(f.Data)
	if rawLen > MaxChunk || metaLen > MaxChunk || metaLen+rawLen+overhead > MaxChunk {
		return 0, fmt.Errorf("%w: meta %d + data %d bytes", ErrTooLarge, metaLen, rawLen)
	}
	seq := s.seq + 1

	// Lay out header || body || meta (|| tag) in buf.
	var buf []byte
	var flags byte
	bodyLen := rawLen
	pooled := false
	if s.compress && rawLen >= minCompress && s.worthCompressing(f.Data) {
		cbuf := bufpool.Get(HeaderSize + rawLen + metaLen + overhead)
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
	// (writev on a TCP connection), header and meta around it.
	direct := buf == nil && s.aead == nil && s.corrupt == nil && rawLen >= directMin
	switch {
	case buf != nil:
	case direct:
		buf, pooled = bufpool.Get(HeaderSize+metaLen+crcSize), true
	case f.inPlace(metaLen + overhead):
		buf = f.Buf[:HeaderSize+rawLen+metaLen+overhead]
	default:
		buf, pooled = bufpool.Get(HeaderSize+rawLen+metaLen+overhead), true
		copy(buf[HeaderSize:], f.Data)
	}
	if pooled {
		defer bufpool.Put(buf)
	}
	if direct {
		copy(buf[HeaderSize:], f.Meta)
	} else {
		copy(buf[HeaderSize+bodyLen:], f.Meta)
	}
	if s.aead != nil {
		flags |= flagSealed
	}
	plainLen := bodyLen + metaLen
	wireLen := plainLen + overhead

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

	if s.aead == nil {
		// Unsealed: a CRC-32C of header and meta stands in for the tag, so a
		// damaged destination key or chunk id is caught, not obeyed.
		metaAt := HeaderSize + bodyLen
		if direct {
			metaAt = HeaderSize
		}
		crc := crc32.Update(crc32.Checksum(h, castagnoli), castagnoli, buf[metaAt:metaAt+metaLen])
		binary.BigEndian.PutUint32(buf[metaAt+metaLen:], crc)
	}
	if direct {
		s.bufs[0], s.bufs[1], s.bufs[2] = buf[:HeaderSize], f.Data, buf[HeaderSize:HeaderSize+metaLen+crcSize]
		nb := net.Buffers(s.bufs[:])
		_, err = nb.WriteTo(s.w)
		s.bufs = [3][]byte{}
	} else {
		if s.aead != nil {
			putNonce(&s.nonce, seq)
			plain := buf[HeaderSize : HeaderSize+plainLen]
			s.aead.Seal(plain[:0], s.nonce[:], plain, h)
		}
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

// Receiver reads frames. It is not safe for concurrent use. It reads ahead
// from its io.Reader, so nothing else may read from it afterwards.
type Receiver struct {
	r      *bufio.Reader
	aead   cipher.AEAD // nil when unsealed
	verify bool
	seq    uint64 // last sequence number received
	err    error  // sticky fatal error

	hdr   [HeaderSize]byte
	nonce [nonceSize]byte
	probe []byte // first bytes of a large payload, before committing to its size
}

// NewReceiver reads and authenticates the handshake from r.
func NewReceiver(r io.Reader, opts Options) (*Receiver, error) {
	if err := checkKey(opts.Key); err != nil {
		return nil, err
	}
	rc := &Receiver{r: bufio.NewReaderSize(r, readBufSize), verify: opts.VerifyChecksum}
	var hs [handshakePrefix + TagSize]byte
	if _, err := io.ReadFull(rc.r, hs[:handshakePrefix]); err != nil {
		return nil, fmt.Errorf("wire: handshake: %w", eofUnexpected(err))
	}
	if string(hs[:4]) != magic {
		return nil, fmt.Errorf("%w in handshake", ErrBadMagic)
	}
	if hs[4] != Version {
		return nil, fmt.Errorf("%w %d in handshake", ErrVersion, hs[4])
	}
	if hs[5]&^hsSealed != 0 {
		return nil, fmt.Errorf("%w: handshake flags %#x", ErrVersion, hs[5])
	}
	sealed := hs[5]&hsSealed != 0
	switch {
	case sealed && len(opts.Key) == 0:
		return nil, fmt.Errorf("%w: sender seals but this receiver has no key", ErrAuth)
	case !sealed && len(opts.Key) != 0:
		return nil, fmt.Errorf("%w: sender does not seal", ErrAuth)
	case !sealed:
		return rc, nil
	}
	if _, err := io.ReadFull(rc.r, hs[handshakePrefix:]); err != nil {
		return nil, fmt.Errorf("wire: handshake: %w", eofUnexpected(err))
	}
	aead, err := connAEAD(opts.Key, hs[6:handshakePrefix])
	if err != nil {
		return nil, err
	}
	putNonce(&rc.nonce, 0)
	var tmp [0]byte
	if _, err := aead.Open(tmp[:0], rc.nonce[:], hs[handshakePrefix:], hs[:handshakePrefix]); err != nil {
		return nil, fmt.Errorf("%w: handshake token (wrong dataplane key?)", ErrAuth)
	}
	rc.aead = aead
	return rc, nil
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Next reads the next frame. It returns io.EOF when the stream ends cleanly
// between frames, a *FrameError for a bad frame on a stream still in sync
// (keep reading), and any other error when the connection must be closed.
// wireBytes counts the header and payload bytes consumed, also for a
// FrameError. The returned Frame owns its Meta and Data.
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

func (r *Receiver) next() (*Frame, int64, error) {
	h := r.hdr[:]
	if _, err := io.ReadFull(r.r, h); err != nil {
		if err == io.EOF {
			return nil, 0, io.EOF
		}
		return nil, 0, fmt.Errorf("wire: frame header: %w", err)
	}
	if string(h[:4]) != magic {
		return nil, 0, ErrBadMagic
	}
	if h[4] != Version {
		return nil, 0, fmt.Errorf("%w %d", ErrVersion, h[4])
	}
	flags := h[5]
	if flags&^knownFlags != 0 || h[6] != 0 || h[7] != 0 {
		return nil, 0, fmt.Errorf("%w: frame flags %#x reserved %#x", ErrVersion, flags, h[6:8])
	}
	seq := binary.BigEndian.Uint64(h[8:])
	if seq != r.seq+1 {
		return nil, 0, fmt.Errorf("%w: frame seq %d, want %d (replayed or reordered)", ErrAuth, seq, r.seq+1)
	}
	metaLen := uint64(binary.BigEndian.Uint32(h[32:]))
	wireLen := binary.BigEndian.Uint64(h[36:])
	rawLen := binary.BigEndian.Uint64(h[44:])
	if wireLen > MaxChunk || rawLen > MaxChunk {
		return nil, 0, fmt.Errorf("%w: wire length %d, raw length %d", ErrTooLarge, wireLen, rawLen)
	}
	r.seq = seq
	var id [16]byte
	copy(id[:], h[16:32])

	// The payload lands HeaderSize bytes into a pooled buffer and is opened
	// in place, so an uncompressed frame's data needs no copy and the Frame
	// can be relayed onwards sealed in place (NewFrameBuffer's layout).
	compressed := flags&flagCompressed != 0
	pbuf, payload, err := r.readPayload(int(wireLen))
	if err != nil {
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
		return nil, wireBytes, &FrameError{ChunkID: id, Err: err}
	}

	plain := payload
	if r.aead == nil && flags&flagSealed == 0 {
		if len(payload) < crcSize || uint64(len(payload)-crcSize) < metaLen {
			return bad(fmt.Errorf("%w: payload too short for its meta and CRC", ErrChecksum))
		}
		plain = payload[:len(payload)-crcSize]
		meta := plain[uint64(len(plain))-metaLen:]
		if crc32.Update(crc32.Checksum(h, castagnoli), castagnoli, meta) != binary.BigEndian.Uint32(payload[len(plain):]) {
			return bad(fmt.Errorf("%w: header or meta damaged (CRC mismatch)", ErrChecksum))
		}
	}
	if r.aead != nil {
		putNonce(&r.nonce, seq)
		if len(payload) < r.aead.Overhead() {
			return bad(ErrAuth)
		}
		plain, err = r.aead.Open(payload[:0], r.nonce[:], payload, h)
		if err != nil {
			return bad(ErrAuth)
		}
	}
	if (flags&flagSealed != 0) != (r.aead != nil) {
		return bad(fmt.Errorf("%w: sealed flag does not match the connection", ErrAuth))
	}
	if metaLen > uint64(len(plain)) {
		return bad(fmt.Errorf("%w: meta length %d exceeds payload %d", ErrChecksum, metaLen, len(plain)))
	}
	body := plain[:uint64(len(plain))-metaLen]
	meta := plain[len(body):]
	fr := &Frame{ChunkID: id, Owned: true}
	if compressed {
		// LZ4 expands at most ~255x; refuse before allocating for a
		// header that claims more.
		if rawLen > 256*uint64(len(body))+64 {
			return bad(fmt.Errorf("%w: raw length %d from %d compressed bytes", ErrChecksum, rawLen, len(body)))
		}
		fr.Buf, fr.Data = NewFrameBuffer(int(rawLen))
		n, err := lz4.UncompressBlock(body, fr.Data)
		if err != nil || uint64(n) != rawLen {
			fr.Release()
			return bad(fmt.Errorf("%w: decompress: got %d of %d bytes (%v)", ErrChecksum, n, rawLen, err))
		}
	} else {
		if uint64(len(body)) != rawLen {
			return bad(fmt.Errorf("%w: body %d bytes, raw length %d", ErrChecksum, len(body), rawLen))
		}
		fr.Buf, fr.Data, keep = pbuf, body, true
	}
	copy(fr.MD5[:], h[52:68])
	if r.verify && md5.Sum(fr.Data) != fr.MD5 {
		keep = false
		if compressed {
			fr.Release()
		}
		return bad(ErrChecksum)
	}
	if metaLen > 0 {
		fr.Meta = bytes.Clone(meta)
	}
	return fr, wireBytes, nil
}

// readPayload reads an n-byte payload into a pooled buffer, HeaderSize bytes
// in, and returns the buffer and the payload within it. A header may lie
// about its length, so memory is committed only as bytes arrive: a payload
// over probeSize is first read into a small probe buffer; past that, up to
// directAlloc is allocated at once (every ordinary chunk: no copy), and a
// larger one grows in directAlloc steps, costing copies only for huge frames.
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
