package objstoretest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Throttle is an HTTP proxy on 127.0.0.1 in front of a test server that
// answers the next n requests (Refuse) with a throttling response and
// forwards the rest unchanged, Host header included (so signatures made for
// the proxy's address still verify).
type Throttle struct {
	URL      string // http://127.0.0.1:port, to use as the backend's endpoint
	status   int
	header   http.Header
	body     string
	left     atomic.Int64
	refused  atomic.Int64
	requests atomic.Int64
}

// NewThrottle starts a proxy to target (http://host:port) that answers a
// refused request with status, header and body; it stops with the test.
func NewThrottle(t testing.TB, target string, status int, header http.Header, body string) *Throttle {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("throttle: target %q is not http://host:port: %v", target, err)
	}
	th := &Throttle{status: status, header: header, body: body}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		th.requests.Add(1)
		if th.left.Add(-1) >= 0 {
			th.refused.Add(1)
			io.Copy(io.Discard, r.Body)
			for k, vs := range th.header {
				w.Header()[k] = vs
			}
			w.WriteHeader(th.status)
			io.WriteString(w, th.body)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	th.URL = srv.URL
	return th
}

// Refuse makes the proxy refuse the next n requests.
func (th *Throttle) Refuse(n int64) { th.left.Store(n) }

// Refused is how many requests the proxy refused so far.
func (th *Throttle) Refused() int64 { return th.refused.Load() }

// Requests is how many requests reached the proxy so far.
func (th *Throttle) Requests() int64 { return th.requests.Load() }

// CheckCounted refuses n requests for each n of ns, runs op through the
// proxy and checks that it still succeeds and that counted (a registry's
// Retries) grew by exactly n: one retry for each refusal.
func (th *Throttle) CheckCounted(t *testing.T, counted func() int64, op func() error, ns ...int64) {
	t.Helper()
	for _, n := range ns {
		before, refused := counted(), th.Refused()
		th.Refuse(n)
		if err := op(); err != nil {
			t.Fatalf("%d requests refused with %d: %v", n, th.status, err)
		}
		if got := counted() - before; got != n || th.Refused()-refused != n {
			t.Errorf("%d requests to refuse with %d: %d refused, %d retries counted; want %d", n, th.status, th.Refused()-refused, got, n)
		}
	}
}

// HeadOp is an op for CheckCounted: Head of key, which must be size bytes.
func HeadOp(t *testing.T, st objstore.Store, key string, size int64) func() error {
	return func() error {
		o, err := st.Head(t.Context(), key)
		if err == nil && o.Size != size {
			t.Errorf("Head(%q).Size = %d, want %d", key, o.Size, size)
		}
		return err
	}
}
