package gcs

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// fake-gcs-server behind a proxy that answers 429 or 503: the library
// retries, the Head succeeds, and the registry that opened the store counts
// each retry.
func TestThrottledRetriesCounted(t *testing.T) {
	s, _ := newStore(t)
	if err := s.Write(t.Context(), "k", strings.NewReader("abc"), 3, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		status int
		n      int64
	}{{http.StatusTooManyRequests, 2}, {http.StatusServiceUnavailable, 3}, {http.StatusServiceUnavailable, 0}} {
		th := objstoretest.NewThrottle(t, "http://"+useEmulator(t), tc.status, http.Header{"Content-Type": {"application/json"}},
			fmt.Sprintf(`{"error":{"code":%d,"message":"slow down"}}`, tc.status))
		u, _ := url.Parse(th.URL)
		reg := objstore.Default.Clone()
		st, err := reg.Open(t.Context(), objstore.Location{Scheme: objstore.SchemeGCS, Bucket: s.name}, objstore.Options{GCSEmulatorHost: u.Host})
		if err != nil {
			t.Fatal(err)
		}
		th.CheckCounted(t, reg.Retries, objstoretest.HeadOp(t, st, "k", 3), tc.n)
	}
}
