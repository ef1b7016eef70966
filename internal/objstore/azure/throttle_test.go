package azure

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

// Azurite behind a proxy that answers 503 ServerBusy: the SDK retries, the
// Head succeeds, and the registry that opened the store counts each retry.
func TestThrottledRetriesCounted(t *testing.T) {
	cs, p := serverEnv(t)
	name := newContainer(t, cs)
	loc := objstore.Location{Scheme: objstore.SchemeAzure, Account: p.account, Bucket: name}
	mustWrite(t, openLoc(t, loc, objstore.Options{}), "k", []byte("abc"))
	u, err := url.Parse(p.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	server := u.Scheme + "://" + u.Host
	th := objstoretest.NewThrottle(t, server, http.StatusServiceUnavailable,
		http.Header{"X-Ms-Error-Code": {"ServerBusy"}, "Content-Type": {"application/xml"}},
		`<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is busy.</Message></Error>`)
	reg := objstore.Default.Clone()
	opts := objstore.Options{Azure: objstore.AzureCredentials{ConnectionString: strings.Replace(cs, server, th.URL, 1)}}
	st, err := reg.Open(t.Context(), loc, opts)
	if err != nil {
		t.Fatal(err)
	}
	th.CheckCounted(t, reg.Retries, objstoretest.HeadOp(t, st, "k", 3), 2, 0, 1)
}
