package azure

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

func respErr(status int, code, message string) error {
	body := ""
	if message != "" {
		body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>` + code + `</Code><Message>` + message + "\nRequestId:x\nTime:y</Message></Error>"
	}
	req, _ := http.NewRequest(http.MethodGet, "https://acct.blob.core.windows.net/c/k", nil)
	resp := &http.Response{StatusCode: status, Status: http.StatusText(status), Header: http.Header{}, Request: req,
		Body: io.NopCloser(strings.NewReader(body))}
	return runtime.NewResponseErrorWithErrorCode(resp, code)
}

func TestErrorMapping(t *testing.T) {
	s := &Store{account: "acct", container: "cont", cred: "shared key of account acct from AZURE_STORAGE_KEY", credKind: credSharedKey}
	timeout := &net.OpError{Op: "read", Err: &timeoutErr{}}
	for _, tc := range []struct {
		name      string
		err       error
		blob      bool // a blob operation (else container)
		want      error
		retryable bool
		contains  []string
	}{
		{"ContainerNotFound", respErr(404, "ContainerNotFound", "The specified container does not exist."), true, objstore.ErrBucketNotFound, false, []string{`container "cont"`, `account "acct"`, "AZURE_STORAGE_KEY", "does not exist"}},
		{"ContainerBeingDeleted", respErr(409, "ContainerBeingDeleted", ""), false, objstore.ErrBucketNotFound, false, nil},
		{"BlobNotFound", respErr(404, "BlobNotFound", ""), true, objstore.ErrNotFound, false, []string{`blob "dir/k"`, "azure://acct/cont/dir/k"}},
		{"HEAD 404 without code, blob", respErr(404, "", ""), true, objstore.ErrNotFound, false, nil},
		{"HEAD 404 without code, container", respErr(404, "", ""), false, objstore.ErrBucketNotFound, false, nil},
		{"AuthenticationFailed", respErr(403, "AuthenticationFailed", "Server failed to authenticate the request."), true, objstore.ErrAccessDenied, false, []string{"AZURE_STORAGE_KEY", "access denied"}},
		{"AuthorizationFailure", respErr(403, "AuthorizationFailure", ""), false, objstore.ErrAccessDenied, false, nil},
		{"AuthorizationPermissionMismatch", respErr(403, "AuthorizationPermissionMismatch", ""), true, objstore.ErrAccessDenied, false, nil},
		{"plain 403", respErr(403, "", ""), true, objstore.ErrAccessDenied, false, nil},
		{"Md5Mismatch", respErr(400, "Md5Mismatch", "The MD5 value specified in the request did not match."), true, objstore.ErrChecksumMismatch, false, []string{"checksum mismatch"}},
		{"InvalidMd5", respErr(400, "InvalidMd5", ""), true, objstore.ErrChecksumMismatch, false, nil},
		{"ConditionNotMet", respErr(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met."), true, objstore.ErrChanged, false, []string{"rewritten"}},
		{"HEAD 412 without code", respErr(412, "", ""), true, objstore.ErrChanged, false, nil},
		{"ServerBusy", respErr(503, "ServerBusy", ""), true, nil, true, []string{"temporary"}},
		{"InternalError", respErr(500, "InternalError", ""), true, nil, true, nil},
		{"OperationTimedOut", respErr(500, "OperationTimedOut", ""), true, nil, true, nil},
		{"plain 503", respErr(503, "", ""), true, nil, true, nil},
		{"plain 500", respErr(500, "", ""), true, nil, true, nil},
		{"429", respErr(429, "", ""), true, nil, true, nil},
		{"InvalidBlobOrBlock", respErr(400, "InvalidBlobOrBlock", "The specified blob or block content is invalid."), true, nil, false, []string{"InvalidBlobOrBlock", "block content is invalid"}},
		{"connection reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, true, nil, true, nil},
		{"unexpected EOF", io.ErrUnexpectedEOF, true, nil, true, nil},
		{"timeout", timeout, true, nil, true, nil},
		{"no such host", &net.DNSError{Err: "no such host", Name: "acct.blob.core.windows.net", IsNotFound: true}, false, nil, false, []string{"no such host"}},
		{"body not rewindable", errNotRewindable, true, nil, true, nil},
		{"DefaultAzureCredential", errors.New("DefaultAzureCredential: failed to acquire a token.\nAttempted credentials: ..."), false, objstore.ErrAccessDenied, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.blob {
				err = s.blobErr("head", "dir/k", tc.err)
			} else {
				err = s.containerErr("check container", tc.err)
			}
			for _, sentinel := range []error{objstore.ErrNotFound, objstore.ErrBucketNotFound, objstore.ErrAccessDenied, objstore.ErrChecksumMismatch} {
				if got, want := errors.Is(err, sentinel), sentinel == tc.want; got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, sentinel, got, want)
				}
			}
			if got := objstore.IsRetryable(err); got != tc.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, got, tc.retryable)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap the cause %v", err, tc.err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("message spans lines: %q", err.Error())
			}
			for _, c := range tc.contains {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("message %q lacks %q", err.Error(), c)
				}
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestBlockIDs(t *testing.T) {
	id := objstore.NewUploadID()
	if !objstore.IsUploadID(id) {
		t.Fatalf("objstore.NewUploadID() = %q is not valid", id)
	}
	want := len(blockID(id, 1))
	for _, n := range []int{0, 1, 9, 10, 999, 12345, MaxBlocks} {
		b := blockID(id, n)
		if len(b) != want {
			t.Errorf("blockID(%d) has length %d, want %d (all ids of a blob must be the same length)", n, len(b), want)
		}
		raw, _ := base64.StdEncoding.DecodeString(b)
		if len(raw) > 64 {
			t.Errorf("blockID(%d) is %d bytes before encoding, Azure allows 64", n, len(raw))
		}
		gotID, gotN, ok := parseBlockID(b)
		if !ok || gotID != id || gotN != n {
			t.Errorf("parseBlockID(blockID(%s, %d)) = %q, %d, %v", id, n, gotID, gotN, ok)
		}
	}
	for _, bad := range []string{"", "YWJj", "not base64!", base64.StdEncoding.EncodeToString([]byte(strings.Repeat("g", 32) + "-000001")),
		base64.StdEncoding.EncodeToString([]byte(id + "+000001")), base64.StdEncoding.EncodeToString([]byte(id + "-00000x"))} {
		if _, _, ok := parseBlockID(bad); ok {
			t.Errorf("parseBlockID(%q) accepted a foreign id", bad)
		}
	}
}

func TestParseConnString(t *testing.T) {
	for _, tc := range []struct {
		in                     string
		account, key, endpoint string
		sas                    string
		bad                    bool
	}{
		{in: "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:1234/devstoreaccount1;",
			account: "devstoreaccount1", key: "a2V5", endpoint: "http://127.0.0.1:1234/devstoreaccount1"},
		{in: "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=k/+==;EndpointSuffix=core.windows.net",
			account: "acct", key: "k/+==", endpoint: "https://acct.blob.core.windows.net"},
		{in: "accountname=acct;accountkey=a2V5", account: "acct", key: "a2V5", endpoint: "https://acct.blob.core.windows.net"},
		{in: "UseDevelopmentStorage=true", account: devAccount, key: devKey, endpoint: devEndpoint},
		{in: "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2020&sig=abc%3D",
			account: "acct", endpoint: "https://acct.blob.core.windows.net/", sas: "sv=2020&sig=abc%3D"},
		{in: "AccountKey=a2V5", bad: true},
		{in: "garbage", bad: true},
		{in: "AccountName=a;BlobEndpoint=not a url", bad: true},
	} {
		p, err := parseConnString(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("parseConnString(%q) = %+v, want an error", tc.in, p)
			}
			continue
		}
		if err != nil || p.account != tc.account || p.key != tc.key || p.endpoint != tc.endpoint || p.sas != tc.sas {
			t.Errorf("parseConnString(%q) = %+v, %v", tc.in, p, err)
		}
	}
}

// TestCredentialChoice checks which source Open picks (no request is made).
func TestCredentialChoice(t *testing.T) {
	loc := objstore.Location{Scheme: objstore.SchemeAzure, Account: "acct", Bucket: "cont"}
	for _, tc := range []struct {
		name               string
		connStr, key, acct string
		endpoint           string
		want               []string
	}{
		{"connection string of the account", "AccountName=acct;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/acct", "a2V5", "", "",
			[]string{EnvConnectionString, "http://127.0.0.1:9/acct"}},
		{"connection string of another account", "AccountName=other;AccountKey=a2V5", "a2V5", "", "",
			[]string{EnvAccountKey, "https://acct.blob.core.windows.net/"}},
		{"key with endpoint", "", "a2V5", "", "http://127.0.0.1:9/acct", []string{EnvAccountKey, "http://127.0.0.1:9/acct"}},
		{"key of another account", "", "a2V5", "other", "", []string{"DefaultAzureCredential"}},
		{"nothing", "", "", "", "", []string{"DefaultAzureCredential", "https://acct.blob.core.windows.net/"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvConnectionString, tc.connStr)
			t.Setenv(EnvAccountKey, tc.key)
			t.Setenv(EnvAccount, tc.acct)
			s, err := open(loc, withEnv(objstore.Options{Endpoint: tc.endpoint}))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(s.CredentialSource(), w) {
					t.Errorf("credential %q lacks %q", s.CredentialSource(), w)
				}
			}
			if s.URL() != "azure://acct/cont" {
				t.Errorf("URL() = %q", s.URL())
			}
			if f := s.Features(); f.MaxParts != 50000 || f.MinPartSize != 0 {
				t.Errorf("Features() = %+v", f)
			}
		})
	}
	t.Run("bad key", func(t *testing.T) {
		t.Setenv(EnvConnectionString, "")
		t.Setenv(EnvAccountKey, "not base64!")
		t.Setenv(EnvAccount, "")
		if _, err := open(loc, withEnv(objstore.Options{})); err == nil || !strings.Contains(err.Error(), EnvAccountKey) {
			t.Errorf("open with a malformed key: %v, want an error naming %s", err, EnvAccountKey)
		}
	})
}

func TestOneShotBody(t *testing.T) {
	o := newBody(io.MultiReader(strings.NewReader("hello world")), 5)
	if _, ok := o.(*oneShot); !ok {
		t.Fatalf("newBody(plain reader) = %T, want *oneShot", o)
	}
	// What the SDK does: learn the size, rewind, read.
	if n, _ := o.Seek(0, io.SeekCurrent); n != 0 {
		t.Fatal(n)
	}
	if n, _ := o.Seek(0, io.SeekEnd); n != 5 {
		t.Fatalf("size %d", n)
	}
	if _, err := o.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(o)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v", b, err)
	}
	if _, err := o.Seek(0, io.SeekStart); !errors.Is(err, errNotRewindable) {
		t.Errorf("rewind after reading: %v, want errNotRewindable", err)
	}
	short := newBody(io.MultiReader(strings.NewReader("abc")), 5)
	var se *shortSourceError
	if _, err := io.ReadAll(short); !errors.As(err, &se) {
		t.Errorf("short source: %v, want a shortSourceError", err)
	}
	if _, err := io.ReadAll(newBody(strings.NewReader("abc"), 5)); !errors.As(err, &se) {
		t.Errorf("short seekable source: %v, want a shortSourceError", err)
	}
	// A seekable source is used from its current position, rewindably.
	r := bytes.NewReader([]byte("XXhello!"))
	r.Seek(2, io.SeekStart)
	sb := newBody(r, 5)
	for range 2 {
		sb.Seek(0, io.SeekStart)
		if b, _ := io.ReadAll(sb); string(b) != "hello" {
			t.Errorf("section read %q", b)
		}
	}
	// A ReadSeeker without ReadAt.
	sr := strings.NewReader("XXhello!")
	sr.Seek(2, io.SeekStart)
	ss := newBody(struct{ io.ReadSeeker }{sr}, 5)
	if sec, ok := ss.(nopCloser).ReadSeeker.(*section); !ok || sec.ra != nil {
		t.Fatalf("newBody(ReadSeeker) = %T", ss)
	}
	for range 2 {
		ss.Seek(0, io.SeekStart)
		if b, _ := io.ReadAll(ss); string(b) != "hello" {
			t.Errorf("seekSection read %q", b)
		}
	}
}

// TestRetries checks the SDK retry policy runs (5 tries) and what remains is
// mapped: 503 ServerBusy → Retryable; a refused connection → not retryable,
// naming the endpoint. Only 127.0.0.1 is contacted.
func TestRetries(t *testing.T) {
	saved := retryOptions
	retryOptions.RetryDelay, retryOptions.MaxRetryDelay = time.Millisecond, 5*time.Millisecond
	t.Cleanup(func() { retryOptions = saved })
	var tries atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tries.Add(1)
		w.Header().Set("x-ms-error-code", "ServerBusy")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	loc := objstore.Location{Scheme: objstore.SchemeAzure, Account: "acct", Bucket: "cont"}
	t.Setenv(EnvAccountKey, "")
	t.Setenv(EnvAccount, "")
	t.Setenv(EnvConnectionString, "AccountName=acct;AccountKey="+devKey+";BlobEndpoint="+srv.URL+"/acct")
	s, err := open(loc, withEnv(objstore.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Head(t.Context(), "k")
	if !objstore.IsRetryable(err) || errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head against a busy server: %v, want a retryable error", err)
	}
	if n := tries.Load(); n != 5 {
		t.Errorf("%d tries, want 5", n)
	}

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/acct"
	l.Close()
	t.Setenv(EnvConnectionString, "AccountName=acct;AccountKey="+devKey+";BlobEndpoint="+closed)
	if s, err = open(loc, withEnv(objstore.Options{})); err != nil {
		t.Fatal(err)
	}
	err = s.BucketExists(t.Context())
	if err == nil || objstore.IsRetryable(err) || !strings.Contains(err.Error(), closed) {
		t.Errorf("BucketExists against a closed port: %v, want a non-retryable error naming %s", err, closed)
	}
}
