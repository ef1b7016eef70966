package s3

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"hash/crc64"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// TestServerVerifiesSentChecksums: which checksums versitygw checks against
// the body it receives. Each is computed over good and sent with bad bytes
// of the same length: a server that verifies refuses the write; the same
// checksum with the good bytes is accepted (the header itself is fine). The
// transfer relies only on the checksums this test shows verified
// (docs/architecture.md, Integrity).
func TestServerVerifiesSentChecksums(t *testing.T) {
	srv := testServer(t)
	bucket := srv.newBucket(t)
	c := srv.adminClient()
	good := bytes.Repeat([]byte("integrity "), 100_000)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0xff
	b64 := func(b []byte) *string { return aws.String(base64.StdEncoding.EncodeToString(b)) }
	crc32c := crc32.Checksum(good, crc32.MakeTable(crc32.Castagnoli))
	crc64nvme := crc64.Checksum(good, crc64.MakeTable(0x9a6c9329ac4bc9b5))
	sum := md5.Sum(good)
	tests := []struct {
		name string
		set  func(*awss3.PutObjectInput, *awss3.UploadPartInput)
	}{
		{"Content-MD5", func(p *awss3.PutObjectInput, u *awss3.UploadPartInput) {
			p.ContentMD5, u.ContentMD5 = b64(sum[:]), b64(sum[:])
		}},
		{"x-amz-checksum-crc32c", func(p *awss3.PutObjectInput, u *awss3.UploadPartInput) {
			v := b64(binary.BigEndian.AppendUint32(nil, crc32c))
			p.ChecksumCRC32C, u.ChecksumCRC32C = v, v
		}},
		{"x-amz-checksum-crc64nvme", func(p *awss3.PutObjectInput, u *awss3.UploadPartInput) {
			v := b64(binary.BigEndian.AppendUint64(nil, crc64nvme))
			p.ChecksumCRC64NVME, u.ChecksumCRC64NVME = v, v
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := "checksum/" + tt.name
			up, err := c.CreateMultipartUpload(t.Context(), &awss3.CreateMultipartUploadInput{Bucket: &bucket, Key: aws.String(key + ".multipart")})
			if err != nil {
				t.Fatal(err)
			}
			for _, body := range [][]byte{bad, good} {
				put := &awss3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}
				part := &awss3.UploadPartInput{Bucket: &bucket, Key: up.Key, UploadId: up.UploadId, PartNumber: aws.Int32(1),
					Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}
				tt.set(put, part)
				_, perr := c.PutObject(t.Context(), put)
				_, uerr := c.UploadPart(t.Context(), part)
				corrupt := &body[0] == &bad[0]
				for op, err := range map[string]error{"PutObject": perr, "UploadPart": uerr} {
					switch {
					case corrupt && err == nil:
						t.Errorf("%s with a corrupted body and %s: accepted (the server does not verify it)", op, tt.name)
					case corrupt:
						// Refused for its checksum, not for anything else.
						var ae smithy.APIError
						if !errors.As(err, &ae) || !strings.Contains(ae.ErrorCode(), "Digest") && !strings.Contains(ae.ErrorCode(), "Checksum") {
							t.Errorf("%s with a corrupted body and %s: refused, but not for its checksum: %v", op, tt.name, err)
						}
					case !corrupt && err != nil:
						t.Errorf("%s with the right body and %s: %v", op, tt.name, err)
					}
				}
			}
		})
	}
}
