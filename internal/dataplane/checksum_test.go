package dataplane

import (
	"context"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/planner"
)

// TestChecksumChain: to local disk (which checks a CRC-32C and reports no
// MD5 to verify against) checksum_algorithm auto hashes every chunk with
// CRC-32C, md5 with MD5, through gateways and in process alike; a chunk
// damaged after its checksum is refused by the store and sent again.
func TestChecksumChain(t *testing.T) {
	for name, provider := range testProviders() {
		for _, algo := range []string{config.ChecksumAuto, config.ChecksumMD5} {
			t.Run(name+"/"+algo, func(t *testing.T) {
				src, dst := t.TempDir(), t.TempDir()
				files := writeTree(t, src, 10, func(i int) int { return i * 400_000 }) // some striped (> 1 MiB)
				cfg := testConfig()
				cfg.ChecksumAlgorithm = algo
				plan, err := planner.Direct("local:src", []string{"local:dst"}, 1)
				if err != nil {
					t.Fatal(err)
				}
				hooks := control.TestHooks{}
				if name == "in-process" {
					hooks.CorruptFrames = 1 // through gateways the frame's tag catches it first
				}
				d, err := New(plan, Options{Config: cfg, Provider: provider(), Dir: t.TempDir(), JournalDir: t.TempDir(), Log: quietLog(), Test: hooks})
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Provision(context.Background()); err != nil {
					t.Fatal(err)
				}
				defer d.Deprovision(context.Background())
				res, err := d.Run(context.Background(), resolved(d, Job{Src: loc(t, src), Dsts: []objstore.Location{loc(t, dst)}, Recursive: true}), nil)
				if err != nil {
					t.Fatal(err)
				}
				checkTree(t, dst, files)
				var written, crc int64
				for _, s := range res.Stats {
					written += s.ChunksWritten
					crc += s.WrittenCRC32C
				}
				if want := map[string]int64{config.ChecksumAuto: written, config.ChecksumMD5: 0}[algo]; written == 0 || crc != want {
					t.Errorf("%d of %d chunks written checked by CRC-32C, want %d", crc, written, want)
				}
				if res.Retries != hooks.CorruptFrames {
					t.Errorf("retries = %d, want %d (the damaged chunk)", res.Retries, hooks.CorruptFrames)
				}
			})
		}
	}
}
