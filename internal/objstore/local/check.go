package local

import (
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"slices"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// check hashes what a write stores and compares the sum with the one the
// caller sent (want nil: nothing to compare).
type check struct {
	name string
	h    hash.Hash
	want []byte
}

func crcCheck(crc uint32) *check {
	return &check{name: "crc32c", h: crc32.New(objstore.Castagnoli), want: binary.BigEndian.AppendUint32(nil, crc)}
}

// verify fails with ErrChecksumMismatch when the bytes written do not
// have the sum sent. A nil check verifies nothing.
func (c *check) verify() error {
	if c == nil || c.want == nil {
		return nil
	}
	if got := c.h.Sum(nil); !slices.Equal(got, c.want) {
		return fmt.Errorf("%s %x, want %x: %w", c.name, got, c.want, objstore.ErrChecksumMismatch)
	}
	return nil
}
