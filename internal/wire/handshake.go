package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

const (
	info          = "skyplane wire v2"
	senderLabel   = "skyplane wire v2 sender"
	receiverLabel = "skyplane wire v2 receiver"

	nonceLen     = 32
	proofSize    = sha256.Size
	helloPrefix  = 4 + 1 + 1 + nonceLen // challenge, and the hello before its proof
	helloSize    = helloPrefix + proofSize
	gcmNonceSize = 12

	hsSealed = 1 << 0
)

// deadliner is a connection whose I/O can be given a deadline (net.Conn).
type deadliner interface{ SetDeadline(time.Time) error }

// withDeadline bounds the handshake on rw, when rw has deadlines, and
// returns the function that lifts the bound.
func withDeadline(rw any, d time.Duration) func() {
	dl, ok := rw.(deadliner)
	if !ok {
		return func() {}
	}
	_ = dl.SetDeadline(time.Now().Add(d))
	return func() { _ = dl.SetDeadline(time.Time{}) }
}

// keys are what one connection derives from the dataplane key.
type keys struct {
	mac  []byte
	aead cipher.AEAD
}

func deriveKeys(key, rNonce, sNonce []byte) (keys, error) {
	salt := make([]byte, 0, 2*nonceLen)
	salt = append(append(salt, rNonce...), sNonce...)
	k, err := hkdf.Key(sha256.New, key, salt, info, 64)
	if err != nil {
		return keys{}, err
	}
	block, err := aes.NewCipher(k[32:])
	if err != nil {
		return keys{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return keys{}, err
	}
	return keys{mac: k[:32], aead: aead}, nil
}

// proof is one side's HMAC over the transcript (challenge || hello prefix).
func (k keys) proof(label string, challenge, hello []byte) []byte {
	m := hmac.New(sha256.New, k.mac)
	m.Write([]byte(label))
	m.Write(challenge[:helloPrefix])
	m.Write(hello[:helloPrefix])
	return m.Sum(nil)
}

func putNonce(nonce *[gcmNonceSize]byte, seq uint64) {
	binary.BigEndian.PutUint64(nonce[4:], seq)
}

func checkPrefix(b []byte, what string) error {
	if string(b[:4]) != magic {
		return fmt.Errorf("%w in %s", ErrBadMagic, what)
	}
	if b[4] != Version {
		return fmt.Errorf("%w %d in %s (this gateway speaks %d)", ErrVersion, b[4], what, Version)
	}
	return nil
}

func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// senderHandshake runs the sender's half on rw: read the challenge, send
// the hello, check the receiver's proof.
func senderHandshake(rw io.ReadWriter, opts Options, rnd io.Reader) (keys, error) {
	defer withDeadline(rw, opts.handshakeTimeout())()
	var challenge [helloPrefix]byte
	if _, err := io.ReadFull(rw, challenge[:]); err != nil {
		return keys{}, fmt.Errorf("wire: handshake: read challenge: %w", eofUnexpected(err))
	}
	if err := checkPrefix(challenge[:], "challenge"); err != nil {
		return keys{}, err
	}
	if challenge[5] != 0 {
		return keys{}, fmt.Errorf("%w: challenge flags %#x", ErrVersion, challenge[5])
	}
	hello := make([]byte, helloSize)
	copy(hello, magic)
	hello[4] = Version
	if opts.Seal {
		hello[5] = hsSealed
	}
	if _, err := io.ReadFull(rnd, hello[6:helloPrefix]); err != nil {
		return keys{}, fmt.Errorf("wire: nonce: %w", err)
	}
	k, err := deriveKeys(opts.Key, challenge[6:], hello[6:helloPrefix])
	if err != nil {
		return keys{}, err
	}
	copy(hello[helloPrefix:], k.proof(senderLabel, challenge[:], hello))
	if _, err := rw.Write(hello); err != nil {
		return keys{}, fmt.Errorf("wire: handshake: send hello: %w", err)
	}
	var got [proofSize]byte
	if _, err := io.ReadFull(rw, got[:]); err != nil {
		return keys{}, fmt.Errorf("wire: handshake: read the receiver's proof (it refused our key or configuration?): %w", eofUnexpected(err))
	}
	if !hmac.Equal(got[:], k.proof(receiverLabel, challenge[:], hello)) {
		return keys{}, fmt.Errorf("%w: the receiver did not prove it holds the dataplane key", ErrAuth)
	}
	return k, nil
}

// receiverHandshake runs the receiver's half: send a challenge, check the
// sender's hello, answer with this side's proof. r reads what rw receives
// (a buffered reader over it).
func receiverHandshake(rw io.ReadWriter, r io.Reader, opts Options, rnd io.Reader) (keys, error) {
	defer withDeadline(rw, opts.handshakeTimeout())()
	var challenge [helloPrefix]byte
	copy(challenge[:], magic)
	challenge[4] = Version
	if _, err := io.ReadFull(rnd, challenge[6:]); err != nil {
		return keys{}, fmt.Errorf("wire: nonce: %w", err)
	}
	if _, err := rw.Write(challenge[:]); err != nil {
		return keys{}, fmt.Errorf("wire: handshake: send challenge: %w", err)
	}
	var hello [helloSize]byte
	if _, err := io.ReadFull(r, hello[:]); err != nil {
		return keys{}, fmt.Errorf("wire: handshake: read hello: %w", eofUnexpected(err))
	}
	if err := checkPrefix(hello[:], "hello"); err != nil {
		return keys{}, err
	}
	if hello[5]&^hsSealed != 0 {
		return keys{}, fmt.Errorf("%w: hello flags %#x", ErrVersion, hello[5])
	}
	k, err := deriveKeys(opts.Key, challenge[6:], hello[6:helloPrefix])
	if err != nil {
		return keys{}, err
	}
	if !hmac.Equal(hello[helloPrefix:], k.proof(senderLabel, challenge[:], hello[:])) {
		return keys{}, fmt.Errorf("%w: the sender did not prove it holds the dataplane key (wrong key, or a replayed connection)", ErrAuth)
	}
	if sealed := hello[5]&hsSealed != 0; sealed != opts.Seal {
		return keys{}, fmt.Errorf("%w: sender sealed=%v, this receiver sealed=%v (encrypt_e2e differs)", ErrAuth, sealed, opts.Seal)
	}
	if _, err := rw.Write(k.proof(receiverLabel, challenge[:], hello[:])); err != nil {
		return keys{}, fmt.Errorf("wire: handshake: send proof: %w", err)
	}
	return k, nil
}
