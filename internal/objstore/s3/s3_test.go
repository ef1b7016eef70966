package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/objstoretest"
)

type server struct {
	endpoint, access, secret string
}

// testServer returns the versitygw of scripts/test-servers.sh and points the
// SDK's default credential chain at it, never at real AWS.
func testServer(t *testing.T) server {
	t.Helper()
	srv := server{
		endpoint: objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_ENDPOINT"),
		access:   objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_ACCESS_KEY"),
		secret:   objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3_SECRET_KEY"),
	}
	isolateEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", srv.access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", srv.secret)
	return srv
}

// isolateEnv keeps the test away from the machine's AWS setup and IMDS.
func isolateEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_REGION":                  "us-east-1",
		"AWS_DEFAULT_REGION":          "",
		"AWS_PROFILE":                 "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_ENDPOINT_URL":            "",
		"AWS_ENDPOINT_URL_S3":         "",
		"AWS_CONFIG_FILE":             dir + "/config",
		"AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials",
		"AWS_MAX_ATTEMPTS":            "",
	} {
		t.Setenv(k, v)
	}
}

// adminClient talks to the server directly through the SDK (bucket setup).
func (srv server) adminClient() *awss3.Client {
	return awss3.New(awss3.Options{
		Region:                     "us-east-1",
		BaseEndpoint:               aws.String(srv.endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(srv.access, srv.secret, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func randomBucket() string {
	var b [6]byte
	rand.Read(b[:])
	return "skyplane-s3test-" + hex.EncodeToString(b[:])
}

// newBucket creates a fresh bucket and removes it (with everything in it)
// when the test ends.
func (srv server) newBucket(t *testing.T) string {
	t.Helper()
	c := srv.adminClient()
	name := randomBucket()
	if _, err := c.CreateBucket(t.Context(), &awss3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("CreateBucket(%s): %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ups := awss3.NewListMultipartUploadsPaginator(c, &awss3.ListMultipartUploadsInput{Bucket: &name})
		for ups.HasMorePages() {
			p, err := ups.NextPage(ctx)
			if err != nil {
				break
			}
			for _, u := range p.Uploads {
				c.AbortMultipartUpload(ctx, &awss3.AbortMultipartUploadInput{Bucket: &name, Key: u.Key, UploadId: u.UploadId})
			}
		}
		objs := awss3.NewListObjectsV2Paginator(c, &awss3.ListObjectsV2Input{Bucket: &name})
		for objs.HasMorePages() {
			p, err := objs.NextPage(ctx)
			if err != nil {
				break
			}
			for _, o := range p.Contents {
				c.DeleteObject(ctx, &awss3.DeleteObjectInput{Bucket: &name, Key: o.Key})
			}
		}
		if _, err := c.DeleteBucket(ctx, &awss3.DeleteBucketInput{Bucket: &name}); err != nil {
			t.Logf("cleanup: DeleteBucket(%s): %v", name, err)
		}
	})
	return name
}

func (srv server) open(t *testing.T, bucket string) *Store {
	t.Helper()
	st, err := objstore.Open(t.Context(), objstore.Location{Scheme: objstore.SchemeS3, Bucket: bucket}, objstore.Options{Endpoint: srv.endpoint})
	if err != nil {
		t.Fatalf("Open(s3://%s): %v", bucket, err)
	}
	s, ok := objstore.Unwrap(st).(*Store)
	if !ok {
		t.Fatalf("Open returned %T, want *s3.Store", st)
	}
	return s
}

func TestConformance(t *testing.T) {
	srv := testServer(t)
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		return srv.open(t, srv.newBucket(t))
	})
}

func md5sum(b []byte) []byte {
	h := md5.Sum(b)
	return h[:]
}

func write(t *testing.T, s objstore.Store, key string, data []byte) {
	t.Helper()
	if err := s.Write(t.Context(), key, bytes.NewReader(data), int64(len(data)), md5sum(data)); err != nil {
		t.Fatalf("Write(%q): %v", key, err)
	}
}

func TestOpenSettings(t *testing.T) {
	srv := testServer(t)
	s := srv.open(t, "some-bucket")
	if got := s.URL(); got != "s3://some-bucket" {
		t.Errorf("URL() = %q", got)
	}
	if f := s.Features(); f.MinPartSize != 5<<20 || f.MaxParts != 10000 {
		t.Errorf("Features() = %+v", f)
	}
	o := s.client.Options()
	if !o.UsePathStyle || aws.ToString(o.BaseEndpoint) != srv.endpoint {
		t.Errorf("client: path style %v, endpoint %q; want path style at %q", o.UsePathStyle, aws.ToString(o.BaseEndpoint), srv.endpoint)
	}
	if o.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired || o.ResponseChecksumValidation != aws.ResponseChecksumValidationWhenRequired {
		t.Errorf("flexible checksums: request %v, response %v; want WhenRequired", o.RequestChecksumCalculation, o.ResponseChecksumValidation)
	}
	if o.Region != "us-east-1" || s.region != "us-east-1" {
		t.Errorf("region %q / %q, want us-east-1", o.Region, s.region)
	}
	if got := o.Retryer.MaxAttempts(); got != maxAttempts {
		t.Errorf("retryer max attempts %d, want %d", got, maxAttempts)
	}
	if _, err := objstore.Open(t.Context(), objstore.Location{Scheme: "s3"}, objstore.Options{}); err == nil {
		t.Error("Open with an empty bucket succeeded")
	}
	if _, err := objstore.Open(t.Context(), objstore.Location{Scheme: "s3", Bucket: "b"}, objstore.Options{Endpoint: "ftp://x"}); err == nil {
		t.Error("Open with an ftp endpoint succeeded")
	}
}

// The SDK's AWS_ENDPOINT_URL_S3 selects a custom endpoint too (path style).
func TestEndpointFromEnv(t *testing.T) {
	srv := testServer(t)
	t.Setenv("AWS_ENDPOINT_URL_S3", srv.endpoint)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "eu-central-1")
	bucket := srv.newBucket(t)
	st, err := objstore.Open(t.Context(), objstore.Location{Scheme: "s3", Bucket: bucket}, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := objstore.Unwrap(st).(*Store)
	// The configured region is only a default: the server names the
	// bucket's own region (versitygw: us-east-1), and requests are signed
	// for that, or versitygw would refuse them.
	if s.endpoint != srv.endpoint || !s.client.Options().UsePathStyle || s.region != "us-east-1" {
		t.Errorf("endpoint %q path style %v region %q; want %q, true, us-east-1 (discovered)", s.endpoint, s.client.Options().UsePathStyle, s.region, srv.endpoint)
	}
	if err := st.BucketExists(t.Context()); err != nil {
		t.Errorf("BucketExists through AWS_ENDPOINT_URL_S3: %v", err)
	}
}

// A server in another region (the second test server, us-west-2) works
// whatever region the environment names: Open asks the server.
func TestServerInAnotherRegion(t *testing.T) {
	srv := testServer(t)
	endpoint := objstoretest.ServerEnv(t, os.Getenv, "SKYPLANE_TEST_S3B_ENDPOINT")
	t.Setenv("AWS_REGION", "us-east-1")
	west := awss3.New(awss3.Options{Region: "us-west-2", BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv.access, srv.secret, "")})
	bucket := randomBucket()
	if _, err := west.CreateBucket(t.Context(), &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	st, err := objstore.Open(t.Context(), objstore.Location{Scheme: "s3", Bucket: bucket}, objstore.Options{Endpoint: endpoint})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := st.(objstore.Locator).Region(t.Context()); err != nil || r != "aws:us-west-2" {
		t.Errorf("Region() = %q, %v; want aws:us-west-2", r, err)
	}
	data := []byte("written in another region")
	sum := md5.Sum(data)
	if err := st.Write(t.Context(), "k", bytes.NewReader(data), int64(len(data)), sum[:]); err != nil {
		t.Fatalf("Write signed for us-east-1 defaults: %v", err)
	}
	if got := objstoretest.ReadAll(t, st, "k"); !bytes.Equal(got, data) {
		t.Errorf("read back %q", got)
	}
}

func TestMissingBucket(t *testing.T) {
	srv := testServer(t)
	name := randomBucket()
	s := srv.open(t, name)
	err := s.BucketExists(t.Context())
	if !errors.Is(err, objstore.ErrBucketNotFound) || !strings.Contains(err.Error(), name) {
		t.Errorf("BucketExists on a missing bucket: %v; want ErrBucketNotFound naming %s", err, name)
	}
	n := 0
	for _, err := range s.List(t.Context(), "") {
		n++
		if !errors.Is(err, objstore.ErrBucketNotFound) || !strings.Contains(err.Error(), name) {
			t.Errorf("List on a missing bucket: %v; want ErrBucketNotFound naming %s", err, name)
		}
	}
	if n != 1 {
		t.Errorf("List on a missing bucket yielded %d times, want 1 (the error)", n)
	}
	if _, err := s.ListMultipartUploads(t.Context(), ""); !errors.Is(err, objstore.ErrBucketNotFound) {
		t.Errorf("ListMultipartUploads on a missing bucket: %v; want ErrBucketNotFound", err)
	}
	if err := s.Write(t.Context(), "k", bytes.NewReader([]byte("x")), 1, nil); !errors.Is(err, objstore.ErrBucketNotFound) {
		t.Errorf("Write to a missing bucket: %v; want ErrBucketNotFound", err)
	}
	if objstore.IsRetryable(err) {
		t.Errorf("missing bucket is retryable: %v", err)
	}
}

func TestWrongSecret(t *testing.T) {
	srv := testServer(t)
	bucket := srv.newBucket(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
	s := srv.open(t, bucket)
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, objstore.ErrAccessDenied) {
			t.Errorf("%s with a wrong secret: %v; want ErrAccessDenied", what, err)
			return
		}
		if msg := err.Error(); !strings.Contains(msg, "EnvConfigCredentials") || !strings.Contains(msg, bucket) {
			t.Errorf("%s: message %q does not name the credential source (EnvConfigCredentials) and bucket", what, msg)
		}
		if objstore.IsRetryable(err) {
			t.Errorf("%s: access denied is retryable", what)
		}
	}
	check("BucketExists", s.BucketExists(t.Context()))
	for _, err := range s.List(t.Context(), "") {
		check("List", err)
	}
	_, err := s.Head(t.Context(), "k")
	check("Head", err)
	check("Write", s.Write(t.Context(), "k", bytes.NewReader([]byte("x")), 1, nil))
	t.Logf("example: %v", s.BucketExists(t.Context()))
}

func TestMissingKey(t *testing.T) {
	srv := testServer(t)
	s := srv.open(t, srv.newBucket(t))
	if _, err := s.Head(t.Context(), "no/such/key"); !errors.Is(err, objstore.ErrNotFound) || !strings.Contains(err.Error(), "no/such/key") {
		t.Errorf("Head missing key: %v; want ErrNotFound naming the key", err)
	}
	if _, err := s.Read(t.Context(), "no/such/key", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Read missing key: %v; want ErrNotFound", err)
	}
	if _, err := s.Read(t.Context(), "no/such/key", 10, 5); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("ranged Read of a missing key: %v; want ErrNotFound", err)
	}
}

func TestReadPastEnd(t *testing.T) {
	srv := testServer(t)
	s := srv.open(t, srv.newBucket(t))
	write(t, s, "k", []byte("0123456789"))
	for _, c := range []struct {
		off, n int64
		want   string
		err    bool
	}{
		{10, -1, "", false},
		{5, 100, "56789", false},
		{11, -1, "", true},
		{20, 5, "", true},
	} {
		rc, err := s.Read(t.Context(), "k", c.off, c.n)
		if c.err {
			if err == nil {
				rc.Close()
				t.Errorf("Read(k, %d, %d) succeeded, want an error", c.off, c.n)
			}
			continue
		}
		if err != nil {
			t.Errorf("Read(k, %d, %d): %v", c.off, c.n, err)
			continue
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != c.want {
			t.Errorf("Read(k, %d, %d) = %q, %v; want %q", c.off, c.n, b, err, c.want)
		}
	}
}

// Three and more pages, with an early stop in the middle of a page.
func TestListPages(t *testing.T) {
	srv := testServer(t)
	s := srv.open(t, srv.newBucket(t))
	s.pageSize = 4
	var want []string
	for i := range 14 {
		k := fmt.Sprintf("p/%02d", i)
		want = append(want, k)
		write(t, s, k, []byte(k))
	}
	write(t, s, "p/folder/", nil)
	want = append(want, "p/folder/")
	var got []string
	for o, err := range s.List(t.Context(), "p/") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, o.Key)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("List(p/) with 4-key pages = %q, want %q", got, want)
	}
	n := 0
	for _, err := range s.List(t.Context(), "p/") {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 6 {
			break
		}
	}
	if n != 6 {
		t.Errorf("early stop after 6: got %d", n)
	}
}

func TestMD5FromETag(t *testing.T) {
	srv := testServer(t)
	s := srv.open(t, srv.newBucket(t))
	data := []byte("plain object")
	write(t, s, "plain", data)
	o, err := s.Head(t.Context(), "plain")
	if err != nil || !bytes.Equal(o.MD5, md5sum(data)) {
		t.Errorf("Head(plain) = %+v, %v; want MD5 %x", o, err, md5sum(data))
	}
	// A multipart object's ETag ("<hex>-N") is not an MD5.
	id, err := s.InitiateMultipart(t.Context(), "multi")
	if err != nil {
		t.Fatal(err)
	}
	p := objstore.Part{Number: 1, Size: int64(len(data)), MD5: md5sum(data)}
	if p.ETag, err = s.UploadPart(t.Context(), "multi", id, p, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.CompleteMultipart(t.Context(), "multi", id, []objstore.Part{p}); err != nil {
		t.Fatal(err)
	}
	o, err = s.Head(t.Context(), "multi")
	if err != nil || o.MD5 != nil || o.Size != int64(len(data)) {
		t.Errorf("Head(multi) = %+v, %v; want size %d and no MD5", o, err, len(data))
	}
	for o, err := range s.List(t.Context(), "multi") {
		if err != nil || o.MD5 != nil {
			t.Errorf("List(multi) = %+v, %v; want no MD5", o, err)
		}
	}
	for etag, want := range map[string]bool{
		`"` + hex.EncodeToString(md5sum(data)) + `"`: true,
		hex.EncodeToString(md5sum(data)):             true,
		`"0123456789abcdef0123456789abcdef-2"`:       false,
		`"zz23456789abcdef0123456789abcdef"`:         false,
		``:                                           false,
	} {
		if got := etagMD5(aws.String(etag)) != nil; got != want {
			t.Errorf("etagMD5(%s) != nil is %v, want %v", etag, got, want)
		}
	}
}

func TestSmallPartThenAbort(t *testing.T) {
	srv := testServer(t)
	s := srv.open(t, srv.newBucket(t))
	key := "small/obj"
	id, err := s.InitiateMultipart(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	var parts []objstore.Part
	for i, d := range [][]byte{bytes.Repeat([]byte("a"), 1024), bytes.Repeat([]byte("b"), 1024)} {
		p := objstore.Part{Number: i + 1, Offset: int64(i * 1024), Size: 1024, MD5: md5sum(d)}
		if p.ETag, err = s.UploadPart(t.Context(), key, id, p, bytes.NewReader(d)); err != nil {
			t.Fatalf("UploadPart(%d): %v", p.Number, err)
		}
		parts = append(parts, p)
	}
	err = s.CompleteMultipart(t.Context(), key, id, parts)
	if err == nil {
		t.Fatal("CompleteMultipart with a 1 KiB first part succeeded")
	}
	if !strings.Contains(err.Error(), "EntityTooSmall") || !strings.Contains(err.Error(), "5 MiB") {
		t.Errorf("CompleteMultipart error %q: want EntityTooSmall and the 5 MiB hint", err)
	}
	if objstore.IsRetryable(err) {
		t.Errorf("EntityTooSmall is retryable: %v", err)
	}
	if err := s.AbortMultipart(t.Context(), key, id); err != nil {
		t.Fatalf("AbortMultipart: %v", err)
	}
	if err := s.AbortMultipart(t.Context(), key, id); err != nil {
		t.Errorf("second AbortMultipart: %v, want nil", err)
	}
	if ups, err := s.ListMultipartUploads(t.Context(), "small/"); err != nil || len(ups) != 0 {
		t.Errorf("ListMultipartUploads after abort = %+v, %v; want none", ups, err)
	}
	if _, err := s.Head(t.Context(), key); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head after abort: %v, want ErrNotFound", err)
	}
	p := parts[0]
	if _, err := s.UploadPart(t.Context(), key, id, p, bytes.NewReader(bytes.Repeat([]byte("a"), 1024))); !errors.Is(err, objstore.ErrUploadNotFound) {
		t.Errorf("UploadPart to an aborted upload: %v, want ErrUploadNotFound", err)
	}
}

func TestListMultipartUploadsPaged(t *testing.T) {
	srv := testServer(t)
	s := srv.open(t, srv.newBucket(t))
	want := map[string]string{}
	for i := range 5 {
		k := fmt.Sprintf("ups/k%d", i)
		id, err := s.InitiateMultipart(t.Context(), k)
		if err != nil {
			t.Fatal(err)
		}
		want[id] = k
	}
	ups, err := s.ListMultipartUploads(t.Context(), "ups/")
	if err != nil {
		t.Fatal(err)
	}
	if len(ups) != len(want) {
		t.Fatalf("ListMultipartUploads(ups/) = %+v, want %d uploads", ups, len(want))
	}
	for _, u := range ups {
		if want[u.UploadID] != u.Key {
			t.Errorf("unexpected upload %+v", u)
		}
	}
}

// Non-seekable readers still upload (read into memory over plain HTTP).
func TestNonSeekableBody(t *testing.T) {
	srv := testServer(t)
	s := srv.open(t, srv.newBucket(t))
	data := bytes.Repeat([]byte("xyz"), 1000)
	r := io.MultiReader(bytes.NewReader(data)) // hides Seek
	if err := s.Write(t.Context(), "ns", r, int64(len(data)), md5sum(data)); err != nil {
		t.Fatalf("Write from a non-seekable reader: %v", err)
	}
	// A bytes.Reader with more than size bytes left sends only size bytes.
	if err := s.Write(t.Context(), "prefix", bytes.NewReader(data), 100, md5sum(data[:100])); err != nil {
		t.Fatalf("Write of the first 100 bytes of a longer reader: %v", err)
	}
	o, err := s.Head(t.Context(), "prefix")
	if err != nil || o.Size != 100 {
		t.Errorf("Head(prefix) = %+v, %v; want 100 bytes", o, err)
	}
	if err := s.Write(t.Context(), "short", io.MultiReader(bytes.NewReader(data[:10])), 100, nil); err == nil {
		t.Error("Write of 100 bytes from a 10-byte reader succeeded")
	}
}

func TestRequesterPaysHeader(t *testing.T) {
	srv := testServer(t)
	bucket := srv.newBucket(t)
	st, err := objstore.Open(t.Context(), objstore.Location{Scheme: "s3", Bucket: bucket}, objstore.Options{Endpoint: srv.endpoint, RequesterPays: true})
	if err != nil {
		t.Fatal(err)
	}
	s := objstore.Unwrap(st).(*Store)
	var seen []string
	s.client = awss3.New(s.client.Options(), func(o *awss3.Options) {
		o.HTTPClient = recordingClient{next: o.HTTPClient, seen: &seen}
	})
	write(t, s, "rp", []byte("x"))
	if _, err := s.Head(t.Context(), "rp"); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] != "requester" || seen[1] != "requester" {
		t.Errorf("x-amz-request-payer on PutObject, HeadObject = %q, want requester twice", seen)
	}
}

type recordingClient struct {
	next awss3.HTTPClient
	seen *[]string
}

func (c recordingClient) Do(r *http.Request) (*http.Response, error) {
	*c.seen = append(*c.seen, r.Header.Get("X-Amz-Request-Payer"))
	return c.next.Do(r)
}

func TestLocator(t *testing.T) {
	srv := testServer(t)
	var st objstore.Store = srv.open(t, srv.newBucket(t))
	loc, ok := st.(objstore.Locator)
	if !ok {
		t.Fatal("the S3 store does not implement objstore.Locator")
	}
	r, err := loc.Region(t.Context())
	if err != nil {
		t.Fatalf("Region: %v", err)
	}
	if !strings.HasPrefix(r, "aws:") || len(r) == len("aws:") {
		t.Errorf("Region() = %q, want aws:<region>", r)
	}
	t.Logf("Region() = %q", r)
	if got := normalizeRegion(""); got != "us-east-1" {
		t.Errorf("normalizeRegion(\"\") = %q", got)
	}
	if got := normalizeRegion("EU"); got != "eu-west-1" {
		t.Errorf("normalizeRegion(EU) = %q", got)
	}
}

// --- error mapping (no server needed) ---

// apiErr builds what the SDK returns for an S3 error response.
func apiErr(status int, code string, header http.Header) error {
	var inner error = &smithy.GenericAPIError{Code: code, Message: "synthetic " + code}
	if code == "" {
		inner = fmt.Errorf("unmodeled status %d", status)
	}
	resp := &http.Response{StatusCode: status, Header: header}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	return &smithy.OperationError{ServiceID: "S3", OperationName: "Op", Err: &awshttp.ResponseError{
		ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: resp}, Err: inner},
		RequestID:     "req",
	}}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestErrorMapping(t *testing.T) {
	isolateEnv(t)
	s := &Store{bucket: "bkt", region: "us-east-1", endpoint: "http://127.0.0.1:1",
		creds: credentials.NewStaticCredentialsProvider("AK", "SK", "")}
	tests := []struct {
		name      string
		err       error
		notFound  error
		want      error // nil: no sentinel
		retryable bool
	}{
		{"NoSuchBucket", apiErr(404, "NoSuchBucket", nil), objstore.ErrNotFound, objstore.ErrBucketNotFound, false},
		{"HeadBucket 404", apiErr(404, "NotFound", nil), objstore.ErrBucketNotFound, objstore.ErrBucketNotFound, false},
		{"AccessDenied", apiErr(403, "AccessDenied", nil), objstore.ErrNotFound, objstore.ErrAccessDenied, false},
		{"InvalidAccessKeyId", apiErr(403, "InvalidAccessKeyId", nil), objstore.ErrNotFound, objstore.ErrAccessDenied, false},
		{"SignatureDoesNotMatch", apiErr(403, "SignatureDoesNotMatch", nil), objstore.ErrNotFound, objstore.ErrAccessDenied, false},
		{"bare 403", apiErr(403, "", nil), objstore.ErrNotFound, objstore.ErrAccessDenied, false},
		{"HEAD 403", apiErr(403, "Forbidden", nil), objstore.ErrNotFound, objstore.ErrAccessDenied, false},
		{"InvalidObjectState", apiErr(403, "InvalidObjectState", nil), objstore.ErrNotFound, nil, false},
		{"NoSuchKey", apiErr(404, "NoSuchKey", nil), objstore.ErrBucketNotFound, objstore.ErrNotFound, false},
		{"HeadObject 404", apiErr(404, "NotFound", nil), objstore.ErrNotFound, objstore.ErrNotFound, false},
		{"BadDigest", apiErr(400, "BadDigest", nil), objstore.ErrNotFound, objstore.ErrChecksumMismatch, false},
		{"InvalidDigest", apiErr(400, "InvalidDigest", nil), objstore.ErrNotFound, objstore.ErrChecksumMismatch, false},
		{"NoSuchUpload", apiErr(404, "NoSuchUpload", nil), objstore.ErrNotFound, objstore.ErrUploadNotFound, false},
		{"PreconditionFailed", apiErr(412, "PreconditionFailed", nil), objstore.ErrNotFound, objstore.ErrChanged, false},
		{"HEAD 412", apiErr(412, "", nil), objstore.ErrNotFound, objstore.ErrChanged, false},
		{"SlowDown", apiErr(503, "SlowDown", nil), objstore.ErrNotFound, nil, true},
		{"SlowDown code only", apiErr(400, "SlowDown", nil), objstore.ErrNotFound, nil, true},
		{"503", apiErr(503, "", nil), objstore.ErrNotFound, nil, true},
		{"ServiceUnavailable", apiErr(503, "ServiceUnavailable", nil), objstore.ErrNotFound, nil, true},
		{"500 InternalError", apiErr(500, "InternalError", nil), objstore.ErrNotFound, nil, true},
		{"502", apiErr(502, "", nil), objstore.ErrNotFound, nil, true},
		{"RequestTimeout", apiErr(400, "RequestTimeout", nil), objstore.ErrNotFound, nil, true},
		{"Throttling", apiErr(400, "Throttling", nil), objstore.ErrNotFound, nil, true},
		{"429", apiErr(429, "", nil), objstore.ErrNotFound, nil, true},
		{"connection reset", &smithy.OperationError{Err: fmt.Errorf("send: %w", &smithyhttp.RequestSendError{Err: fmt.Errorf("read: %w", errConnReset)})}, objstore.ErrNotFound, nil, true},
		{"timeout", &smithy.OperationError{Err: &smithyhttp.RequestSendError{Err: timeoutErr{}}}, objstore.ErrNotFound, nil, true},
		{"unexpected EOF", fmt.Errorf("reading body: %w", io.ErrUnexpectedEOF), objstore.ErrNotFound, nil, true},
		{"EntityTooSmall", apiErr(400, "EntityTooSmall", nil), objstore.ErrUploadNotFound, nil, false},
		{"other 400", apiErr(400, "InvalidArgument", nil), objstore.ErrNotFound, nil, false},
		{"canceled", &smithy.OperationError{Err: context.Canceled}, objstore.ErrNotFound, nil, false},
		{"no credentials", &smithy.OperationError{Err: fmt.Errorf("get identity: %w", errors.New("failed to refresh cached credentials, no EC2 IMDS role found"))}, objstore.ErrNotFound, objstore.ErrAccessDenied, false},
	}
	sentinels := []error{objstore.ErrNotFound, objstore.ErrBucketNotFound, objstore.ErrAccessDenied, objstore.ErrChecksumMismatch, objstore.ErrUploadNotFound}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, retryable := classify(tc.err, tc.notFound)
			if got != tc.want || retryable != tc.retryable {
				t.Errorf("classify = %v, retryable %v; want %v, %v", got, retryable, tc.want, tc.retryable)
			}
			err := s.wrap(t.Context(), "op", "some/key", tc.err, tc.notFound)
			if objstore.IsRetryable(err) != tc.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, !tc.retryable, tc.retryable)
			}
			for _, sn := range sentinels {
				if errors.Is(err, sn) != (sn == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, sn, !(sn == tc.want))
				}
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("wrapped error %v does not wrap the SDK error", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "s3://bkt/some/key") {
				t.Errorf("message %q does not name s3://bkt/some/key", msg)
			}
			if tc.want == objstore.ErrAccessDenied && !strings.Contains(err.Error(), "StaticCredentials") {
				t.Errorf("access-denied message %q does not name the credential source", err)
			}
		})
	}
}

func TestRegionFromErrorHeader(t *testing.T) {
	h := http.Header{}
	h.Set("X-Amz-Bucket-Region", "eu-west-3")
	if got := responseHeader(apiErr(301, "", h), "X-Amz-Bucket-Region"); got != "eu-west-3" {
		t.Errorf("responseHeader = %q, want eu-west-3", got)
	}
	if got := httpStatus(apiErr(301, "", h)); got != 301 {
		t.Errorf("httpStatus = %d", got)
	}
	if got := responseHeader(errors.New("x"), "X-Amz-Bucket-Region"); got != "" {
		t.Errorf("responseHeader of a plain error = %q", got)
	}
}

// The request bodies handed to the SDK: no copy for seekable readers.
func TestPayload(t *testing.T) {
	data := []byte("0123456789")
	s := &Store{}
	br := bytes.NewReader(data)
	if b, _ := s.payload(br, 10); b != io.Reader(br) {
		t.Errorf("payload(*bytes.Reader of exactly size) = %T, want the reader itself", b)
	}
	br = bytes.NewReader(data)
	br.Seek(2, io.SeekStart)
	b, err := s.payload(br, 5)
	if _, ok := b.(io.ReadSeeker); err != nil || !ok {
		t.Fatalf("payload(longer bytes.Reader) = %T, %v; want a ReadSeeker", b, err)
	}
	if got, _ := io.ReadAll(b); string(got) != "23456" {
		t.Errorf("payload(longer bytes.Reader) read %q, want 23456", got)
	}
	s.tls = true
	b, _ = s.payload(io.MultiReader(bytes.NewReader(data)), 4)
	if _, ok := b.(io.Seeker); ok {
		t.Errorf("payload(non-seekable, TLS) = %T: want a stream, not a buffer", b)
	}
	if got, _ := io.ReadAll(b); string(got) != "0123" {
		t.Errorf("payload(non-seekable, TLS) read %q", got)
	}
	s.tls = false
	b, _ = s.payload(io.MultiReader(bytes.NewReader(data)), 4)
	if _, ok := b.(io.Seeker); !ok {
		t.Errorf("payload(non-seekable, HTTP) = %T: want a seekable buffer", b)
	}
	if _, err := s.payload(io.MultiReader(bytes.NewReader(data)), 40); err == nil {
		t.Error("payload of 40 bytes from a 10-byte reader over HTTP succeeded")
	}
	if b, err := s.payload(nil, 0); err != nil || b == nil {
		t.Errorf("payload(nil, 0) = %v, %v", b, err)
	}
}

var errConnReset = &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}

// fakeAWS answers requests meant for real AWS without any network.
type fakeAWS struct {
	mu    sync.Mutex
	hosts []string
	// answer returns status, headers and body for a request.
	answer func(r *http.Request) (int, http.Header, string)
}

func (f *fakeAWS) Do(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.hosts = append(f.hosts, r.Method+" "+r.URL.Host+r.URL.Path+"?"+r.URL.RawQuery)
	f.mu.Unlock()
	status, h, body := f.answer(r)
	if h == nil {
		h = http.Header{}
	}
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Header: h, Request: r,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
	}, nil
}

func regionHeader(r string) http.Header {
	h := http.Header{}
	h.Set("X-Amz-Bucket-Region", r)
	return h
}

const deniedXML = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>denied</Message></Error>`

// Without a custom endpoint, Open finds the bucket's region from HeadBucket
// (even a 301 from the wrong region carries it) and uses it.
func TestRegionDiscovery(t *testing.T) {
	isolateEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	for _, tc := range []struct {
		name       string
		answer     func(r *http.Request) (int, http.Header, string)
		wantRegion string
		locator    string
	}{
		{"redirect", func(r *http.Request) (int, http.Header, string) {
			switch {
			case r.URL.Query().Has("location"):
				return 403, nil, deniedXML
			case strings.Contains(r.URL.Host, "eu-west-3"):
				return 200, regionHeader("eu-west-3"), ""
			}
			return 301, regionHeader("eu-west-3"), ""
		}, "eu-west-3", "aws:eu-west-3"},
		{"denied head, location allowed", func(r *http.Request) (int, http.Header, string) {
			if r.URL.Query().Has("location") {
				return 200, nil, `<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">ap-south-1</LocationConstraint>`
			}
			if strings.Contains(r.URL.Host, "ap-south-1") {
				return 200, nil, ""
			}
			return 403, nil, ""
		}, "ap-south-1", "aws:ap-south-1"},
		{"us-east-1 bucket", func(r *http.Request) (int, http.Header, string) {
			if r.URL.Query().Has("location") {
				return 200, nil, `<?xml version="1.0" encoding="UTF-8"?><LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>`
			}
			return 200, regionHeader("us-east-1"), ""
		}, "us-east-1", "aws:us-east-1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeAWS{answer: tc.answer}
			s, err := open(t.Context(), objstore.Location{Scheme: "s3", Bucket: "bkt"}, objstore.Options{}, func(o *awss3.Options) {
				o.HTTPClient = fake
				o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, time.Millisecond)
			})
			if err != nil {
				t.Fatal(err)
			}
			if s.region != tc.wantRegion || s.client.Options().Region != tc.wantRegion || s.endpoint != "" || s.client.Options().UsePathStyle {
				t.Errorf("region %q (client %q), endpoint %q, path style %v; want %s on AWS, virtual-hosted", s.region, s.client.Options().Region, s.endpoint, s.client.Options().UsePathStyle, tc.wantRegion)
			}
			if err := s.BucketExists(t.Context()); err != nil {
				t.Errorf("BucketExists: %v", err)
			}
			last := fake.hosts[len(fake.hosts)-1]
			if !strings.Contains(last, "bkt.s3."+tc.wantRegion+".amazonaws.com") && !(tc.wantRegion == "us-east-1" && strings.Contains(last, "bkt.s3.amazonaws.com")) {
				t.Errorf("BucketExists went to %q, want the %s endpoint", last, tc.wantRegion)
			}
			if r, err := s.Region(t.Context()); err != nil || r != tc.locator {
				t.Errorf("Region() = %q, %v; want %s", r, err, tc.locator)
			}
			t.Logf("requests: %q", fake.hosts)
		})
	}
	// A missing bucket: no region to find, Open still succeeds, no GetBucketLocation.
	fake := &fakeAWS{answer: func(r *http.Request) (int, http.Header, string) { return 404, nil, "" }}
	s, err := open(t.Context(), objstore.Location{Scheme: "s3", Bucket: "bkt"}, objstore.Options{}, func(o *awss3.Options) { o.HTTPClient = fake })
	if err != nil {
		t.Fatal(err)
	}
	if s.region != "us-east-1" || len(fake.hosts) != 1 {
		t.Errorf("missing bucket: region %q after %q; want us-east-1 after one HeadBucket", s.region, fake.hosts)
	}
	if err := s.BucketExists(t.Context()); !errors.Is(err, objstore.ErrBucketNotFound) {
		t.Errorf("BucketExists of a missing AWS bucket: %v", err)
	}
}

// The SDK's retryer retries throttling and 5xx; what still fails comes back
// retryable. A local HTTP server plays S3.
func TestRetries(t *testing.T) {
	isolateEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	var (
		mu    sync.Mutex
		calls int
		fail  int // answer this many requests with 503 SlowDown
		reset bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n, rst := calls, reset
		mu.Unlock()
		if rst {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0) // RST
				conn.Close()
			}
			return
		}
		if n <= fail {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(503)
			if r.Method != http.MethodHead {
				io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`)
			}
			return
		}
		w.Header().Set("Content-Length", "3")
		w.Header().Set("ETag", `"`+hex.EncodeToString(md5sum([]byte("abc")))+`"`)
		w.Header().Set("Last-Modified", time.Now().UTC().Format(http.TimeFormat))
		if r.Method == http.MethodGet {
			io.WriteString(w, "abc")
		}
	}))
	defer srv.Close()
	s, err := open(t.Context(), objstore.Location{Scheme: "s3", Bucket: "bkt"}, objstore.Options{Endpoint: srv.URL}, func(o *awss3.Options) {
		o.Retryer = retry.AddWithMaxBackoffDelay(o.Retryer, time.Millisecond)
	})
	if err != nil {
		t.Fatal(err)
	}
	setup := func(f int, r bool) {
		mu.Lock()
		calls, fail, reset = 0, f, r
		mu.Unlock()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return calls
	}

	setup(2, false)
	if _, err := s.Head(t.Context(), "k"); err != nil || count() != 3 {
		t.Errorf("Head after two SlowDowns: %v after %d requests; want success after 3", err, count())
	}
	setup(100, false)
	rc, err := s.Read(t.Context(), "k", 0, -1)
	if err == nil {
		rc.Close()
	}
	if !objstore.IsRetryable(err) || count() != maxAttempts {
		t.Errorf("Read against constant SlowDown: %v after %d requests; want a retryable error after %d", err, count(), maxAttempts)
	}
	if err != nil && !strings.Contains(err.Error(), "SlowDown") {
		t.Errorf("error %q does not say SlowDown", err)
	}
	setup(100, false)
	if _, err := s.Head(t.Context(), "k"); !objstore.IsRetryable(err) || errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Head against constant 503: %v; want retryable", err)
	}
	setup(0, true)
	if err := s.Write(t.Context(), "k", bytes.NewReader([]byte("abc")), 3, md5sum([]byte("abc"))); !objstore.IsRetryable(err) || count() != maxAttempts {
		t.Errorf("Write against connection resets: %v after %d requests; want a retryable error after %d", err, count(), maxAttempts)
	}
	setup(0, false)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Head(ctx, "k"); err == nil || objstore.IsRetryable(err) {
		t.Errorf("Head with a canceled context: %v; want a non-retryable error", err)
	}
}

// On plain HTTP a body with a Content-MD5 is sent UNSIGNED-PAYLOAD (the
// signed MD5 covers it); without an MD5 SigV4 still hashes it.
func TestUnsignedPayloadWithMD5(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]string{} // path+query → x-amz-content-sha256
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		seen[r.URL.Path+"?"+r.URL.RawQuery] = r.Header.Get("X-Amz-Content-Sha256") + " md5=" + r.Header.Get("Content-Md5")
		mu.Unlock()
		w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef"`)
	}))
	defer srv.Close()
	isolateEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	st, err := open(t.Context(), objstore.Location{Scheme: "s3", Bucket: "bkt"}, objstore.Options{Endpoint: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("payload")
	sum := md5sum(data)
	if err := st.Write(t.Context(), "with", bytes.NewReader(data), int64(len(data)), sum); err != nil {
		t.Fatal(err)
	}
	if err := st.Write(t.Context(), "without", bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UploadPart(t.Context(), "part", "u1", objstore.Part{Number: 1, Size: int64(len(data)), MD5: sum}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	hashed := sha256Hex(data)
	for _, tt := range []struct{ prefix, want string }{
		{"/bkt/with?", "UNSIGNED-PAYLOAD md5="},
		{"/bkt/without?", hashed + " md5="},
		{"/bkt/part?", "UNSIGNED-PAYLOAD md5="},
	} {
		found := false
		for k, v := range seen {
			if strings.HasPrefix(k, tt.prefix) {
				found = true
				if !strings.HasPrefix(v, tt.want) || (strings.HasPrefix(tt.want, "UNSIGNED") && strings.HasSuffix(v, "md5=")) {
					t.Errorf("%s: x-amz-content-sha256 and Content-MD5 = %q, want %q…", k, v, tt.want)
				}
			}
		}
		if !found {
			t.Errorf("no request for %s in %v", tt.prefix, seen)
		}
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
