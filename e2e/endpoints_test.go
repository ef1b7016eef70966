package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
)

// TestCopyBetweenTwoS3Servers copies between two S3-compatible servers (two
// regions) in one command, the second named per bucket in
// s3_bucket_endpoints, and back again. The plan sees two regions: through
// gateways the frames are compressed and sealed, which the wire bytes show;
// in process (both servers are reached from here) nothing crosses a wire.
func TestCopyBetweenTwoS3Servers(t *testing.T) {
	for _, mode := range []string{"in-process", "gateways"} {
		t.Run(mode, func(t *testing.T) { copyBetweenTwoS3Servers(t, mode == "in-process") })
	}
}

func copyBetweenTwoS3Servers(t *testing.T, inProcess bool) {
	s := newSandbox(t)
	if !inProcess {
		s.useGateways()
	}
	s.config("multipart_min_threshold_mb", "6", "multipart_chunk_size_mb", "5")
	a, b := s3Backend(t, s), s3bBackend(t, s)

	text := bytes.Repeat([]byte("the quick brown fox jumps over the lazy dog, again and again. "), 200_000) // ~12 MiB, multipart
	noise := make([]byte, 300_000)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"in/text.txt": text, "in/noise.bin": noise, "in/empty": nil}

	for _, dir := range []struct {
		from, to backend
		region   [2]string
	}{
		{a, b, [2]string{"aws:us-east-1", "aws:us-west-2"}},
		{b, a, [2]string{"aws:us-west-2", "aws:us-east-1"}},
	} {
		t.Run(dir.from.name+"_to_"+dir.to.name, func(t *testing.T) {
			sb, db := dir.from.bucket(t), dir.to.bucket(t)
			for k, d := range files {
				dir.from.put(t, sb, k, d)
			}
			r := s.mustRun("cp", "-r", "-y", "--json", join(sb, "in/"), join(db, "out/"))
			plans := events(t, r.stdout, "plan")
			if len(plans) != 1 || fmt.Sprint(plans[0]["regions"]) != fmt.Sprint([]any{dir.region[0], dir.region[1]}) {
				t.Errorf("plan regions %v, want %v", plans, dir.region)
			}
			for k, want := range files {
				dk := "out/" + strings.TrimPrefix(k, "in/")
				got, ok := dir.to.get(t, db, dk)
				if !ok || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes (present %v), want %d", dk, len(got), ok, len(want))
				}
				// The destination bucket exists on one server only: the
				// other one must not have been written.
				if _, ok := dir.from.get(t, db, dk); ok {
					t.Errorf("%s also appeared on the source's server", dk)
				}
			}
			done := doneEvent(t, r.stdout)
			raw, wire := done["bytes"].(float64), done["wire_bytes"].(float64)
			if inProcess {
				if wire != 0 || done["in_process"] != true {
					t.Errorf("in process: wire bytes %v, in_process %v; want none, true", wire, done["in_process"])
				}
			} else if wire <= 0 || wire > raw/2 {
				t.Errorf("wire bytes %v for %v raw: want compression between two regions", wire, raw)
			}
		})
	}
}
