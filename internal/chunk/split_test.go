package chunk

import (
	"math"
	"slices"
	"testing"
)

// checkCover verifies that rs covers [0,size) exactly, in order.
func checkCover(t *testing.T, size int64, p Params, rs []Range) {
	t.Helper()
	if len(rs) == 0 {
		t.Fatalf("Split(%d, %+v) returned no ranges", size, p)
	}
	var off int64
	for i, r := range rs {
		if r.Offset != off || r.Length < 0 {
			t.Fatalf("Split(%d, %+v): range %d = %+v, want offset %d", size, p, i, r, off)
		}
		if len(rs) == 1 && r.Part != 0 || len(rs) > 1 && r.Part != i+1 {
			t.Fatalf("Split(%d, %+v): range %d has part %d", size, p, i, r.Part)
		}
		if len(rs) > 1 && i < len(rs)-1 && r.Length < p.MinPartSize {
			t.Fatalf("Split(%d, %+v): non-final part %d of %d bytes < MinPartSize", size, p, i+1, r.Length)
		}
		if len(rs) > 1 && r.Length == 0 {
			t.Fatalf("Split(%d, %+v): empty part %d", size, p, i+1)
		}
		off += r.Length
	}
	if off != size {
		t.Fatalf("Split(%d, %+v) covers %d bytes", size, p, off)
	}
	if p.MaxParts > 0 && len(rs) > p.MaxParts {
		t.Fatalf("Split(%d, %+v) = %d parts > MaxParts", size, p, len(rs))
	}
}

// original is the original Skyplane's striping: above 128 MiB, 64 MiB
// parts, at most 9990 parts.
var original = Params{Enabled: true, Threshold: 128 * MiB, PartSize: 64 * MiB, MaxParts: 9990}

func TestSplit(t *testing.T) {
	def := original
	small := Params{Enabled: true, Threshold: 10, PartSize: 4, MaxParts: 100}
	whole := func(n int64) []Range { return []Range{{0, n, 0}} }
	for _, tc := range []struct {
		name string
		size int64
		p    Params
		want []Range
	}{
		{"zero size", 0, def, whole(0)},
		{"zero size, threshold 0", 0, Params{Enabled: true, PartSize: 4}, whole(0)},
		{"disabled", 10 << 30, Params{Enabled: false, Threshold: 1, PartSize: 1}, whole(10 << 30)},
		{"below threshold", 9, small, whole(9)},
		{"at threshold", 10, small, whole(10)},
		{"just above threshold", 11, small, []Range{{0, 4, 1}, {4, 4, 2}, {8, 3, 3}}},
		{"exact multiple", 12, small, []Range{{0, 4, 1}, {4, 4, 2}, {8, 4, 3}}},
		{"one byte over a multiple", 13, small, []Range{{0, 4, 1}, {4, 4, 2}, {8, 4, 3}, {12, 1, 4}}},
		{"part size covers all", 11, Params{Enabled: true, Threshold: 10, PartSize: 64}, whole(11)},
		{"min part size raises part size", 20, Params{Enabled: true, Threshold: 10, PartSize: 4, MinPartSize: 8}, []Range{{0, 8, 1}, {8, 8, 2}, {16, 4, 3}}},
		{"defaults: 128 MiB stays whole", 128 * MiB, def, whole(128 * MiB)},
		{"defaults: 128 MiB + 1", 128*MiB + 1, def, []Range{{0, 64 * MiB, 1}, {64 * MiB, 64 * MiB, 2}, {128 * MiB, 1, 3}}},
		{"defaults: 200 MiB", 200 * MiB, def, []Range{{0, 64 * MiB, 1}, {64 * MiB, 64 * MiB, 2}, {128 * MiB, 64 * MiB, 3}, {192 * MiB, 8 * MiB, 4}}},
		// MaxParts growth: 10 MiB + 1 byte in 1 MiB parts with at most 5 parts
		// → ceil(size/5) = 2 MiB + 1 byte → rounded up to 3 MiB.
		{"max parts growth", 10*MiB + 1, Params{Enabled: true, PartSize: MiB, MaxParts: 5}, []Range{{0, 3 * MiB, 1}, {3 * MiB, 3 * MiB, 2}, {6 * MiB, 3 * MiB, 3}, {9 * MiB, MiB + 1, 4}}},
		{"max parts exactly reached", 10 * MiB, Params{Enabled: true, PartSize: 2 * MiB, MaxParts: 5}, []Range{{0, 2 * MiB, 1}, {2 * MiB, 2 * MiB, 2}, {4 * MiB, 2 * MiB, 3}, {6 * MiB, 2 * MiB, 4}, {8 * MiB, 2 * MiB, 5}}},
		{"max parts + min part size", 10 * MiB, Params{Enabled: true, PartSize: MiB, MaxParts: 5, MinPartSize: 4 * MiB}, []Range{{0, 4 * MiB, 1}, {4 * MiB, 4 * MiB, 2}, {8 * MiB, 2 * MiB, 3}}},
		{"negative size", -5, def, whole(0)},
	} {
		got := Split(tc.size, tc.p)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: Split(%d, %+v) = %v, want %v", tc.name, tc.size, tc.p, got, tc.want)
			continue
		}
		checkCover(t, max(tc.size, 0), tc.p, got)
	}
}

func TestSplitDefaultsGrowForHugeObjects(t *testing.T) {
	def := original
	// 1 TiB at 64 MiB would need 16384 parts > 9990: part size grows to
	// ceil(1 TiB / 9990) rounded up to a MiB = 105 MiB.
	size := int64(1) << 40
	rs := Split(size, def)
	checkCover(t, size, def, rs)
	if rs[0].Length != 105*MiB || len(rs) != 9987 {
		t.Errorf("1 TiB: %d parts of %d MiB, want 9987 of 105 MiB", len(rs), rs[0].Length/MiB)
	}
	// Just under the limit: 9990 parts of 64 MiB exactly, no growth.
	size = 9990 * 64 * MiB
	rs = Split(size, def)
	checkCover(t, size, def, rs)
	if len(rs) != 9990 || rs[0].Length != 64*MiB {
		t.Errorf("9990×64 MiB: %d parts of %d bytes", len(rs), rs[0].Length)
	}
	rs = Split(size+1, def)
	checkCover(t, size+1, def, rs)
	if len(rs) > 9990 || rs[0].Length != 65*MiB {
		t.Errorf("9990×64 MiB + 1: %d parts of %d bytes", len(rs), rs[0].Length)
	}
}

func TestSplitExtremes(t *testing.T) {
	for _, tc := range []struct {
		size int64
		p    Params
	}{
		{math.MaxInt64, Params{Enabled: true, PartSize: math.MaxInt64 / 3, MaxParts: 5}},
		{math.MaxInt64, Params{Enabled: true, PartSize: 1, MaxParts: 1}},
		{math.MaxInt64, Params{Enabled: true, PartSize: math.MaxInt64/2 + 1}},
		{100, Params{Enabled: true, PartSize: 0}},
		{100, Params{Enabled: true, PartSize: 7, MaxParts: 1000, MinPartSize: 1}},
	} {
		checkCover(t, tc.size, tc.p, Split(tc.size, tc.p))
	}
}

func FuzzSplit(f *testing.F) {
	f.Add(int64(1000), int64(10), int64(7), 5, int64(0), true)
	f.Fuzz(func(t *testing.T, size, threshold, partSize int64, maxParts int, minPart int64, enabled bool) {
		size %= 1 << 40
		if size < 0 {
			size = -size
		}
		maxParts %= 20000
		if maxParts < 0 {
			maxParts = -maxParts
		}
		if partSize < 0 {
			partSize = -partSize
		}
		if minPart < 0 {
			minPart = -minPart
		}
		if partSize != 0 && size/partSize > 100000 && maxParts == 0 {
			return // too many ranges to build quickly
		}
		p := Params{Enabled: enabled, Threshold: threshold, PartSize: partSize, MaxParts: maxParts, MinPartSize: minPart}
		checkCover(t, size, p, Split(size, p))
	})
}
