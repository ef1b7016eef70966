package cli

import "testing"

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1TB", 1e12, true}, {"500GB", 500e9, true}, {"10M", 10e6, true}, {"1.5TiB", 3 << 39, true},
		{"100GiB", 100 << 30, true}, {"4096", 4096, true}, {"2 kib", 2048, true}, {"1B", 1, true},
		{"", 0, false}, {"lots", 0, false}, {"-1GB", 0, false}, {"0", 0, false}, {"1XB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
