package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// fixture is a small tree: nested small objects, an empty one and one
// striped into parts (5 MiB parts, the smallest S3 accepts).
func fixture(t *testing.T) map[string][]byte {
	files := map[string][]byte{
		"data/empty":         {},
		"data/striped.bin":   randomBytes(t, 12<<20+123),
		"data/top.txt":       textCorpus(5000),
		"data/x y/ünï.txt":   []byte("unicode and a space"),
		"data/a/b/c/deep.md": textCorpus(777),
	}
	for i := range 12 {
		files[fmt.Sprintf("data/dir%d/f%02d", i%3, i)] = randomBytes(t, 100+i*997)
	}
	return files
}

// TestEveryPairOfStores copies a tree for every ordered pair of {local,
// s3, gs, azure}, reads every object back through the destination's own
// SDK, then syncs: one added object moves, then nothing. Every store here is
// reached from this machine, so the default copies in process; the
// "gateways" run forces gateway processes (in_process false).
func TestEveryPairOfStores(t *testing.T) {
	for _, mode := range []string{"in-process", "gateways"} {
		t.Run(mode, func(t *testing.T) { everyPairOfStores(t, mode == "in-process") })
	}
}

func everyPairOfStores(t *testing.T, inProcess bool) {
	s := newSandbox(t)
	s.config("multipart_min_threshold_mb", "6", "multipart_chunk_size_mb", "5")
	if !inProcess {
		s.config("in_process", "false")
	}
	all := backends(t, s)
	files := fixture(t)
	var total int64
	for _, d := range files {
		total += int64(len(d))
	}
	for _, src := range all {
		for _, dst := range all {
			t.Run(src.name+"_to_"+dst.name, func(t *testing.T) {
				sb, db := src.bucket(t), dst.bucket(t)
				for k, d := range files {
					src.put(t, sb, k, d)
				}
				r := s.mustRun("cp", "-r", "-y", "--json", join(sb, "data"), join(db, "out/"))
				done := doneEvent(t, r.stdout)
				// Cloud stores are verified by content (the MD5 the source sent
				// them); local disk, which reports none, is checked by CRC-32C
				// on every write instead.
				if dst.name != "local" && done["verified_md5"].(float64) == 0 {
					t.Errorf("no object verified by MD5 at %s: %v", dst.name, done)
				}
				if done["in_process"] != inProcess {
					t.Errorf("in_process %v in the summary, want %v", done["in_process"], inProcess)
				}
				// The plan shown before the transfer says the same.
				for _, ev := range allEvents(t, r.stdout) {
					if ev["event"] == "plan" && ev["in_process"] != inProcess {
						t.Errorf("in_process %v in the plan, want %v", ev["in_process"], inProcess)
					}
				}
				if done["objects"].(float64) != float64(len(files)) || int64(done["bytes"].(float64)) != total {
					t.Errorf("summary: %v objects, %v bytes; want %d, %d", done["objects"], done["bytes"], len(files), total)
				}
				got := dst.list(t, db, "out/")
				if len(got) != len(files) {
					t.Errorf("destination holds %d objects, want %d: %v", len(got), len(files), got)
				}
				for k, want := range files {
					dk := "out/" + strings.TrimPrefix(k, "data/")
					data, ok := dst.get(t, db, dk)
					if !ok {
						t.Errorf("%s missing at the destination", dk)
						continue
					}
					if !bytes.Equal(data, want) {
						t.Errorf("%s: %d bytes differ from the source's %d", dk, len(data), len(want))
					}
				}
				// Sync: only what the destination lacks moves.
				added := []byte("added after the copy")
				src.put(t, sb, "data/dir1/added", added)
				r = s.mustRun("sync", "-y", "--json", join(sb, "data"), join(db, "out"))
				if n := doneEvent(t, r.stdout)["objects"].(float64); n != 1 {
					t.Errorf("sync after cp copied %v objects, want 1 (the added one)", n)
				}
				if data, ok := dst.get(t, db, "out/dir1/added"); !ok || !bytes.Equal(data, added) {
					t.Errorf("sync did not bring out/dir1/added (%q, %v)", data, ok)
				}
				r = s.mustRun("sync", "-y", "--json", join(sb, "data"), join(db, "out"))
				if n := doneEvent(t, r.stdout)["objects"].(float64); n != 0 {
					t.Errorf("second sync copied %v objects, want 0", n)
				}
			})
		}
	}
}
