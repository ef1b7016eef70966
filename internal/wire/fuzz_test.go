package wire

import (
	"bytes"
	"crypto/md5"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

// fuzzMaxFrame bounds what a fuzzed header may make the receiver commit,
// as a gateway's memory budget does.
const fuzzMaxFrame = 1 << 20

func FuzzReceiver(f *testing.F) {
	frames := []*Frame{
		mkFrame(1, `{"a":1}`, textData(2000, 1)),
		mkFrame(2, "", randData(300, 2)),
		mkFrame(3, "m", nil),
		mkFrame(4, "", make([]byte, 5000)),
	}
	hs := map[bool][]byte{}
	for _, sealed := range []bool{false, true} {
		rec := record(f, optsFor(sealed, true), frames...)
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
		opts := Options{Key: testKey, Seal: sealed, VerifyChecksum: true, MaxFrame: fuzzMaxFrame}
		b := &countingBudget{}
		opts.Budget = b
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		rc, err := replayReceiver(cat(hs[sealed], data), opts)
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
			fr.Release()
		}
		if held := b.held(); held != 0 {
			t.Fatalf("budget holds %d bytes after every frame was released", held)
		}
		if b.peak > 2*fuzzMaxFrame {
			t.Fatalf("budget peaked at %d", b.peak)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20+512*uint64(len(data)) {
			t.Fatalf("allocated %d bytes for %d input bytes", d, len(data))
		}
	})
}

// FuzzHandshakeReceiver feeds a receiver arbitrary hellos: only the genuine
// one (made with the key against this receiver's nonce) may pass.
func FuzzHandshakeReceiver(f *testing.F) {
	genuine := map[bool][]byte{}
	for _, sealed := range []bool{false, true} {
		genuine[sealed] = record(f, Options{Key: testKey, Seal: sealed}).hs
		f.Add(sealed, genuine[sealed])
		f.Add(sealed, genuine[!sealed])
		f.Add(sealed, genuine[sealed][:helloPrefix])
	}
	f.Add(false, []byte("SKYP\x02\x00"))
	f.Add(true, []byte{})
	f.Fuzz(func(t *testing.T, sealed bool, hello []byte) {
		var answer bytes.Buffer
		_, err := newReceiver(duplex{bytes.NewReader(hello), &answer}, Options{Key: testKey, Seal: sealed}, fixedRand(recvNonceByte))
		ok := len(hello) >= helloSize && bytes.Equal(hello[:helloSize], genuine[sealed])
		if (err == nil) != ok {
			t.Fatalf("err = %v for a hello that is genuine=%v", err, ok)
		}
		if want := helloPrefix + map[bool]int{true: proofSize}[ok]; answer.Len() != want {
			t.Fatalf("receiver answered %d bytes, want %d (no proof to a peer without the key)", answer.Len(), want)
		}
	})
}

// FuzzHandshakeSender feeds a sender arbitrary challenges and proofs: it
// must accept only the genuine receiver's, and send nothing past its hello.
func FuzzHandshakeSender(f *testing.F) {
	// What a genuine receiver with the fixed nonce answers to the hello the
	// fixed-nonce sender sends.
	genuine := map[bool][]byte{}
	for _, sealed := range []bool{false, true} {
		var answer bytes.Buffer
		hello := record(f, Options{Key: testKey, Seal: sealed}).hs
		if _, err := newReceiver(duplex{bytes.NewReader(hello), &answer}, Options{Key: testKey, Seal: sealed}, fixedRand(recvNonceByte)); err != nil {
			f.Fatal(err)
		}
		genuine[sealed] = answer.Bytes()
		f.Add(sealed, genuine[sealed])
		f.Add(sealed, genuine[sealed][:helloPrefix])
		bad := bytes.Clone(genuine[sealed])
		bad[len(bad)-1] ^= 1
		f.Add(sealed, bad)
	}
	f.Add(false, []byte("SKYP\x01"))
	f.Fuzz(func(t *testing.T, sealed bool, answer []byte) {
		var out bytes.Buffer
		s, err := newSender(duplex{bytes.NewReader(answer), &out}, Options{Key: testKey, Seal: sealed}, fixedRand(sendNonceByte))
		ok := len(answer) >= len(genuine[sealed]) && bytes.Equal(answer[:len(genuine[sealed])], genuine[sealed])
		if (err == nil) != ok {
			t.Fatalf("err = %v for an answer that is genuine=%v", err, ok)
		}
		if out.Len() > helloSize {
			t.Fatalf("sender wrote %d bytes in its handshake", out.Len())
		}
		if err != nil && (s != nil || !errors.Is(err, ErrAuth) && !errors.Is(err, ErrBadMagic) && !errors.Is(err, ErrVersion) && !errors.Is(err, io.ErrUnexpectedEOF)) {
			t.Fatalf("unexpected failure: %v", err)
		}
	})
}
