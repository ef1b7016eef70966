package dataplane

import (
	"crypto/md5"
	"encoding/hex"
	"io"
	"log/slog"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

func textLog(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestVerificationCheck: each object is checked by the strongest means its
// store offers, and a content mismatch of the same size is caught.
func TestVerificationCheck(t *testing.T) {
	sum := md5.Sum([]byte("hello"))
	other := md5.Sum([]byte("HELLO"))
	parts := []objstore.Part{{MD5: sum[:]}, {MD5: other[:]}}
	etag := multipartETag(parts)
	tests := []struct {
		name string
		x    expected
		got  *objstore.Object
		want string // "md5", "etag", "size" or "bad"
	}{
		{"md5 matches", expected{Key: "k", Size: 5, MD5: hex.EncodeToString(sum[:])}, &objstore.Object{Key: "k", Size: 5, MD5: sum[:]}, "md5"},
		{"md5 differs", expected{Key: "k", Size: 5, MD5: hex.EncodeToString(sum[:])}, &objstore.Object{Key: "k", Size: 5, MD5: other[:]}, "bad"},
		{"store without md5", expected{Key: "k", Size: 5, MD5: hex.EncodeToString(sum[:])}, &objstore.Object{Key: "k", Size: 5}, "size"},
		{"multipart etag matches", expected{Key: "k", Size: 10, ETag: etag}, &objstore.Object{Key: "k", Size: 10, ETag: `"` + etag + `"`}, "etag"},
		{"multipart etag differs", expected{Key: "k", Size: 10, ETag: etag}, &objstore.Object{Key: "k", Size: 10, ETag: hex.EncodeToString(other[:]) + "-2"}, "bad"},
		{"other etag shape", expected{Key: "k", Size: 10, ETag: etag}, &objstore.Object{Key: "k", Size: 10, ETag: "0x8DC0FFEE"}, "size"},
		{"size differs", expected{Key: "k", Size: 10}, &objstore.Object{Key: "k", Size: 9}, "bad"},
		{"missing", expected{Key: "k", Size: 10}, nil, "bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v verification
			v.check(tt.x, tt.got)
			got := map[bool]string{true: "bad"}[v.wrong > 0]
			switch {
			case v.byMD5 == 1:
				got = "md5"
			case v.byETag == 1:
				got = "etag"
			case v.bySize == 1:
				got = "size"
			}
			if got != tt.want {
				t.Errorf("checked as %q, want %q (%+v)", got, tt.want, v)
			}
		})
	}
}

// TestSupersededAttemptIgnored: a completion from an attempt that was
// replaced does not count; the current attempt's does.
func TestSupersededAttemptIgnored(t *testing.T) {
	r := &run{table: newChunkTable(maxAttempts, maxResends), finished: make(chan struct{})}
	o := &objState{srcKey: "k", destsLeft: 1}
	od := &objDest{group: "g", left: 2}
	o.dests = []*objDest{od}
	id := chunk.NewID()
	r.table.add(&chunkState{obj: o, req: chunk.Request{ID: id, Length: 7, Attempt: 2}, pending: map[string]bool{"g": true}})
	r.handle(control.Event{Chunk: id, Attempt: 1, State: control.StateComplete, Group: "g"})
	if r.prog.BytesDone != 0 || od.left != 2 {
		t.Fatalf("a superseded attempt counted: bytes %d, left %d", r.prog.BytesDone, od.left)
	}
	r.handle(control.Event{Chunk: id, Attempt: 1, State: control.StateSent, Group: "g", Hop: "h"})
	if r.table.chunks[id].hops != nil {
		t.Error("a superseded attempt's next hop was recorded")
	}
	r.handle(control.Event{Chunk: id, Attempt: 2, State: control.StateComplete, Group: "g"})
	if r.prog.BytesDone != 7 || od.left != 1 || r.table.chunks[id] != nil {
		t.Errorf("the current attempt did not count: bytes %d, left %d", r.prog.BytesDone, od.left)
	}
}

// TestStoreRefCarriesSettings: what gateways open a store with comes from
// the client's config, so a setting reaches every process that writes.
func TestStoreRefCarriesSettings(t *testing.T) {
	tests := []struct {
		url          string
		fsync        bool
		wantNoFsync  bool
		wantEndpoint bool
	}{
		{"/tmp/x", true, false, false},
		{"/tmp/x", false, true, false},
		{"s3://bucket/k", false, false, true},
	}
	for _, tt := range tests {
		cfg := testConfig()
		cfg.LocalFsync = tt.fsync
		cfg.S3Endpoint = "http://127.0.0.1:1"
		ref := storeRef(loc(t, tt.url), cfg)
		if ref.NoFsync != tt.wantNoFsync {
			t.Errorf("%s local_fsync=%t: NoFsync = %t", tt.url, tt.fsync, ref.NoFsync)
		}
		if (ref.Endpoint != "") != tt.wantEndpoint {
			t.Errorf("%s: endpoint %q", tt.url, ref.Endpoint)
		}
	}
}
