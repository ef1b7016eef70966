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
	"runtime"
	"strings"
	"sync"
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
	o := Options{Compress: compress, VerifyChecksum: true}
	if sealed {
		o.Key = testKey
	}
	return o
}

func overheadFor(sealed bool) int64 {
	if sealed {
		return TagSize
	}
	return crcSize
}

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
func sendAll(w io.WriteCloser, opts Options, frames []*Frame) (<-chan int64, <-chan error) {
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
						plain := int64(HeaderSize+len(k.meta)+len(k.data)) + overheadFor(sealed)
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
		want     error
	}{
		{"sealed/first", true, false, rnd, first, ErrAuth},
		{"sealed/middle", true, false, rnd, middle, ErrAuth},
		{"sealed/tag", true, false, rnd, last, ErrAuth},
		{"sealed/lz4/middle", true, true, text, middle, ErrAuth},
		{"sealed/lz4/tag", true, true, text, last, ErrAuth},
		{"plain/middle", false, false, rnd, middle, ErrChecksum},
		{"plain/last", false, false, rnd, last, ErrChecksum},
		{"plain/lz4/last", false, true, text, last, ErrChecksum},
		{"plain/lz4/text", false, false, text, middle, ErrChecksum},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts := optsFor(c.sealed, c.compress)
			opts.Corrupt = func(seq uint64, p []byte) {
				if seq == 2 {
					p[c.at(p)] ^= 0x10
				}
			}
			var buf bytes.Buffer
			s, err := NewSender(&buf, opts)
			if err != nil {
				t.Fatal(err)
			}
			frames := []*Frame{
				mkFrame(1, `{"n":1}`, c.data),
				mkFrame(2, `{"n":2}`, c.data),
				mkFrame(3, `{"n":3}`, c.data[:1000]),
				mkFrame(4, "", nil),
			}
			var sizes []int64
			for _, f := range frames {
				n, err := s.Send(f)
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, n)
			}
			rc, err := NewReceiver(&buf, Options{Key: opts.Key, VerifyChecksum: true})
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
					if !errors.Is(err, c.want) {
						t.Fatalf("corrupted frame: err = %v, want %v", err, c.want)
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

// Without VerifyChecksum an uncompressed corruption passes through, which is
// what the destination's own streaming check is for.
func TestNoVerify(t *testing.T) {
	data := randData(1000, 5)
	var buf bytes.Buffer
	s, err := NewSender(&buf, Options{Corrupt: func(_ uint64, p []byte) { p[10] ^= 1 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(mkFrame(1, "", data)); err != nil {
		t.Fatal(err)
	}
	rc, err := NewReceiver(&buf, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, _, err := rc.Next()
	if err != nil {
		t.Fatal(err)
	}
	if md5.Sum(f.Data) == f.MD5 {
		t.Fatal("corruption vanished")
	}
}

func TestHandshake(t *testing.T) {
	cases := []struct {
		name   string
		send   Options
		recv   Options
		want   error
		wantOK bool
	}{
		{"sealed", Options{Key: testKey}, Options{Key: testKey}, nil, true},
		{"plain", Options{}, Options{}, nil, true},
		{"wrong-key", Options{Key: testKey}, Options{Key: otherKey}, ErrAuth, false},
		{"sealed-to-plain", Options{Key: testKey}, Options{}, ErrAuth, false},
		{"plain-to-sealed", Options{}, Options{Key: testKey}, ErrAuth, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, r := net.Pipe()
			defer r.Close()
			_, errc := sendAll(w, c.send, nil)
			_, err := NewReceiver(r, c.recv)
			if c.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				if err := <-errc; err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			r.Close()
			<-errc
		})
	}
	t.Run("bad-key-size", func(t *testing.T) {
		if _, err := NewSender(io.Discard, Options{Key: []byte("short")}); err == nil {
			t.Fatal("sender accepted a 5-byte key")
		}
		if _, err := NewReceiver(bytes.NewReader(nil), Options{Key: make([]byte, 16)}); err == nil {
			t.Fatal("receiver accepted a 16-byte key")
		}
	})
	t.Run("salts-differ", func(t *testing.T) {
		var a, b bytes.Buffer
		if _, err := NewSender(&a, Options{Key: testKey}); err != nil {
			t.Fatal(err)
		}
		if _, err := NewSender(&b, Options{Key: testKey}); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatal("two connections sent the same handshake")
		}
	})
	hs := func() []byte {
		var b bytes.Buffer
		if _, err := NewSender(&b, Options{Key: testKey}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	bad := []struct {
		name   string
		mangle func([]byte) []byte
		want   error
	}{
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, ErrBadMagic},
		{"version", func(b []byte) []byte { b[4] = 9; return b }, ErrVersion},
		{"flags", func(b []byte) []byte { b[5] |= 0x80; return b }, ErrVersion},
		{"salt", func(b []byte) []byte { b[10] ^= 1; return b }, ErrAuth},
		{"token", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrAuth},
		{"unseal-flag", func(b []byte) []byte { b[5] = 0; return b }, ErrAuth},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, io.ErrUnexpectedEOF},
		{"empty", func(b []byte) []byte { return nil }, io.ErrUnexpectedEOF},
	}
	for _, c := range bad {
		t.Run("mangled-"+c.name, func(t *testing.T) {
			_, err := NewReceiver(bytes.NewReader(c.mangle(hs())), Options{Key: testKey})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// recording holds a handshake and the encoded frames of one connection.
type recording struct {
	hs     []byte
	frames [][]byte
}

func record(t testing.TB, opts Options, frames ...*Frame) recording {
	t.Helper()
	var buf bytes.Buffer
	s, err := NewSender(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := recording{hs: bytes.Clone(buf.Bytes())}
	for _, f := range frames {
		buf.Reset()
		if _, err := s.Send(f); err != nil {
			t.Fatal(err)
		}
		rec.frames = append(rec.frames, bytes.Clone(buf.Bytes()))
	}
	return rec
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestReplayAndReorder(t *testing.T) {
	for _, sealed := range []bool{true, false} {
		opts := optsFor(sealed, true)
		f1 := mkFrame(1, "m1", textData(5000, 1))
		f2 := mkFrame(2, "m2", randData(5000, 2))
		f3 := mkFrame(3, "m3", nil)
		a := record(t, opts, f1, f2, f3)
		cases := []struct {
			name   string
			stream []byte
			good   int // frames that decode before the fatal error
		}{
			{"replay-first", cat(a.hs, a.frames[0], a.frames[0]), 1},
			{"replay-later", cat(a.hs, a.frames[0], a.frames[1], a.frames[1]), 2},
			{"reorder", cat(a.hs, a.frames[1], a.frames[0]), 0},
			{"skip", cat(a.hs, a.frames[0], a.frames[2]), 1},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("sealed=%v/%s", sealed, c.name), func(t *testing.T) {
				rc, err := NewReceiver(bytes.NewReader(c.stream), opts)
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < c.good; i++ {
					if _, _, err := rc.Next(); err != nil {
						t.Fatalf("frame %d: %v", i+1, err)
					}
				}
				_, _, err = rc.Next()
				var fe *FrameError
				if !errors.Is(err, ErrAuth) || errors.As(err, &fe) {
					t.Fatalf("err = %v, want fatal ErrAuth", err)
				}
				if _, _, err2 := rc.Next(); err2 != err {
					t.Fatalf("error not sticky: %v then %v", err, err2)
				}
			})
		}
	}
	// Frames from another connection under the same key have the right
	// sequence numbers but the wrong connection key.
	t.Run("spliced", func(t *testing.T) {
		opts := optsFor(true, true)
		f1 := mkFrame(1, "m1", textData(5000, 1))
		f2 := mkFrame(2, "m2", textData(5000, 2))
		a := record(t, opts, f1, f2)
		b := record(t, opts, f1, f2)
		rc, err := NewReceiver(bytes.NewReader(cat(a.hs, b.frames[0], a.frames[1])), opts)
		if err != nil {
			t.Fatal(err)
		}
		var fe *FrameError
		if _, _, err := rc.Next(); !errors.As(err, &fe) || !errors.Is(err, ErrAuth) {
			t.Fatalf("spliced frame: %v, want FrameError(ErrAuth)", err)
		}
		got, _, err := rc.Next()
		if err != nil {
			t.Fatal(err)
		}
		checkFrame(t, got, f2)
	})
}

func TestBadFrames(t *testing.T) {
	for _, sealed := range []bool{true, false} {
		opts := optsFor(sealed, false)
		a := record(t, opts, mkFrame(1, "meta", textData(3000, 9)))
		fr := a.frames[0]
		mangled := func(f func(h []byte)) []byte {
			b := bytes.Clone(fr)
			f(b)
			return cat(a.hs, b)
		}
		cases := []struct {
			name   string
			stream []byte
			want   error
			frame  bool // a FrameError rather than fatal
		}{
			{"clean-eof", a.hs, io.EOF, false},
			{"bad-magic", mangled(func(h []byte) { h[1] = 'Q' }), ErrBadMagic, false},
			{"garbage", cat(a.hs, bytes.Repeat([]byte{0xAB}, 200)), ErrBadMagic, false},
			{"version", mangled(func(h []byte) { h[4] = 2 }), ErrVersion, false},
			{"flags", mangled(func(h []byte) { h[5] |= 0x40 }), ErrVersion, false},
			{"reserved", mangled(func(h []byte) { h[7] = 1 }), ErrVersion, false},
			{"wire-too-large", mangled(func(h []byte) { binary.BigEndian.PutUint64(h[36:], MaxChunk+1) }), ErrTooLarge, false},
			{"raw-too-large", mangled(func(h []byte) { binary.BigEndian.PutUint64(h[44:], 1<<62) }), ErrTooLarge, false},
			{"truncated-header", cat(a.hs, fr[:30]), io.ErrUnexpectedEOF, false},
			{"truncated-payload", cat(a.hs, fr[:len(fr)-5]), io.ErrUnexpectedEOF, false},
			{"lying-length", mangled(func(h []byte) { binary.BigEndian.PutUint64(h[36:], MaxChunk) }), io.ErrUnexpectedEOF, false},
			{"meta-too-long", mangled(func(h []byte) { binary.BigEndian.PutUint32(h[32:], 1<<20) }), map[bool]error{true: ErrAuth, false: ErrChecksum}[sealed], true},
			{"raw-length-off", mangled(func(h []byte) { binary.BigEndian.PutUint64(h[44:], 2999) }), map[bool]error{true: ErrAuth, false: ErrChecksum}[sealed], true},
			{"checksum", mangled(func(h []byte) { h[60] ^= 1 }), map[bool]error{true: ErrAuth, false: ErrChecksum}[sealed], true},
			{"chunk-id", mangled(func(h []byte) { h[20] ^= 1 }), map[bool]error{true: ErrAuth, false: ErrChecksum}[sealed], true},
			{"sealed-flag", mangled(func(h []byte) { h[5] ^= flagSealed }), ErrAuth, true},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("sealed=%v/%s", sealed, c.name), func(t *testing.T) {
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				rc, err := NewReceiver(bytes.NewReader(c.stream), opts)
				if err != nil {
					t.Fatal(err)
				}
				_, _, err = rc.Next()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				if d := after.TotalAlloc - before.TotalAlloc; d > 8<<20 {
					t.Errorf("allocated %d bytes", d)
				}
				if !errors.Is(err, c.want) {
					t.Fatalf("err = %v, want %v", err, c.want)
				}
				var fe *FrameError
				if isFrame := errors.As(err, &fe); isFrame != c.frame && err != nil {
					t.Fatalf("err = %v: FrameError %v, want %v", err, isFrame, c.frame)
				}
				if c.frame {
					if _, _, err := rc.Next(); err != io.EOF {
						t.Fatalf("after FrameError: %v, want io.EOF", err)
					}
				}
			})
		}
	}
}

// countingReader counts bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestManyFramesTCP(t *testing.T) {
	const n = 2000
	for _, sealed := range []bool{true, false} {
		t.Run(fmt.Sprintf("sealed=%v", sealed), func(t *testing.T) {
			text := textData(256<<10, 7)
			rnd := randData(256<<10, 8)
			r := rand.New(rand.NewPCG(1, 2))
			frames := make([]*Frame, n)
			for i := range frames {
				src := text
				if i%3 == 0 {
					src = rnd
				}
				off := r.IntN(len(src) / 2)
				size := r.IntN(64 << 10)
				if i%50 == 0 {
					size = 0
				}
				frames[i] = mkFrame(byte(i), fmt.Sprintf(`{"i":%d}`, i), src[off:off+size])
			}
			w, conn := connPair(t, "tcp")
			opts := optsFor(sealed, true)
			sizes, errc := sendAll(w, opts, frames)
			cr := &countingReader{r: conn}
			rc, err := NewReceiver(cr, opts)
			if err != nil {
				t.Fatal(err)
			}
			var total, sent int64
			for i, want := range frames {
				got, wb, err := rc.Next()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				checkFrame(t, got, want)
				total += wb
				sent += <-sizes
			}
			if _, _, err := rc.Next(); err != io.EOF {
				t.Fatalf("end: %v", err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			hsLen := int64(handshakePrefix)
			if sealed {
				hsLen += TagSize // the handshake token; unsealed handshakes have no CRC
			}
			if total != sent || cr.n != total+hsLen {
				t.Fatalf("wire bytes: receiver %d, sender %d, stream %d (handshake %d)", total, sent, cr.n, hsLen)
			}
		})
	}
}

func TestConcurrentConnections(t *testing.T) {
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, r := net.Pipe()
			defer r.Close()
			opts := optsFor(c%2 == 0, c%4 < 2)
			var frames []*Frame
			for i := 0; i < 40; i++ {
				frames = append(frames, mkFrame(byte(i), "m", textData(1000+97*i, uint64(c*100+i))))
			}
			_, errc := sendAll(w, opts, frames)
			rc, err := NewReceiver(r, opts)
			if err != nil {
				t.Error(err)
				return
			}
			for i, want := range frames {
				got, _, err := rc.Next()
				if err != nil {
					t.Errorf("conn %d frame %d: %v", c, i, err)
					return
				}
				if !bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Meta, want.Meta) {
					t.Errorf("conn %d frame %d differs", c, i)
				}
			}
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrClosedPipe
	}
	f.n--
	return len(p), nil
}

func TestSenderStickyError(t *testing.T) {
	s, err := NewSender(&failWriter{n: 1}, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(mkFrame(1, "", []byte("x")))
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("err = %v", err)
	}
	if _, err2 := s.Send(mkFrame(2, "", nil)); err2 != err {
		t.Fatalf("second send: %v", err2)
	}
	if _, err := NewSender(&failWriter{}, Options{}); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("handshake write error: %v", err)
	}
}

// Compression is used only when it makes the body strictly smaller.
func TestCompressOnlyWhenSmaller(t *testing.T) {
	cases := []struct {
		name string
		data []byte
		comp bool
	}{
		{"zeros", make([]byte, 100000), true},
		{"text", textData(100000, 5), true},
		{"random", randData(100000, 5), false},
		{"tiny", []byte("aaaaaaaaaaaaaaaa"), false},
		// Big data is judged by samples at its start, middle and end.
		{"big text", textData(3<<20, 6), true},
		{"big random", randData(3<<20, 7), false},
		{"big random, text samples", sampled(randData(3<<20, 8), textData(64<<10, 9)), true},
		// The price of sampling: compressible data between the samples
		// goes out as is.
		{"big text, random samples", sampled(textData(3<<20, 10), randData(64<<10, 11)), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := record(t, Options{Compress: true}, mkFrame(1, "", c.data))
			h := rec.frames[0][:HeaderSize]
			if got := h[5]&flagCompressed != 0; got != c.comp {
				t.Fatalf("compressed = %v, want %v", got, c.comp)
			}
			if wl := binary.BigEndian.Uint64(h[36:]); c.comp && wl >= uint64(len(c.data)) {
				t.Fatalf("compressed to %d of %d", wl, len(c.data))
			}
		})
	}
}

// sampled overwrites the three windows worthCompressing looks at.
func sampled(data, win []byte) []byte {
	for _, at := range []int{0, len(data)/2 - sampleSize/2, len(data) - sampleSize} {
		copy(data[at:at+sampleSize], win[:sampleSize])
	}
	return data
}

var fuzzSalt = bytes.Repeat([]byte{0x5a}, saltSize)

// fuzzRecording encodes frames on a connection with a fixed salt, so fuzz
// inputs replay against a fixed handshake.
func fuzzRecording(tb testing.TB, sealed bool, frames ...*Frame) recording {
	var buf bytes.Buffer
	opts := optsFor(sealed, true)
	s, err := newSender(&buf, opts, bytes.NewReader(fuzzSalt))
	if err != nil {
		tb.Fatal(err)
	}
	rec := recording{hs: bytes.Clone(buf.Bytes())}
	for _, f := range frames {
		buf.Reset()
		if _, err := s.Send(f); err != nil {
			tb.Fatal(err)
		}
		rec.frames = append(rec.frames, bytes.Clone(buf.Bytes()))
	}
	return rec
}

func FuzzReceiver(f *testing.F) {
	frames := []*Frame{
		mkFrame(1, `{"a":1}`, textData(2000, 1)),
		mkFrame(2, "", randData(300, 2)),
		mkFrame(3, "m", nil),
		mkFrame(4, "", make([]byte, 5000)),
	}
	hs := map[bool][]byte{}
	for _, sealed := range []bool{false, true} {
		rec := fuzzRecording(f, sealed, frames...)
		hs[sealed] = rec.hs
		all := cat(rec.frames...)
		f.Add(sealed, all)
		f.Add(sealed, rec.frames[0])
		f.Add(sealed, all[:len(all)-7])
		f.Add(sealed, cat(rec.frames[0], rec.frames[0]))
		big := bytes.Clone(rec.frames[1])
		binary.BigEndian.PutUint64(big[36:], MaxChunk)
		f.Add(sealed, big)
		flip := bytes.Clone(all)
		flip[HeaderSize+5] ^= 0xff
		f.Add(sealed, flip)
	}
	f.Add(false, []byte{})
	f.Add(true, []byte("SKYP"))
	f.Fuzz(func(t *testing.T, sealed bool, data []byte) {
		opts := Options{VerifyChecksum: true}
		if sealed {
			opts.Key = testKey
		}
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		rc, err := NewReceiver(io.MultiReader(bytes.NewReader(hs[sealed]), bytes.NewReader(data)), opts)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		var consumed int64
		for i := 0; i < 10000; i++ {
			fr, n, err := rc.Next()
			consumed += n
			if consumed > int64(len(data)) {
				t.Fatalf("consumed %d of %d bytes", consumed, len(data))
			}
			var fe *FrameError
			if errors.As(err, &fe) {
				if !errors.Is(err, ErrAuth) && !errors.Is(err, ErrChecksum) {
					t.Fatalf("FrameError with %v", fe.Err)
				}
				continue
			}
			if err != nil {
				break
			}
			if md5.Sum(fr.Data) != fr.MD5 {
				t.Fatalf("frame with a bad checksum accepted")
			}
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20+512*uint64(len(data)) {
			t.Fatalf("allocated %d bytes for %d input bytes", d, len(data))
		}
	})
}

var (
	benchOnce sync.Once
	benchText []byte
	benchRand []byte
)

// BenchmarkFramePipeline measures source MD5 + Send → Next (with MD5
// verification) through an in-memory pipe, sender and receiver on separate
// goroutines as on two gateways.
func BenchmarkFramePipeline(b *testing.B) {
	benchOnce.Do(func() {
		benchText = textData(64<<20, 11)
		benchRand = randData(64<<20, 12)
	})
	modes := []struct {
		name string
		opts Options
	}{
		{"sealed+lz4", Options{Key: testKey, Compress: true, VerifyChecksum: true}},
		{"sealed", Options{Key: testKey, VerifyChecksum: true}},
		{"plaintext", Options{VerifyChecksum: true}},
	}
	for _, kind := range []string{"text", "random"} {
		for _, size := range []int{4 << 20, 64 << 20} {
			for _, m := range modes {
				name := fmt.Sprintf("%s/%dMiB/%s", kind, size>>20, m.name)
				b.Run(name, func(b *testing.B) {
					src := benchText
					if kind == "random" {
						src = benchRand
					}
					data := src[:size]
					meta := []byte(`{"src_key":"bench/object","offset":0}`)
					w, r := net.Pipe()
					defer r.Close()
					errc := make(chan error, 1)
					var wire int64
					b.SetBytes(int64(size))
					b.ResetTimer()
					go func() {
						defer w.Close()
						s, err := NewSender(w, m.opts)
						if err != nil {
							errc <- err
							return
						}
						f := &Frame{Meta: meta, Data: data}
						for i := 0; i < b.N; i++ {
							f.ChunkID[0] = byte(i)
							f.MD5 = md5.Sum(f.Data) // the source hashes as it reads
							n, err := s.Send(f)
							if err != nil {
								errc <- err
								return
							}
							wire += n
						}
						errc <- nil
					}()
					rc, err := NewReceiver(r, m.opts)
					if err != nil {
						b.Fatal(err)
					}
					for i := 0; i < b.N; i++ {
						f, _, err := rc.Next()
						if err != nil {
							b.Fatal(err)
						}
						if len(f.Data) != size {
							b.Fatalf("got %d bytes", len(f.Data))
						}
					}
					if err := <-errc; err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					b.ReportMetric(float64(wire)/float64(b.N)/float64(size), "wire/raw")
				})
			}
		}
	}
}
