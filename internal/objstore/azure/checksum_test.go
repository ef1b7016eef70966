package azure

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"hash/crc64"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
)

// TestServerVerifiesSentChecksums: which transactional checksums Azurite
// checks against the body it receives, on Put Blob (Write) and Put Block
// (UploadPart). Each is computed over good and sent with bad bytes of the
// same length: a server that verifies refuses the write; the same checksum
// with the good bytes is accepted. The transfer relies only on what this
// test shows verified.
func TestServerVerifiesSentChecksums(t *testing.T) {
	s := freshStore(t)
	good := bytes.Repeat([]byte("integrity "), 100_000)
	bad := bytes.Clone(good)
	bad[len(bad)/2] ^= 0xff
	sum := md5.Sum(good)
	crc := crc64.Checksum(good, crc64.MakeTable(0x9A6C9329AC4BC9B5)) // Azure's CRC-64 (NVMe polynomial)
	tests := []struct {
		name       string
		validation blob.TransferValidationType
	}{
		{"Content-MD5", blob.TransferValidationTypeMD5(sum[:])},
		{"x-ms-content-crc64", blob.TransferValidationTypeCRC64(crc)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bc := s.cc.NewBlockBlobClient("checksum/" + tt.name)
			for _, body := range [][]byte{bad, good} {
				_, perr := bc.Upload(t.Context(), streaming.NopCloser(bytes.NewReader(body)), &blockblob.UploadOptions{TransactionalValidation: tt.validation})
				id := base64.StdEncoding.EncodeToString([]byte("block-0001"))
				_, serr := bc.StageBlock(t.Context(), id, streaming.NopCloser(bytes.NewReader(body)), &blockblob.StageBlockOptions{TransactionalValidation: tt.validation})
				corrupt := &body[0] == &bad[0]
				for op, err := range map[string]error{"Put Blob": perr, "Put Block": serr} {
					switch {
					case corrupt && err == nil:
						t.Errorf("%s with a corrupted body and %s: accepted (the server does not verify it)", op, tt.name)
					case corrupt && !bloberror.HasCode(err, bloberror.MD5Mismatch, bloberror.CRC64Mismatch):
						t.Errorf("%s with a corrupted body and %s: refused, but not for its checksum: %v", op, tt.name, err)
					case !corrupt && err != nil:
						t.Errorf("%s with the right body and %s: %v", op, tt.name, err)
					}
				}
			}
		})
	}
}
