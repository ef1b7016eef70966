package wire

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestHandshake(t *testing.T) {
	cases := []struct {
		name     string
		send     Options
		recv     Options
		recvErr  error
		senderOK bool
	}{
		{"sealed", Options{Key: testKey, Seal: true}, Options{Key: testKey, Seal: true}, nil, true},
		{"unsealed", Options{Key: testKey}, Options{Key: testKey}, nil, true},
		{"wrong-key", Options{Key: testKey}, Options{Key: otherKey}, ErrAuth, false},
		{"wrong-key-sealed", Options{Key: testKey, Seal: true}, Options{Key: otherKey, Seal: true}, ErrAuth, false},
		{"sealed-to-unsealed", Options{Key: testKey, Seal: true}, Options{Key: testKey}, ErrAuth, false},
		{"unsealed-to-sealed", Options{Key: testKey}, Options{Key: testKey, Seal: true}, ErrAuth, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, r := connPair(t, "tcp")
			_, errc := sendAll(w, c.send, nil)
			_, err := NewReceiver(r, c.recv)
			if !errors.Is(err, c.recvErr) || (c.recvErr == nil) != (err == nil) {
				t.Fatalf("receiver: err = %v, want %v", err, c.recvErr)
			}
			if err != nil {
				r.Close() // a refusing receiver closes; the sender must not go on
			}
			if serr := <-errc; (serr == nil) != c.senderOK {
				t.Fatalf("sender: err = %v, want ok=%v", serr, c.senderOK)
			}
		})
	}
	t.Run("bad-key-size", func(t *testing.T) {
		for _, k := range [][]byte{nil, []byte("short"), make([]byte, 16)} {
			if _, err := NewSender(duplex{bytes.NewReader(nil), io.Discard}, Options{Key: k}); err == nil {
				t.Fatalf("sender accepted a %d-byte key", len(k))
			}
			if _, err := NewReceiver(duplex{bytes.NewReader(nil), io.Discard}, Options{Key: k}); err == nil {
				t.Fatalf("receiver accepted a %d-byte key", len(k))
			}
		}
	})
	t.Run("nonces-differ", func(t *testing.T) {
		hello := func() []byte {
			var out bytes.Buffer
			challenge := cat([]byte(magic), []byte{Version, 0}, make([]byte, nonceLen))
			_, _ = NewSender(duplex{bytes.NewReader(challenge), &out}, Options{Key: testKey})
			return out.Bytes()
		}
		if a, b := hello(), hello(); len(a) != helloSize || bytes.Equal(a, b) {
			t.Fatalf("two connections sent the same hello (%d bytes)", len(a))
		}
	})
	good := record(t, Options{Key: testKey, Seal: true}).hs
	bad := []struct {
		name   string
		mangle func([]byte) []byte
		want   error
	}{
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, ErrBadMagic},
		{"version-1", func(b []byte) []byte { b[4] = 1; return b }, ErrVersion},
		{"flags", func(b []byte) []byte { b[5] |= 0x80; return b }, ErrVersion},
		{"nonce", func(b []byte) []byte { b[10] ^= 1; return b }, ErrAuth},
		{"proof", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrAuth},
		{"unseal-flag", func(b []byte) []byte { b[5] = 0; return b }, ErrAuth},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, io.ErrUnexpectedEOF},
		{"empty", func(b []byte) []byte { return nil }, io.ErrUnexpectedEOF},
	}
	for _, c := range bad {
		t.Run("mangled-"+c.name, func(t *testing.T) {
			if _, err := replayReceiver(good, Options{Key: testKey, Seal: true}); err != nil {
				t.Fatalf("unmangled hello: %v", err)
			}
			_, err := replayReceiver(c.mangle(bytes.Clone(good)), Options{Key: testKey, Seal: true})
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// A receiver without the key cannot make a sender stream to it: the sender
// waits for a proof only a key holder can give.
func TestImpostorReceiver(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		w, r := connPair(t, "tcp")
		_, errc := sendAll(w, Options{Key: testKey, Seal: sealed}, []*Frame{mkFrame(1, "m", []byte("secret data"))})
		challenge := cat([]byte(magic), []byte{Version, 0}, bytes.Repeat([]byte{1}, nonceLen))
		if _, err := r.Write(challenge); err != nil {
			t.Fatal(err)
		}
		hello := make([]byte, helloSize)
		if _, err := io.ReadFull(r, hello); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Write(bytes.Repeat([]byte{7}, proofSize)); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, ErrAuth) {
			t.Fatalf("sealed=%v: sender err = %v, want ErrAuth", sealed, err)
		}
		rest, _ := io.ReadAll(r)
		if len(rest) != 0 {
			t.Fatalf("sealed=%v: the sender sent %d bytes after a bad proof", sealed, len(rest))
		}
	}
}

// Both ends give up on a peer that stalls the handshake.
func TestHandshakeTimeout(t *testing.T) {
	opts := Options{Key: testKey, HandshakeTimeout: 200 * time.Millisecond}
	for _, side := range []string{"sender", "receiver"} {
		t.Run(side, func(t *testing.T) {
			a, _ := connPair(t, "tcp") // the other end never speaks
			start := time.Now()
			var err error
			if side == "sender" {
				_, err = NewSender(a, opts)
			} else {
				_, err = NewReceiver(a, opts)
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("err = %v, want a deadline error", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("gave up after %v", d)
			}
			if err := a.SetDeadline(time.Time{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// teeConn records what is written to it.
type teeConn struct {
	net.Conn
	out bytes.Buffer
}

func (c *teeConn) Write(p []byte) (int, error) {
	c.out.Write(p)
	return c.Conn.Write(p)
}

// A real connection, recorded byte for byte on the sender's side and played
// again to a fresh receiver, is refused at the handshake: the receiver's
// nonce is new.
func TestReplayedConnection(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		opts := optsFor(sealed, true)
		w, r := connPair(t, "tcp")
		tee := &teeConn{Conn: w}
		frames := []*Frame{mkFrame(1, `{"key":"x"}`, textData(10000, 1)), mkFrame(2, `{"key":"y"}`, randData(3000, 2))}
		_, errc := sendAll(tee, opts, frames)
		rc, err := NewReceiver(r, opts)
		if err != nil {
			t.Fatal(err)
		}
		for range frames {
			if _, _, err := rc.Next(); err != nil {
				t.Fatal(err)
			}
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		recorded := tee.out.Bytes()

		w2, r2 := connPair(t, "tcp")
		go func() { _, _ = w2.Write(recorded); _, _ = io.Copy(io.Discard, w2) }()
		_, err = NewReceiver(r2, opts)
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("sealed=%v: replayed connection: err = %v, want ErrAuth", sealed, err)
		}
	}
}
