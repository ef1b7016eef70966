package objstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
)

// Castagnoli is the CRC-32C table (hardware-accelerated on amd64 and arm64:
// many GB/s, against ~0.8 GB/s for MD5).
var Castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC32C is the CRC-32C of b.
func CRC32C(b []byte) uint32 { return crc32.Checksum(b, Castagnoli) }

// CRC32CWriter is a driver that verifies a CRC-32C sent with a write, the
// way Write and UploadPart verify an MD5: a body that does not match fails
// with ErrChecksumMismatch and nothing is written. A driver implements it
// only where the check is proven by its tests; verification after a
// transfer must not need the MD5 it replaces (see CanSkipMD5).
type CRC32CWriter interface {
	WriteCRC32C(ctx context.Context, key string, r io.Reader, size int64, crc uint32) error
	// UploadPartCRC32C is UploadPart checked by crc instead of p.MD5; the
	// returned ETag is what CompleteMultipart expects.
	UploadPartCRC32C(ctx context.Context, key, uploadID string, p Part, crc uint32, r io.Reader) (string, error)
}

// CanSkipMD5 says whether writes to s can be checked by CRC-32C instead of
// MD5 with nothing lost: the driver verifies a CRC-32C, and it reports no
// MD5 or multipart ETag that verification would compare with one.
func CanSkipMD5(s Store) bool {
	_, ok := Unwrap(s).(CRC32CWriter)
	f := s.Features()
	return ok && !f.ReportsMD5 && !f.MultipartETag
}

// WriteCRC32C writes through the driver's CRC32CWriter (ErrNotSupported
// when it has none), refusing an empty key as the portable layer does.
func WriteCRC32C(ctx context.Context, s Store, key string, r io.Reader, size int64, crc uint32) error {
	w, err := crc32cWriter(s, key)
	if err != nil {
		return err
	}
	return w.WriteCRC32C(ctx, key, r, size, crc)
}

// UploadPartCRC32C uploads a part through the driver's CRC32CWriter.
func UploadPartCRC32C(ctx context.Context, s Store, key, uploadID string, p Part, crc uint32, r io.Reader) (string, error) {
	w, err := crc32cWriter(s, key)
	if err != nil {
		return "", err
	}
	return w.UploadPartCRC32C(ctx, key, uploadID, p, crc, r)
}

func crc32cWriter(s Store, key string) (CRC32CWriter, error) {
	if key == "" {
		return nil, Portable(s).(portable).noKey("write")
	}
	w, ok := Unwrap(s).(CRC32CWriter)
	if !ok {
		return nil, &notCRC32C{url: s.URL()}
	}
	return w, nil
}

type notCRC32C struct{ url string }

func (e *notCRC32C) Error() string {
	return e.url + ": no CRC-32C check on writes: send an MD5 (checksum_algorithm md5)"
}
func (e *notCRC32C) Unwrap() error { return ErrNotSupported }

// Sums is what a source computed over one chunk for the destination store
// to verify through the write: its MD5, or its CRC-32C (UseCRC32C).
type Sums struct {
	MD5       []byte
	CRC32C    uint32
	UseCRC32C bool
}

// HashChunk hashes data once: CRC-32C when crc32c, else MD5.
func HashChunk(data []byte, crc32c bool) Sums {
	if crc32c {
		return Sums{CRC32C: CRC32C(data), UseCRC32C: true}
	}
	s := md5.Sum(data)
	return Sums{MD5: s[:]}
}

// MD5Hex is the MD5 in hex ("" when there is none).
func (c Sums) MD5Hex() string { return hex.EncodeToString(c.MD5) }

// CRC32CHex is the CRC-32C as 8 hex digits ("" when there is none).
func (c Sums) CRC32CHex() string {
	if !c.UseCRC32C {
		return ""
	}
	return fmt.Sprintf("%08x", c.CRC32C)
}

// Land writes data to sink with the sums for the store to verify: the whole
// object at key when uploadID is empty, else part p (Number, Offset) of the
// upload. It returns the part's ETag (a whole object's MD5 in hex).
func (c Sums) Land(ctx context.Context, sink Store, key, uploadID string, p Part, data []byte) (string, error) {
	p.Size, p.MD5 = int64(len(data)), c.MD5
	switch {
	case uploadID != "" && c.UseCRC32C:
		return UploadPartCRC32C(ctx, sink, key, uploadID, p, c.CRC32C, bytes.NewReader(data))
	case uploadID != "":
		return sink.UploadPart(ctx, key, uploadID, p, bytes.NewReader(data))
	case c.UseCRC32C:
		return "", WriteCRC32C(ctx, sink, key, bytes.NewReader(data), p.Size, c.CRC32C)
	default:
		return c.MD5Hex(), sink.Write(ctx, key, bytes.NewReader(data), p.Size, c.MD5)
	}
}
