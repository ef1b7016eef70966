// Package wire frames chunks on a gateway-to-gateway TCP stream.
//
// A connection carries chunks one way: a Sender writes frames and a Receiver
// on the other end reads them back; only the handshake goes both ways. This
// comment is the specification other gateways speak. All integers are
// big-endian. Version 2 authenticates every byte in every mode: both ends
// must hold the 32-byte dataplane key, and there is no unauthenticated mode.
//
// # Handshake
//
// The receiver speaks first, then the sender, then the receiver again:
//
//	challenge (receiver → sender), 38 bytes
//	0      4    magic "SKYP"
//	4      1    version (2)
//	5      1    flags, zero
//	6      32   receiver nonce (fresh from crypto/rand per connection)
//
//	hello (sender → receiver), 70 bytes
//	0      4    magic "SKYP"
//	4      1    version (2)
//	5      1    flags: bit0 = sealed; other bits must be zero
//	6      32   sender nonce (fresh from crypto/rand per connection)
//	38     32   sender proof
//
//	proof (receiver → sender), 32 bytes: receiver proof
//
// Both ends derive 64 bytes
//
//	macKey || frameKey = HKDF-SHA256(secret = dataplane key,
//	                                 salt = receiver nonce || sender nonce,
//	                                 info = "skyplane wire v2")
//
// and with T = the 38-byte challenge || the first 38 bytes of the hello:
//
//	sender proof   = HMAC-SHA256(macKey, "skyplane wire v2 sender" || T)
//	receiver proof = HMAC-SHA256(macKey, "skyplane wire v2 receiver" || T)
//
// The receiver checks the sender proof before it answers with its own, and
// the sender checks the receiver proof before it sends any frame, so neither
// end talks to a peer without the key (ErrAuth). Because the receiver's
// nonce is new on every connection, a recorded hello (and the frames after
// it) fails at any later receiver. A receiver whose sealed configuration
// differs from the hello's flag refuses it with ErrAuth. Each end gives the
// whole handshake Options.HandshakeTimeout (10 s by default) when the
// connection has deadlines.
//
// # Frame
//
// A frame is a fixed 68-byte header followed by wire-length payload bytes.
//
//	offset size field
//	0      4    magic "SKYP"
//	4      1    version (2)
//	5      1    flags: bit0 = body is LZ4-compressed, bit1 = sealed;
//	            other bits must be zero
//	6      2    reserved, zero
//	8      8    seq: 1 for the first frame, +1 for each later frame
//	16     16   chunk id
//	32     4    meta length (at most MaxMeta)
//	36     8    wire length (payload bytes following the header)
//	44     8    raw length (length of the chunk data)
//	52     16   checksum: MD5 of the raw chunk data, or all zero when the
//	            meta's chunk request asks for a CRC-32C instead (the
//	            gateways' meta then carries it, authenticated like the rest)
//
// body is the LZ4 block encoding of the data when the compressed flag is set
// (the sender compresses only when that is strictly smaller than the data,
// and data of 1 MiB or more only when three 64 KiB samples of it shrink by
// 3 %) and the data itself otherwise. AEAD is AES-256-GCM under frameKey
// with the 12-byte nonce 4 zero bytes || uint64 seq. The payload is
//
//	sealed:   AEAD.Seal(plaintext = body || meta, additional data = header)
//	unsealed: body || meta || tag, where tag is the last 16 bytes of
//	          AEAD.Seal(plaintext = header || meta, additional data = body)
//
// so wire length = len(body) + meta length + 16 either way. Unsealed, the
// data travels in the clear but header, meta and data are authenticated (the
// tag is GMAC over the data plus GCM over header and meta): a frame is
// written only if it came from a holder of the key on this connection.
//
// # Receiver errors
//
// Bad magic (ErrBadMagic), unknown version or flag bits (ErrVersion), a seq
// other than previous+1 (wraps ErrAuth), a sealed flag other than the
// connection's (ErrAuth), a meta length above MaxMeta, a raw or wire length
// above the receiver's Options.MaxFrame, a wire length too short for meta
// and tag, an uncompressed raw length other than the body's, or a compressed
// one above 255× the body plus 64 bytes (all ErrTooLarge), and a truncated
// stream (io.ErrUnexpectedEOF) are fatal: the Receiver returns the same
// error from then on and the caller closes the connection. They are all
// checked before any memory is committed to the frame; then the frame's
// memory (wire length, plus raw length when compressed) is taken from
// Options.Budget, and only then allocated; the frame holds it until
// Frame.Release. A frame that fails
// authentication (ErrAuth), decompression or the MD5 check (ErrChecksum) is
// returned as a *FrameError: its payload has been consumed, the stream is
// still in sync, and the caller fails that chunk and keeps reading.
package wire

import (
	"errors"
	"fmt"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/bufpool"
)

const (
	// MaxChunk bounds a frame's raw length and wire length.
	MaxChunk = 1 << 30
	// MaxMeta bounds a frame's meta length.
	MaxMeta = 1 << 20
	// Version is the format version this package speaks.
	Version = 2
	// HeaderSize is the size of a frame header.
	HeaderSize = 68
	// TagSize is what authentication adds to a frame's payload.
	TagSize = 16
	// KeySize is the size of a dataplane key.
	KeySize = 32
	// DefaultHandshakeTimeout bounds a handshake when Options leave it unset.
	DefaultHandshakeTimeout = 10 * time.Second

	magic = "SKYP"

	flagCompressed = 1 << 0
	flagSealed     = 1 << 1
	knownFlags     = flagCompressed | flagSealed

	// lz4MaxRatio and lz4Slack bound what an LZ4 block of n bytes can
	// decode to (a 4-bit token, then one byte per 255 of match length).
	lz4MaxRatio = 255
	lz4Slack    = 64
)

var (
	// ErrAuth: the peer does not hold the dataplane key, or a frame was
	// tampered with, replayed or reordered.
	ErrAuth = errors.New("wire: authentication failed")
	// ErrChecksum: the decoded data does not match the header's MD5 (or
	// does not decode to the header's raw length).
	ErrChecksum = errors.New("wire: checksum mismatch")
	// ErrBadMagic: the stream is not speaking this protocol.
	ErrBadMagic = errors.New("wire: bad magic")
	// ErrVersion: unknown version or flags.
	ErrVersion = errors.New("wire: unsupported version")
	// ErrTooLarge: a length above what the receiver accepts, or lengths
	// that contradict each other.
	ErrTooLarge = errors.New("wire: frame too large")
)

// FrameError reports a bad frame on a stream that is still in sync: the
// caller marks the chunk failed and keeps reading. ChunkID comes from the
// header and is not authenticated.
type FrameError struct {
	ChunkID [16]byte
	Err     error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("wire: chunk %x: %v", e.ChunkID, e.Err)
}

func (e *FrameError) Unwrap() error { return e.Err }

// Budget is the receiving gateway's memory: a Receiver acquires a frame's
// bytes before it allocates them. Acquire may block; an error ends the
// connection.
type Budget interface {
	Acquire(n int64) error
	Release(n int64)
}

// Options configure a Sender or Receiver.
type Options struct {
	// Key is the 32-byte per-dataplane key; both ends must hold it.
	Key []byte
	// Seal encrypts frames (encrypt_e2e); without it they are only
	// authenticated. Both ends must agree.
	Seal           bool
	Compress       bool // LZ4-compress the data when it shrinks (sender side only; receiver follows header flags)
	VerifyChecksum bool // receiver: check MD5 of the decoded data against the header
	// HandshakeTimeout bounds the handshake on a connection with
	// deadlines (net.Conn); 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxFrame (receiver) bounds a frame's raw and wire lengths; 0 or more
	// than MaxChunk means MaxChunk.
	MaxFrame int64
	// Budget (receiver), when set, holds each frame's memory from before
	// it is allocated until Frame.Release.
	Budget Budget
	// Corrupt is a test hook (sender only): called with the frame's
	// sequence number and the encoded payload bytes (after
	// compression+sealing) just before they are written; it may flip bytes.
	Corrupt func(seq uint64, payload []byte)
}

func (o Options) handshakeTimeout() time.Duration {
	if o.HandshakeTimeout > 0 {
		return o.HandshakeTimeout
	}
	return DefaultHandshakeTimeout
}

func (o Options) maxFrame() uint64 {
	if o.MaxFrame <= 0 || o.MaxFrame > MaxChunk {
		return MaxChunk
	}
	return uint64(o.MaxFrame)
}

// Frame is one chunk on the wire.
type Frame struct {
	ChunkID [16]byte
	Meta    []byte   // opaque metadata (a JSON chunk request), authenticated (and sealed) with the data
	Data    []byte   // the raw chunk bytes
	MD5     [16]byte // MD5 of Data, computed by the source as it read the data (zero when the meta carries a CRC-32C instead)

	// Buf, when set, is the pooled buffer Data lives in, laid out by
	// NewFrameBuffer: HeaderSize bytes of headroom, then Data, then room for
	// meta and tag. Frames from a Receiver always have one.
	Buf []byte
	// Owned lets Send seal the frame in place, overwriting Data. Set it only
	// when nothing else reads Data (no other destination shares it).
	Owned bool

	// budget and reserved: what Release gives back to the receiver's Budget.
	budget   Budget
	reserved int64
}

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

// Release recycles the buffer behind Data and returns the frame's memory to
// the receiver's Budget. Call it once when done (the GC reclaims the buffer
// otherwise, but not the budget); Data must not be used afterwards.
func (f *Frame) Release() {
	if f.Buf != nil {
		bufpool.Put(f.Buf)
		f.Buf, f.Data = nil, nil
	}
	if f.budget != nil {
		f.budget.Release(f.reserved)
		f.budget, f.reserved = nil, 0
	}
}

func checkKey(key []byte) error {
	if len(key) != KeySize {
		return fmt.Errorf("wire: dataplane key is %d bytes, want %d (every connection is authenticated)", len(key), KeySize)
	}
	return nil
}
