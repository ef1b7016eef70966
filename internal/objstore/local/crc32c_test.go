package local

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// TestCRC32CChecked: a write or part sent with a CRC-32C lands only when
// the bytes have it; a corrupted body fails with ErrChecksumMismatch and
// leaves nothing visible; parts checked so complete into the object.
func TestCRC32CChecked(t *testing.T) {
	good := bytes.Repeat([]byte("integrity "), 10_000)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0xff
	crc := objstore.CRC32C(good)
	tests := []struct {
		name string
		body []byte
		ok   bool
	}{
		{"right body", good, true},
		{"corrupted body", bad, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			s := New(root)
			ctx := t.Context()
			err := objstore.WriteCRC32C(ctx, s, "dir/whole", bytes.NewReader(tt.body), int64(len(tt.body)), crc)
			if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, objstore.ErrChecksumMismatch) {
				t.Fatalf("WriteCRC32C: %v, want ok=%v or a checksum mismatch", err, tt.ok)
			}
			got, rerr := os.ReadFile(filepath.Join(root, "dir", "whole"))
			if tt.ok && !bytes.Equal(got, good) || !tt.ok && rerr == nil {
				t.Errorf("after the write: %d bytes (%v)", len(got), rerr)
			}

			id, err := s.InitiateMultipart(ctx, "dir/striped")
			if err != nil {
				t.Fatal(err)
			}
			var parts []objstore.Part
			for i, body := range [][]byte{good, tt.body} {
				p := objstore.Part{Number: i + 1, Offset: int64(i * len(good)), Size: int64(len(body))}
				etag, err := objstore.UploadPartCRC32C(ctx, s, "dir/striped", id, p, crc, bytes.NewReader(body))
				if ok := i == 0 || tt.ok; ok != (err == nil) || !ok && !errors.Is(err, objstore.ErrChecksumMismatch) {
					t.Fatalf("UploadPartCRC32C part %d: %v", i+1, err)
				}
				p.ETag = etag
				parts = append(parts, p)
			}
			if !tt.ok {
				return
			}
			if err := s.CompleteMultipart(ctx, "dir/striped", id, parts); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(filepath.Join(root, "dir", "striped")); !bytes.Equal(got, append(bytes.Clone(good), good...)) {
				t.Errorf("striped object: %d bytes, want the two parts", len(got))
			}
		})
	}
	if !objstore.CanSkipMD5(objstore.Portable(New(t.TempDir()))) {
		t.Error("local disk reports no MD5 and checks CRC-32C: its writes need no MD5")
	}
}
