package e2e

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestKeyDestinationCannotHold: a source key local disk cannot hold
// ("a//b", from GCS) is reported as failed with the reason while every
// other object lands; the run exits 1 and says so in the summary and in
// --json.
func TestKeyDestinationCannotHold(t *testing.T) {
	s := newSandbox(t)
	gcs := gcsBackend(t, s)
	bucket := gcs.bucket(t)
	for _, k := range []string{"a//b", "ok1", "sub/ok2"} {
		gcs.put(t, bucket, k, []byte("data of "+k))
	}

	dst := s.path("dst")
	r := s.run(nil, "cp", "-r", "-y", bucket, dst)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if got := slices.Sorted(maps.Keys(listTree(t, dst))); !slices.Equal(got, []string{"ok1", "sub/ok2"}) {
		t.Errorf("destination holds %v, want ok1 and sub/ok2", got)
	}
	for _, want := range []string{"except 1 object(s)", "a//b", "empty path component"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "some objects could not be copied") {
		t.Errorf("stderr lacks the error:\n%s", r.stderr)
	}

	r = s.run(nil, "cp", "-r", "-y", "--json", bucket, s.path("dst2"))
	if r.code != 1 {
		t.Fatalf("--json: exit %d, want 1\nstderr: %s", r.code, r.stderr)
	}
	failed := events(t, r.stdout, "object_failed")
	if len(failed) != 1 || !strings.HasSuffix(failed[0]["src"].(string), "/a//b") || !strings.Contains(failed[0]["reason"].(string), "empty path component") {
		t.Errorf("object_failed events: %v", failed)
	}
	if done := doneEvent(t, r.stdout); done["failed"] != 1.0 || done["objects"] != 2.0 {
		t.Errorf("done event: failed %v, objects %v; want 1 and 2", done["failed"], done["objects"])
	}
	if errs := events(t, r.stdout, "error"); len(errs) != 1 || errs[0]["exit_code"] != 1.0 {
		t.Errorf("error events: %v", errs)
	}
}
