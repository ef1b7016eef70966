package s3

import (
	"net/http"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// A versitygw behind a proxy that answers SlowDown: the SDK retries, the
// Head succeeds, and the registry that opened the store counts each retry.
func TestThrottledRetriesCounted(t *testing.T) {
	srv := testServer(t)
	bucket := srv.newBucket(t)
	write(t, srv.open(t, bucket), "k", []byte("abc"))
	th := objstoretest.NewThrottle(t, srv.endpoint, http.StatusServiceUnavailable, nil,
		`<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
	reg := objstore.Default.Clone()
	st, err := reg.Open(t.Context(), objstore.Location{Scheme: objstore.SchemeS3, Bucket: bucket}, objstore.Options{Endpoint: th.URL})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int64{2, 0, 1} {
		before := reg.Retries()
		th.Refuse(n)
		if o, err := st.Head(t.Context(), "k"); err != nil || o.Size != 3 {
			t.Fatalf("Head through %d SlowDowns = %+v, %v; want the 3-byte object", n, o, err)
		}
		if got := reg.Retries() - before; got != n {
			t.Errorf("%d SlowDowns: %d retries counted, want %d", n, got, n)
		}
	}
	if th.Refused() != 3 {
		t.Errorf("the proxy refused %d requests, want 3", th.Refused())
	}
	if objstore.Default.Retries() != 0 {
		t.Errorf("the default registry counted %d retries of a store it did not open", objstore.Default.Retries())
	}
}
