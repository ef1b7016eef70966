package wire

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
)

var (
	testKey  = bytes.Repeat([]byte{0x42}, KeySize)
	otherKey = bytes.Repeat([]byte{0x24}, KeySize)
)

var words = strings.Fields(`the quick brown fox jumps over lazy dog gateway chunk
transfer region bucket object storage network throughput latency bandwidth
replica source destination relay compress encrypt checksum verify upload
download multipart stripe sky plane cloud aws azure gcp json request status`)

// textData returns n bytes of deterministic, compressible pseudo-text.
func textData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	b.Grow(n + 32)
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			fmt.Fprintf(&b, " %d,\n", r.IntN(100000))
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

// randData returns n bytes of deterministic incompressible data.
func randData(n int, seed uint64) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

func mkFrame(id byte, meta string, data []byte) *Frame {
	f := &Frame{Data: data, MD5: md5.Sum(data)}
	f.ChunkID[0] = id
	f.ChunkID[15] = ^id
	if meta != "" {
		f.Meta = []byte(meta)
	}
	return f
}

func optsFor(sealed, compress bool) Options {
	return Options{Key: testKey, Seal: sealed, Compress: compress, VerifyChecksum: true}
}

// duplex joins a read side and a write side into one connection.
type duplex struct {
	io.Reader
	io.Writer
}

// Fixed nonces make recordings deterministic; only tests use them.
const (
	recvNonceByte = 0x5a
	sendNonceByte = 0xa5
)

func fixedRand(b byte) io.Reader { return bytes.NewReader(bytes.Repeat([]byte{b}, nonceLen)) }

// replayReceiver is a receiver whose nonce is the one recordings were made
// against, reading stream and discarding what it answers.
func replayReceiver(stream []byte, opts Options) (*Receiver, error) {
	return newReceiver(duplex{bytes.NewReader(stream), io.Discard}, opts, fixedRand(recvNonceByte))
}

// switchWriter lets record stop feeding the receiver after the handshake.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// recording holds the hello and the encoded frames a sender wrote on one
// connection, against a receiver with the fixed nonce.
type recording struct {
	hs     []byte
	frames [][]byte
}

func record(tb testing.TB, opts Options, frames ...*Frame) recording {
	tb.Helper()
	toSender, fromReceiver := io.Pipe()
	toReceiver, fromSender := io.Pipe()
	defer toSender.Close()
	defer toReceiver.Close()
	var capture bytes.Buffer
	sw := &switchWriter{w: io.MultiWriter(fromSender, &capture)}
	done := make(chan error, 1)
	go func() {
		_, err := newReceiver(duplex{toReceiver, fromReceiver}, opts, fixedRand(recvNonceByte))
		done <- err
	}()
	s, err := newSender(duplex{toSender, sw}, opts, fixedRand(sendNonceByte))
	if err != nil {
		tb.Fatal(err)
	}
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	sw.w = &capture
	rec := recording{hs: bytes.Clone(capture.Bytes())}
	for _, f := range frames {
		capture.Reset()
		if _, err := s.Send(f); err != nil {
			tb.Fatal(err)
		}
		rec.frames = append(rec.frames, bytes.Clone(capture.Bytes()))
	}
	return rec
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func checkFrame(t *testing.T, got, want *Frame) {
	t.Helper()
	if got.ChunkID != want.ChunkID {
		t.Fatalf("chunk id %x, want %x", got.ChunkID, want.ChunkID)
	}
	if !bytes.Equal(got.Meta, want.Meta) {
		t.Fatalf("meta %q, want %q", got.Meta, want.Meta)
	}
	if !bytes.Equal(got.Data, want.Data) {
		t.Fatalf("data differs (%d bytes, want %d)", len(got.Data), len(want.Data))
	}
	if got.Data == nil {
		t.Fatalf("nil Data")
	}
	if got.MD5 != want.MD5 {
		t.Fatalf("md5 %x, want %x", got.MD5, want.MD5)
	}
}

// connPair returns the two ends of a stream of the given kind.
func connPair(t *testing.T, kind string) (w, r net.Conn) {
	t.Helper()
	switch kind {
	case "pipe":
		w, r = net.Pipe()
	case "tcp":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		acc := make(chan net.Conn, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				t.Error(err)
			}
			acc <- c
		}()
		w, err = net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		r = <-acc
		if r == nil {
			t.FailNow()
		}
	default:
		t.Fatalf("kind %q", kind)
	}
	t.Cleanup(func() { w.Close(); r.Close() })
	return w, r
}

// sendAll runs a Sender on w in a goroutine, sending frames and closing w.
// It returns a channel yielding each frame's wireBytes, then the error.
func sendAll(w io.ReadWriteCloser, opts Options, frames []*Frame) (<-chan int64, <-chan error) {
	sizes := make(chan int64, len(frames))
	errc := make(chan error, 1)
	go func() {
		defer w.Close()
		s, err := NewSender(w, opts)
		if err != nil {
			errc <- err
			return
		}
		for _, f := range frames {
			n, err := s.Send(f)
			if err != nil {
				errc <- err
				return
			}
			sizes <- n
		}
		errc <- nil
	}()
	return sizes, errc
}

func TestRoundTrip(t *testing.T) {
	kinds := []struct {
		name string
		data []byte
		meta string
	}{
		{"empty", []byte{}, `{"k":"empty"}`},
		{"nil", nil, ""},
		{"one-byte", []byte{7}, ""},
		{"text", textData(1<<20, 1), `{"key":"a/b/c","offset":0}`},
		{"random-4MiB", randData(4<<20, 2), `{"key":"r"}`},
	}
	for _, transport := range []string{"pipe", "tcp"} {
		for _, sealed := range []bool{false, true} {
			for _, compress := range []bool{false, true} {
				name := fmt.Sprintf("%s/sealed=%v/compress=%v", transport, sealed, compress)
				t.Run(name, func(t *testing.T) {
					w, r := connPair(t, transport)
					var frames []*Frame
					for i, k := range kinds {
						frames = append(frames, mkFrame(byte(i), k.meta, k.data))
					}
					opts := optsFor(sealed, compress)
					sizes, errc := sendAll(w, opts, frames)
					rc, err := NewReceiver(r, opts)
					if err != nil {
						t.Fatal(err)
					}
					for i, k := range kinds {
						got, n, err := rc.Next()
						if err != nil {
							t.Fatalf("%s: %v", k.name, err)
						}
						checkFrame(t, got, frames[i])
						if sn := <-sizes; sn != n {
							t.Fatalf("%s: receiver counted %d wire bytes, sender %d", k.name, n, sn)
						}
						plain := int64(HeaderSize + len(k.meta) + len(k.data) + TagSize)
						switch {
						case compress && k.name == "text":
							if n > plain/2 {
								t.Errorf("text: %d wire bytes for %d raw: compression too weak", n, len(k.data))
							}
							t.Logf("text: %d raw -> %d wire (%.1f%%)", len(k.data), n, 100*float64(n)/float64(len(k.data)))
						default:
							if n != plain {
								t.Errorf("%s: %d wire bytes, want %d", k.name, n, plain)
							}
						}
					}
					if _, _, err := rc.Next(); err != io.EOF {
						t.Fatalf("after last frame: %v, want io.EOF", err)
					}
					if err := <-errc; err != nil {
						t.Fatal(err)
					}
				})
			}
		}
	}
}

func TestCorruptPayload(t *testing.T) {
	text := textData(64<<10, 3)
	rnd := randData(64<<10, 4)
	type pos func(p []byte) int
	first := func(p []byte) int { return 0 }
	middle := func(p []byte) int { return len(p) / 2 }
	last := func(p []byte) int { return len(p) - 1 }
	cases := []struct {
		name     string
		sealed   bool
		compress bool
		data     []byte
		at       pos
	}{
		{"sealed/first", true, false, rnd, first},
		{"sealed/middle", true, false, rnd, middle},
		{"sealed/tag", true, false, rnd, last},
		{"sealed/lz4/middle", true, true, text, middle},
		{"sealed/lz4/tag", true, true, text, last},
		{"unsealed/first", false, false, rnd, first},
		{"unsealed/middle", false, false, rnd, middle},
		{"unsealed/tag", false, false, rnd, last},
		{"unsealed/lz4/middle", false, true, text, middle},
		{"unsealed/lz4/tag", false, true, text, last},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := optsFor(c.sealed, c.compress)
			opts.Corrupt = func(seq uint64, p []byte) {
				if seq == 2 {
					p[c.at(p)] ^= 0x10
				}
			}
			frames := []*Frame{
				mkFrame(1, `{"n":1}`, c.data),
				mkFrame(2, `{"n":2}`, c.data),
				mkFrame(3, `{"n":3}`, c.data[:1000]),
				mkFrame(4, "", nil),
			}
			rec := record(t, opts, frames...)
			var sizes []int64
			for _, fr := range rec.frames {
				sizes = append(sizes, int64(len(fr)))
			}
			// Authentication alone catches the damage: no MD5 re-check.
			rc, err := replayReceiver(cat(rec.hs, cat(rec.frames...)), Options{Key: opts.Key, Seal: c.sealed})
			if err != nil {
				t.Fatal(err)
			}
			for i, f := range frames {
				got, n, err := rc.Next()
				if n != sizes[i] {
					t.Fatalf("frame %d: %d wire bytes, sender wrote %d", i+1, n, sizes[i])
				}
				if i == 1 {
					var fe *FrameError
					if !errors.As(err, &fe) {
						t.Fatalf("corrupted frame: err = %v, want *FrameError", err)
					}
					if !errors.Is(err, ErrAuth) {
						t.Fatalf("corrupted frame: err = %v, want ErrAuth", err)
					}
					if fe.ChunkID != f.ChunkID {
						t.Fatalf("FrameError chunk %x, want %x", fe.ChunkID, f.ChunkID)
					}
					if got != nil {
						t.Fatalf("got a frame with the error")
					}
					continue
				}
				if err != nil {
					t.Fatalf("frame %d: %v", i+1, err)
				}
				checkFrame(t, got, f)
			}
			if _, _, err := rc.Next(); err != io.EOF {
				t.Fatalf("end: %v", err)
			}
		})
	}
}
