package objstore

import (
	"crypto/rand"
	"encoding/hex"
)

// UploadIDLen is the length of the upload ids that backends without a
// service-issued id (local disk, GCS composite uploads, Azure blocks) mint
// themselves: lowercase hex, so they can be embedded in names and block ids
// and parsed back by any process.
const UploadIDLen = 32

// NewUploadID returns UploadIDLen random lowercase hex digits.
func NewUploadID() string {
	var b [UploadIDLen / 2]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// IsUploadID reports whether id has the form NewUploadID returns.
func IsUploadID(id string) bool {
	if len(id) != UploadIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
