package gcs

import (
	"bytes"
	"crypto/md5"
	"errors"
	"hash/crc32"
	"io"
	"testing"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

// TestServerVerifiesSentChecksums: which checksums fake-gcs-server checks
// against the body it receives. Each is computed over good and sent with
// bad bytes of the same length: a server that verifies refuses the write
// (and keeps no object); the same checksum with the good bytes is accepted.
// The transfer relies only on what this test shows verified.
func TestServerVerifiesSentChecksums(t *testing.T) {
	s, _ := newStore(t)
	good := bytes.Repeat([]byte("integrity "), 100_000)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0xff
	sum := md5.Sum(good)
	tests := []struct {
		name string
		set  func(*storage.Writer)
	}{
		{"md5Hash", func(w *storage.Writer) { w.MD5 = sum[:] }},
		{"crc32c", func(w *storage.Writer) {
			w.CRC32C = crc32.Checksum(good, crc32.MakeTable(crc32.Castagnoli))
			w.SendCRC32C = true
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, body := range [][]byte{bad, good} {
				w := s.bucket.Object("checksum/" + tt.name).NewWriter(t.Context())
				w.ChunkSize = 0 // one request, as Write sends a seekable body
				w.DisableAutoChecksum = true
				tt.set(w)
				_, err := io.Copy(w, bytes.NewReader(body))
				if cerr := w.Close(); err == nil {
					err = cerr
				}
				corrupt := &body[0] == &bad[0]
				switch {
				case corrupt && err == nil:
					t.Errorf("write with a corrupted body and %s: accepted (the server does not verify it)", tt.name)
				case corrupt:
					// Refused as a bad request (the checksum), not lost on the way.
					var ge *googleapi.Error
					if !errors.As(err, &ge) || ge.Code != 400 {
						t.Errorf("write with a corrupted body and %s: refused, but not for its checksum: %v", tt.name, err)
					}
				case !corrupt && err != nil:
					t.Errorf("write with the right body and %s: %v", tt.name, err)
				}
			}
		})
	}
}
