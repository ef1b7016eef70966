package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"testing"

	"github.com/pierrec/lz4/v4"
)

func BenchmarkPrim(b *testing.B) {
	text := textData(4<<20, 1)
	rnd := randData(4<<20, 2)
	b.Run("md5", func(b *testing.B) {
		b.SetBytes(int64(len(rnd)))
		for i := 0; i < b.N; i++ {
			md5.Sum(rnd)
		}
	})
	b.Run("gcm-seal", func(b *testing.B) {
		blk, _ := aes.NewCipher(testKey)
		g, _ := cipher.NewGCM(blk)
		buf := make([]byte, len(rnd)+16)
		nonce := make([]byte, 12)
		b.SetBytes(int64(len(rnd)))
		for i := 0; i < b.N; i++ {
			g.Seal(buf[:0], nonce, rnd, nil)
		}
	})
	b.Run("copy", func(b *testing.B) {
		buf := make([]byte, len(rnd))
		b.SetBytes(int64(len(rnd)))
		for i := 0; i < b.N; i++ {
			copy(buf, rnd)
		}
	})
	b.Run("make+copy", func(b *testing.B) {
		b.SetBytes(int64(len(rnd)))
		for i := 0; i < b.N; i++ {
			buf := make([]byte, len(rnd))
			copy(buf, rnd)
		}
	})
	for _, d := range []struct {
		n string
		d []byte
	}{{"text", text}, {"rand", rnd}} {
		b.Run("lz4c-"+d.n, func(b *testing.B) {
			var c lz4.Compressor
			buf := make([]byte, len(d.d))
			b.SetBytes(int64(len(d.d)))
			for i := 0; i < b.N; i++ {
				c.CompressBlock(d.d, buf[:len(d.d)-1])
			}
		})
	}
	var c lz4.Compressor
	buf := make([]byte, lz4.CompressBlockBound(len(text)))
	n, _ := c.CompressBlock(text, buf)
	b.Run("lz4d-text", func(b *testing.B) {
		out := make([]byte, len(text))
		b.SetBytes(int64(len(text)))
		for i := 0; i < b.N; i++ {
			lz4.UncompressBlock(buf[:n], out)
		}
	})
}

func BenchmarkPar(b *testing.B) {
	rnd := randData(4<<20, 2)
	b.SetBytes(int64(len(rnd)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			md5.Sum(rnd)
		}
	})
}
