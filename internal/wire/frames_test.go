package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"testing"
)

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
				rc, err := replayReceiver(c.stream, opts)
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
	for _, sealed := range []bool{true, false} {
		t.Run(fmt.Sprintf("sealed=%v/spliced", sealed), func(t *testing.T) {
			opts := optsFor(sealed, true)
			f1 := mkFrame(1, "m1", textData(5000, 1))
			f2 := mkFrame(2, "m2", textData(5000, 2))
			a := record(t, opts, f1, f2)
			b := recordOther(t, opts, f1, f2)
			rc, err := replayReceiver(cat(a.hs, b.frames[0], a.frames[1]), opts)
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
}

// recordOther records frames on a connection with random nonces.
func recordOther(t *testing.T, opts Options, frames ...*Frame) recording {
	w, r := connPair(t, "tcp")
	tee := &teeConn{Conn: w}
	go func() {
		if rc, err := NewReceiver(r, opts); err == nil {
			for {
				if _, _, err := rc.Next(); err != nil {
					return
				}
			}
		}
	}()
	s, err := NewSender(tee, opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := recording{hs: bytes.Clone(tee.out.Bytes())}
	for _, f := range frames {
		tee.out.Reset()
		if _, err := s.Send(f); err != nil {
			t.Fatal(err)
		}
		rec.frames = append(rec.frames, bytes.Clone(tee.out.Bytes()))
	}
	return rec
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
			name     string
			stream   []byte
			maxFrame int64
			want     error
			frame    bool // a FrameError rather than fatal
		}{
			{"clean-eof", a.hs, 0, io.EOF, false},
			{"bad-magic", mangled(func(h []byte) { h[1] = 'Q' }), 0, ErrBadMagic, false},
			{"garbage", cat(a.hs, bytes.Repeat([]byte{0xAB}, 200)), 0, ErrBadMagic, false},
			{"version", mangled(func(h []byte) { h[4] = 1 }), 0, ErrVersion, false},
			{"flags", mangled(func(h []byte) { h[5] |= 0x40 }), 0, ErrVersion, false},
			{"reserved", mangled(func(h []byte) { h[7] = 1 }), 0, ErrVersion, false},
			{"sealed-flag", mangled(func(h []byte) { h[5] ^= flagSealed }), 0, ErrAuth, false},
			{"wire-too-large", mangled(func(h []byte) { binary.BigEndian.PutUint64(h[36:], MaxChunk+1) }), 0, ErrTooLarge, false},
			{"raw-too-large", mangled(func(h []byte) { binary.BigEndian.PutUint64(h[44:], 1<<62) }), 0, ErrTooLarge, false},
			{"over-max-frame", cat(a.hs, fr), 2000, ErrTooLarge, false},
			{"meta-too-large", mangled(func(h []byte) { binary.BigEndian.PutUint32(h[32:], MaxMeta+1) }), 0, ErrTooLarge, false},
			{"meta-beyond-wire", mangled(func(h []byte) { binary.BigEndian.PutUint32(h[32:], 1<<20) }), 0, ErrTooLarge, false},
			{"raw-length-off", mangled(func(h []byte) { binary.BigEndian.PutUint64(h[44:], 2999) }), 0, ErrTooLarge, false},
			{"lz4-ratio", mangled(func(h []byte) { h[5] |= flagCompressed; binary.BigEndian.PutUint64(h[44:], 1<<29) }), 0, ErrTooLarge, false},
			{"truncated-header", cat(a.hs, fr[:30]), 0, io.ErrUnexpectedEOF, false},
			{"truncated-payload", cat(a.hs, fr[:len(fr)-5]), 0, io.ErrUnexpectedEOF, false},
			{"lying-length", mangled(func(h []byte) {
				binary.BigEndian.PutUint64(h[36:], MaxChunk)
				binary.BigEndian.PutUint64(h[44:], MaxChunk-4-TagSize)
			}), 0, io.ErrUnexpectedEOF, false},
			{"checksum", mangled(func(h []byte) { h[60] ^= 1 }), 0, ErrAuth, true},
			{"chunk-id", mangled(func(h []byte) { h[20] ^= 1 }), 0, ErrAuth, true},
		}
		if !sealed {
			// a byte after the stream has been replaced: header || meta is
			// not encrypted, but its tag catches the change
			cases = append(cases, struct {
				name     string
				stream   []byte
				maxFrame int64
				want     error
				frame    bool
			}{"meta", mangled(func(h []byte) { h[len(h)-TagSize-1] ^= 1 }), 0, ErrAuth, true})
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("sealed=%v/%s", sealed, c.name), func(t *testing.T) {
				o := opts
				o.MaxFrame = c.maxFrame
				b := &countingBudget{}
				o.Budget = b
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				rc, err := replayReceiver(c.stream, o)
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
				if held := b.held(); held != 0 {
					t.Fatalf("budget still holds %d bytes after a refused frame", held)
				}
			})
		}
	}
}

// countingBudget records what a Receiver takes; refuse makes Acquire fail.
type countingBudget struct {
	mu                sync.Mutex
	inUse, peak, seen int64
	refuse            error
}

func (b *countingBudget) Acquire(n int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen += n
	if b.refuse != nil {
		return b.refuse
	}
	b.inUse += n
	b.peak = max(b.peak, b.inUse)
	return nil
}

func (b *countingBudget) Release(n int64) {
	b.mu.Lock()
	b.inUse -= n
	b.mu.Unlock()
}

func (b *countingBudget) held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.inUse
}

// A frame's memory comes from the budget before it is allocated and goes
// back with Frame.Release; a budget that says no means nothing is allocated.
func TestBudget(t *testing.T) {
	data := textData(4<<20, 3)
	for _, compress := range []bool{false, true} {
		t.Run(fmt.Sprintf("compress=%v", compress), func(t *testing.T) {
			opts := optsFor(false, compress)
			a := record(t, opts, mkFrame(1, "m", data))
			wire := int64(len(a.frames[0]) - HeaderSize)
			b := &countingBudget{}
			o := opts
			o.Budget = b
			rc, err := replayReceiver(cat(a.hs, a.frames[0]), o)
			if err != nil {
				t.Fatal(err)
			}
			f, _, err := rc.Next()
			if err != nil {
				t.Fatal(err)
			}
			// Compressed, the frame holds payload and decoded data.
			want, wantHeld := wire, wire
			if compress {
				want = wire + int64(len(data))
				wantHeld = want
			}
			if b.peak != want || b.held() != wantHeld {
				t.Fatalf("peak %d (want %d), held %d (want %d)", b.peak, want, b.held(), wantHeld)
			}
			f.Release()
			if b.held() != 0 {
				t.Fatalf("held %d after Release", b.held())
			}

			refused := errors.New("budget closed")
			b = &countingBudget{refuse: refused}
			o.Budget = b
			rc, err = replayReceiver(cat(a.hs, a.frames[0]), o)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err = rc.Next()
			runtime.ReadMemStats(&after)
			if !errors.Is(err, refused) {
				t.Fatalf("err = %v, want the budget's", err)
			}
			if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
				t.Fatalf("allocated %d bytes without budget", d)
			}
		})
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
			rc, err := NewReceiver(duplex{cr, conn}, opts)
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
			if total != sent || cr.n != total+helloSize {
				t.Fatalf("wire bytes: receiver %d, sender %d, stream %d (hello %d)", total, sent, cr.n, helloSize)
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

// failWriter passes n writes through, then fails.
type failWriter struct {
	w io.Writer
	n int
}

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, io.ErrClosedPipe
	}
	f.n--
	return f.w.Write(p)
}

func TestSenderStickyError(t *testing.T) {
	w, r := connPair(t, "tcp")
	go func() { _, _ = NewReceiver(r, Options{Key: testKey}) }()
	s, err := NewSender(duplex{w, &failWriter{w: w, n: 1}}, Options{Key: testKey})
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
	challenge := cat([]byte(magic), []byte{Version, 0}, make([]byte, nonceLen))
	if _, err := NewSender(duplex{bytes.NewReader(challenge), &failWriter{}}, Options{Key: testKey}); !errors.Is(err, io.ErrClosedPipe) {
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
			rec := record(t, Options{Key: testKey, Compress: true}, mkFrame(1, "", c.data))
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
