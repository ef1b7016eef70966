package chunk

import "math"

// MiB is 2^20 bytes.
const MiB = 1 << 20

// Params say how big objects are striped into multipart parts.
type Params struct {
	Enabled     bool  // multipart_enabled
	Threshold   int64 // objects larger than this are striped (multipart_min_threshold_mb)
	PartSize    int64 // target part size (multipart_chunk_size_mb)
	MaxParts    int   // most parts per object, 0 = no limit (multipart_max_chunks)
	MinPartSize int64 // smallest non-final part the destination accepts (objstore.Features)
}

// Range is one byte range of an object.
type Range struct {
	Offset, Length int64
	Part           int // 0 = the whole object (no multipart), else 1-based part number
}

// Split stripes an object of size bytes. When multipart is off or size <=
// Threshold (zero-byte objects included) the result is one whole-object
// Range{0, size, 0}. Otherwise the parts are PartSize long; when that would
// take more than MaxParts parts the part size grows to ceil(size/MaxParts)
// rounded up to a whole MiB; it is never below MinPartSize; the last part
// holds the remainder. Should one part cover everything (PartSize >= size),
// Split returns the whole-object range: a single-part upload gains nothing.
// A PartSize <= 0 means 64 MiB. A negative size is treated as 0. The
// ranges cover [0,size) exactly, in order.
func Split(size int64, p Params) []Range {
	if size < 0 {
		size = 0
	}
	if !p.Enabled || size <= p.Threshold {
		return []Range{{Offset: 0, Length: size}}
	}
	ps := p.PartSize
	if ps <= 0 {
		ps = 64 * MiB
	}
	if p.MaxParts > 0 && ceilDiv(size, ps) > int64(p.MaxParts) {
		ps = roundUpMiB(ceilDiv(size, int64(p.MaxParts)))
	}
	ps = max(ps, p.MinPartSize)
	n := ceilDiv(size, ps)
	if n <= 1 {
		return []Range{{Offset: 0, Length: size}}
	}
	rs := make([]Range, 0, n)
	for off, i := int64(0), 1; ; i++ {
		l := min(ps, size-off) // no off+ps: it may overflow near MaxInt64
		rs = append(rs, Range{Offset: off, Length: l, Part: i})
		if l == size-off {
			return rs
		}
		off += l
	}
}

func ceilDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 {
		q++
	}
	return q
}

func roundUpMiB(x int64) int64 {
	if x > math.MaxInt64-MiB {
		return x
	}
	return ceilDiv(x, MiB) * MiB
}
