package dataplane

import (
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

func TestJobScope(t *testing.T) {
	ref := chunk.Bucket{URL: "s3://bucket"}
	cases := []struct {
		name string
		job  Job
		want control.Scope
	}{
		{"recursive", Job{Src: objstore.Location{Key: "data/"}, Dsts: []objstore.Location{{Key: "backup"}}, Recursive: true},
			control.Scope{Bucket: ref, Prefix: "backup/"}},
		{"recursive to the bucket", Job{Src: objstore.Location{Key: "data/"}, Dsts: []objstore.Location{{Key: ""}}, Recursive: true},
			control.Scope{Bucket: ref, Prefix: ""}},
		{"sync", Job{Src: objstore.Location{Key: "a"}, Dsts: []objstore.Location{{Key: "b/"}}, Sync: true},
			control.Scope{Bucket: ref, Prefix: "b/"}},
		{"one object", Job{Src: objstore.Location{Key: "dir/file.txt"}, Dsts: []objstore.Location{{Key: "copy.txt"}}},
			control.Scope{Bucket: ref, Prefix: "copy.txt", Exact: true}},
		{"one object into a folder", Job{Src: objstore.Location{Key: "dir/file.txt"}, Dsts: []objstore.Location{{Key: "out/"}}},
			control.Scope{Bucket: ref, Prefix: "out/file.txt", Exact: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := jobScope(c.job, 0, ref); got != c.want {
				t.Fatalf("scope %+v, want %+v", got, c.want)
			}
		})
	}
}
