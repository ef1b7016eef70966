package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCopyTree is the headline: ≥ 1,000 small files in nested folders, an
// empty file and a 300 MiB file striped into parts, copied through gateway
// processes, byte-identical, with the wire bytes the gateways counted
// matching the summary.
func TestCopyTree(t *testing.T) {
	s := newSandbox(t)
	s.useGateways()
	src, dst := s.path("src"), s.path("dst")
	for i := range 10 {
		for j := range 10 {
			for k := range 10 {
				writeFile(t, filepath.Join(src, fmt.Sprintf("d%d/e%d/f%d.txt", i, j, k)), fmt.Appendf(nil, "file %d/%d/%d\n%s", i, j, k, strings.Repeat("x", i*j*k)))
			}
		}
	}
	writeFile(t, filepath.Join(src, "empty"), nil)
	writeRandomFile(t, filepath.Join(src, "big", "blob.bin"), 300<<20)
	s.config("multipart_min_threshold_mb", "64", "multipart_chunk_size_mb", "16")

	r := s.mustRun("cp", "-r", "-y", "--json", src, dst)
	assertTreesEqual(t, src, dst)

	done := doneEvent(t, r.stdout)
	if got := done["objects"].(float64); got != 1002 {
		t.Errorf("summary objects = %v, want 1002", got)
	}
	var total int64
	for _, size := range listTree(t, src) {
		total += size
	}
	if got := int64(done["bytes"].(float64)); got != total {
		t.Errorf("summary bytes = %d, want %d", got, total)
	}
	// The bytes really crossed gateway processes: what the destination
	// gateways counted on their sockets is what the summary reports.
	recv, files := s.gatewayStats("dst", "wire_bytes_recv")
	if files != 1 {
		t.Fatalf("want 1 destination gateway stats file, got %d", files)
	}
	if wire := done["wire_bytes"].(float64); recv != wire || wire < float64(total) {
		t.Errorf("destination gateways received %v wire bytes, summary says %v (raw %d)", recv, wire, total)
	}
	sent, _ := s.gatewayStats("src", "wire_bytes_sent")
	if sent != recv {
		t.Errorf("source gateway sent %v wire bytes, destination received %v", sent, recv)
	}
	// 19 parts of 16 MiB plus 1,001 small objects: the parts spread over
	// the persistent connections rather than queueing on one.
	if conns, _ := s.gatewayStats("dst", "connections_used"); conns < 8 {
		t.Errorf("only %v connections carried frames, want the work spread over ≥ 8", conns)
	}
	if frames, _ := s.gatewayStats("dst", "frames_recv"); frames != 1001+19 {
		t.Errorf("destination received %v frames, want %d (1,001 whole objects + 19 parts)", frames, 1001+19)
	}
}

// TestCompression: text shrinks on the wire; random data does not grow
// beyond the per-frame header and authentication tag.
func TestCompression(t *testing.T) {
	tests := []struct {
		name    string
		content func(i int) []byte
		check   func(t *testing.T, raw, wire float64, frames float64)
	}{
		{"text", func(i int) []byte { return textCorpus(1<<20 + i) }, func(t *testing.T, raw, wire, _ float64) {
			if wire > raw/2 {
				t.Errorf("text: %v wire bytes for %v raw, want under half", wire, raw)
			}
		}},
		{"random", func(i int) []byte { return randomBytes(t, 1<<20+i) }, func(t *testing.T, raw, wire, frames float64) {
			if wire < raw {
				t.Errorf("random data compressed (%v < %v)?", wire, raw)
			}
			// Header, metadata and tag: well under 1 KiB a frame.
			if over := wire - raw; over > frames*1024 {
				t.Errorf("random: %v bytes of overhead over %v frames", over, frames)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			s.useGateways()
			src, dst := s.path("src"), s.path("dst")
			for i := range 16 {
				writeFile(t, filepath.Join(src, fmt.Sprintf("f%02d", i)), tt.content(i))
			}
			r := s.mustRun("cp", "-r", "-y", "--json", src, dst)
			assertTreesEqual(t, src, dst)
			done := doneEvent(t, r.stdout)
			raw, wire := done["bytes"].(float64), done["wire_bytes"].(float64)
			frames, _ := s.gatewayStats("dst", "frames_recv")
			tt.check(t, raw, wire, frames)
			saved := done["compression_saved_pct"].(float64)
			if want := math.Max(0, 100*(1-wire/raw)); math.Abs(saved-want) > 0.01 {
				t.Errorf("summary says %.2f%% saved, wire/raw says %.2f%%", saved, want)
			}
		})
	}
}

// TestCorruptFrameIsResent flips a byte of frames in transit: the
// destination rejects them (AEAD with encryption, MD5 without), the client
// resends those chunks, and the result is identical.
func TestCorruptFrameIsResent(t *testing.T) {
	for _, encrypt := range []string{"true", "false"} {
		t.Run("encrypt_e2e="+encrypt, func(t *testing.T) {
			s := newSandbox(t)
			s.useGateways()
			src, dst := s.path("src"), s.path("dst")
			for i := range 8 {
				writeFile(t, filepath.Join(src, fmt.Sprintf("f%d", i)), randomBytes(t, 256<<10))
			}
			writeRandomFile(t, filepath.Join(src, "big"), 12<<20)
			s.config("encrypt_e2e", encrypt, "multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4")
			r := s.run([]string{"SKYPLANE_TEST_CORRUPT_FRAMES=3"}, "cp", "-r", "-y", "--json", src, dst)
			if r.code != 0 {
				t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			assertTreesEqual(t, src, dst)
			if rejected, _ := s.gatewayStats("dst", "frames_rejected"); rejected != 3 {
				t.Errorf("destination rejected %v frames, want the 3 corrupted ones", rejected)
			}
			if retries := doneEvent(t, r.stdout)["retries"].(float64); retries < 3 {
				t.Errorf("summary counts %v retries, want ≥ 3", retries)
			}
		})
	}
}

// TestFailureLeavesNothingHalfWritten: every frame corrupted, so chunks
// exhaust their attempts; the transfer fails, the multipart upload of the
// big object is aborted, and nothing partial is visible.
func TestFailureLeavesNothingHalfWritten(t *testing.T) {
	s := newSandbox(t)
	src, dst := s.path("src"), s.path("dst")
	writeRandomFile(t, filepath.Join(src, "big"), 12<<20)
	writeFile(t, filepath.Join(src, "small"), []byte("small"))
	s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4")
	r := s.run([]string{"SKYPLANE_TEST_CORRUPT_FRAMES=1000000"}, "cp", "-r", "-y", src, dst)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "attempt") {
		t.Errorf("error does not say the chunk ran out of attempts:\n%s", r.stderr)
	}
	assertNoPartial(t, src, dst)
}

// assertNoPartial: whatever exists at dst is complete and identical to
// its source, and no staging or temp file is left.
func assertNoPartial(t *testing.T, src, dst string) {
	t.Helper()
	_ = filepath.WalkDir(dst, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dst, p)
		if strings.HasPrefix(d.Name(), ".skyplane-") {
			t.Errorf("staging or temp file left behind: %s", rel)
			return nil
		}
		if !sameContent(t, filepath.Join(src, rel), p) {
			t.Errorf("partial object visible at destination: %s", rel)
		}
		return nil
	})
}
