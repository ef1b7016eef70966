package s3

import (
	"net/http"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// A versitygw behind a proxy that answers SlowDown: the SDK retries, the
// Head succeeds, and the registry that opened the store counts each retry
// (the default registry, which did not open it, counts none).
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
	defaultBefore := objstore.Retries()
	th.CheckCounted(t, reg.Retries, objstoretest.HeadOp(t, st, "k", 3), 2, 0, 1)
	if d := objstore.Retries() - defaultBefore; d != 0 {
		t.Errorf("the default registry counted %d retries of a store it did not open", d)
	}
}
