package objstoretest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
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
