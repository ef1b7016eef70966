package s3

import (
	"bytes"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Every retry the SDK makes is counted in Options.Retries, whatever made it
// retry (SlowDown, 5xx, a reset connection), and a request that succeeds
// first time or fails for good without retrying counts nothing.
func TestRetriesCounted(t *testing.T) {
	isolateEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var (
		calls atomic.Int64
		fail  atomic.Int64 // answer this many requests badly
		mode  atomic.Value // "slowdown", "500", "reset", "denied"
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if n <= fail.Load() {
			switch mode.Load() {
			case "reset":
				if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
					conn.(*net.TCPConn).SetLinger(0)
					conn.Close()
				}
				return
			case "500":
				w.WriteHeader(500)
				io.WriteString(w, `<Error><Code>InternalError</Code><Message>boom</Message></Error>`)
				return
			case "denied":
				w.WriteHeader(403)
				io.WriteString(w, `<Error><Code>AccessDenied</Code><Message>no</Message></Error>`)
				return
			}
			w.WriteHeader(503)
			io.WriteString(w, `<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			return
		}
		w.Header().Set("ETag", `"`+hex.EncodeToString(md5sum([]byte("abc")))+`"`)
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		if r.Method != http.MethodPut {
			w.Header().Set("Content-Length", "3")
		}
		if r.Method == http.MethodGet {
			io.WriteString(w, "abc")
		}
	}))
	defer srv.Close()
	var retries objstore.RetryCounter
	s, err := open(t.Context(), objstore.Location{Scheme: "s3", Bucket: "bkt"}, objstore.Options{Endpoint: srv.URL, Retries: &retries}, func(o *awss3.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, time.Millisecond)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode      string
		fail      int64
		want      int64
		wantErr   bool
		operation func() error
	}{
		{"slowdown", 2, 2, false, func() error { _, err := s.Head(t.Context(), "k"); return err }},
		{"500", 3, 3, false, func() error {
			return s.Write(t.Context(), "k", bytes.NewReader([]byte("abc")), 3, md5sum([]byte("abc")))
		}},
		{"reset", 1, 1, false, func() error { return s.Write(t.Context(), "k", bytes.NewReader([]byte("abc")), 3, nil) }},
		{"slowdown", 0, 0, false, func() error { _, err := s.Head(t.Context(), "k"); return err }},
		// Gives up after maxAttempts: maxAttempts-1 retries.
		{"slowdown", 100, maxAttempts - 1, true, func() error { _, err := s.Head(t.Context(), "k"); return err }},
		{"denied", 100, 0, true, func() error { _, err := s.Head(t.Context(), "k"); return err }},
	} {
		calls.Store(0)
		fail.Store(tc.fail)
		mode.Store(tc.mode)
		before := retries.Load()
		if err := tc.operation(); (err != nil) != tc.wantErr {
			t.Errorf("%s ×%d: error %v, want error: %v", tc.mode, tc.fail, err, tc.wantErr)
		}
		if got := retries.Load() - before; got != tc.want {
			t.Errorf("%s ×%d: %d retries counted, want %d", tc.mode, tc.fail, got, tc.want)
		}
	}
}
