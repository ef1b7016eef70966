package dataplane

import (
	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// checksumFor is what the source hashes o's chunks with (chunk.Request's
// Checksum): CRC-32C, many times cheaper than MD5, when checksum_algorithm
// is auto and every destination checks a CRC-32C on write and verifies
// nothing after the transfer with an MD5 (objstore.CanSkipMD5); MD5 ("")
// otherwise. With verify_checksums off nothing is hashed either way.
func (r *run) checksumFor(o *objState) string {
	cfg := r.d.opts.Config
	if cfg.ChecksumAlgorithm != config.ChecksumAuto || !cfg.VerifyChecksums || len(o.dests) == 0 {
		return ""
	}
	for _, od := range o.dests {
		st := od.store
		if f, ok := st.(filteredStore); ok {
			st = f.Store
		}
		if !objstore.CanSkipMD5(st) {
			return ""
		}
	}
	return chunk.ChecksumCRC32C
}
