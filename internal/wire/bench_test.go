package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
)

var (
	benchOnce sync.Once
	benchText []byte
	benchRand []byte
)

// BenchmarkFramePipeline measures source MD5 + Send → Next through an
// in-memory pipe, sender and receiver on separate goroutines as on two
// gateways: sealed (encrypt_e2e), authenticated only (the unsealed mode),
// and a plain copy of the same bytes with no framing or authentication
// (what the removed unauthenticated mode cost at best).
func BenchmarkFramePipeline(b *testing.B) {
	benchOnce.Do(func() {
		benchText = textData(64<<20, 11)
		benchRand = randData(64<<20, 12)
	})
	modes := []struct {
		name string
		opts *Options // nil: plain copy baseline
	}{
		{"sealed+lz4", &Options{Key: testKey, Seal: true, Compress: true}},
		{"sealed", &Options{Key: testKey, Seal: true}},
		{"authenticated+lz4", &Options{Key: testKey, Compress: true}},
		{"authenticated", &Options{Key: testKey}},
		{"copy-baseline", nil},
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
					b.SetBytes(int64(size))
					if m.opts == nil {
						benchCopy(b, data)
						return
					}
					benchPipeline(b, *m.opts, data)
				})
			}
		}
	}
}

func benchPipeline(b *testing.B, opts Options, data []byte) {
	meta := []byte(`{"src_key":"bench/object","offset":0}`)
	w, r := net.Pipe()
	defer r.Close()
	errc := make(chan error, 1)
	var wire int64
	b.ResetTimer()
	go func() {
		defer w.Close()
		s, err := NewSender(w, opts)
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
	rc, err := NewReceiver(r, opts)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		f, _, err := rc.Next()
		if err != nil {
			b.Fatal(err)
		}
		if len(f.Data) != len(data) {
			b.Fatalf("got %d bytes", len(f.Data))
		}
		f.Release()
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(wire)/float64(b.N)/float64(len(data)), "wire/raw")
}

// benchCopy: the source's MD5 and the bytes through the same pipe, nothing else.
func benchCopy(b *testing.B, data []byte) {
	w, r := net.Pipe()
	defer r.Close()
	buf := make([]byte, len(data))
	b.ResetTimer()
	go func() {
		defer w.Close()
		for i := 0; i < b.N; i++ {
			_ = md5.Sum(data)
			if _, err := w.Write(data); err != nil {
				return
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		if _, err := io.ReadFull(r, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFrameMAC compares the two ways to authenticate an unsealed
// frame's data: GMAC (AES-GCM with the data as additional data, what the
// protocol uses) and HMAC-SHA256.
func BenchmarkFrameMAC(b *testing.B) {
	data := randData(16<<20, 13)
	hdr := make([]byte, HeaderSize+64)
	block, _ := aes.NewCipher(testKey)
	aead, _ := cipher.NewGCM(block)
	b.Run("gmac", func(b *testing.B) {
		tg := tagger{aead: aead}
		b.SetBytes(int64(len(data)))
		for i := 0; i < b.N; i++ {
			_ = tg.tag(uint64(i), hdr[:HeaderSize], hdr[HeaderSize:], data)
		}
	})
	b.Run("hmac-sha256", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		m := hmac.New(sha256.New, testKey)
		for i := 0; i < b.N; i++ {
			m.Reset()
			m.Write(hdr)
			m.Write(data)
			_ = m.Sum(nil)
		}
	})
}
