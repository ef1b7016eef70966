// Package chunk holds what the client hands to gateways: chunk requests,
// the key mapping and the striping of big objects into parts.
package chunk

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
)

// ID identifies a chunk across gateways and on the wire.
type ID [16]byte

// NewID returns a random chunk id.
func NewID() ID {
	var id ID
	if _, err := rand.Read(id[:]); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return id
}

func (id ID) String() string { return hex.EncodeToString(id[:]) }

func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

func (id *ID) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(id) {
		return fmt.Errorf("chunk id %q: want %d hex digits", b, 2*len(id))
	}
	_, err := hex.Decode(id[:], b)
	return err
}

// Bucket names the bucket a chunk is read from or written to, with the
// settings a gateway needs to open it (an objstore.Store is the opened
// bucket). Requests carry it so one set of gateways can serve many jobs
// over different buckets.
type Bucket struct {
	URL           string `json:"url"` // bucket-level URL, e.g. s3://bucket or file:///
	Endpoint      string `json:"endpoint,omitempty"`
	RequesterPays bool   `json:"requester_pays,omitempty"`
	// NoFsync: local disk skips fsyncs (config local_fsync false).
	NoFsync bool `json:"no_fsync,omitempty"`
}

// Dest is where a chunk lands for one destination gateway group.
type Dest struct {
	// Group is the key of the destination gateway group that writes it
	// (planner.Group.Key: a region tag, or local:dst).
	Group    string `json:"group"`
	Bucket   Bucket `json:"bucket"`
	Key      string `json:"key"`
	UploadID string `json:"upload_id,omitempty"` // empty: whole-object write
}

// Request asks a source gateway to move one byte range of one object to
// every destination in Dests.
type Request struct {
	ID     ID     `json:"id"`
	Src    Bucket `json:"src"`
	SrcKey string `json:"src_key"`
	// SrcVersion pins every read of the object to the version listed
	// (objstore.Object.Version); empty reads whatever is there.
	SrcVersion string `json:"src_version,omitempty"`
	Offset     int64  `json:"offset"`
	Length     int64  `json:"length"`
	PartNumber int    `json:"part,omitempty"` // 0: the whole object, no multipart
	Dests      []Dest `json:"dests"`
	Attempt    int    `json:"attempt,omitempty"`
	// Run is the run (control.JobRegistration.Run) the chunk belongs to:
	// gateways read and write it only while that run is live, and only
	// where that run's scopes say.
	Run string `json:"run"`
	// Checksum is what the source hashes the chunk with for the
	// destination store to verify: "" MD5, ChecksumCRC32C CRC-32C (chosen
	// by the client only when every destination checks it and needs no MD5).
	Checksum string `json:"checksum,omitempty"`
}

// ChecksumCRC32C names the CRC-32C (Castagnoli) in Request.Checksum.
const ChecksumCRC32C = "crc32c"
