// Package s3 is the Amazon S3 (and S3-compatible) backend of objstore.
//
// Open registers for scheme "s3" and opens one bucket. Credentials come from
// the AWS SDK's default chain (environment, shared config and credentials
// files / AWS_PROFILE, SSO, web identity, ECS, EC2 instance metadata).
//
// Endpoint: Options.Endpoint (config key s3_endpoint, or --endpoint) when set,
// else whatever the SDK's standard AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL
// variables (or the profile's endpoint_url) give. A custom endpoint means an
// S3-compatible store: requests use path-style addressing. Open discovers
// the bucket's region (HeadBucket's x-amz-bucket-region; on AWS else
// GetBucketLocation) and signs for it, so buckets outside the configured
// region work, on AWS and on S3-compatible servers with a region of their
// own; when nothing tells, requests are signed for AWS_REGION /
// AWS_DEFAULT_REGION / the profile's region, default us-east-1. Per-bucket
// endpoints come from the config key s3_bucket_endpoints.
//
// Checksums: the SDK's default flexible checksums (CRC32/CRC64 trailers,
// response validation) are turned off (WhenRequired): the caller's MD5 is
// sent as Content-MD5, which every S3-compatible server verifies, and a
// mismatch is ErrChecksumMismatch.
//
// Retries: the SDK's standard retryer (exponential backoff with jitter, 5
// attempts, no client-side retry quota; AWS_MAX_ATTEMPTS overrides the count)
// retries throttling, 5xx and connection errors itself; each of those
// retries is counted (objstore.Options.Retries) so gateways report them. What
// still fails afterwards is returned wrapped in objstore.Retryable so callers
// can reschedule the work.
//
// Request bodies: Write and UploadPart take an io.Reader of exactly size
// bytes. A *bytes.Reader (what gateways hand over) or any io.ReaderAt +
// io.Seeker is passed to the SDK without copying; it is seekable, which the
// SigV4 signer needs on plain-HTTP endpoints (it hashes the payload, then
// rewinds) and the retryer needs to resend. Over HTTPS the SDK sends
// UNSIGNED-PAYLOAD for PutObject/UploadPart (TLS and Content-MD5 protect the
// body), so a non-seekable reader is streamed as is (an SDK-level retry then
// cannot rewind it and the failure is returned as retryable); over plain HTTP
// a non-seekable reader is first read into memory.
package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

const (
	// MinPartSize is S3's smallest non-final multipart part.
	MinPartSize = 5 << 20
	// MaxParts is S3's largest part count per upload.
	MaxParts = 10000
	// DefaultRegion signs requests when nothing else names a region.
	DefaultRegion = "us-east-1"
	// maxAttempts is the SDK retryer's attempt count (unless AWS_MAX_ATTEMPTS is set).
	maxAttempts = 5
)

func init() {
	objstore.Register(objstore.SchemeS3, Open)
}

// Store is one S3 bucket.
type Store struct {
	bucket        string
	client        *awss3.Client
	creds         aws.CredentialsProvider
	endpoint      string // custom endpoint, "" for AWS
	region        string // signing region
	regionFound   bool   // region discovered from the bucket (AWS only)
	tls           bool   // requests go over HTTPS
	requesterPays bool
	pageSize      int32 // ListObjectsV2 MaxKeys; 0 = server default (1000)
}

var (
	_ objstore.Store   = (*Store)(nil)
	_ objstore.Locator = (*Store)(nil)
)

// Open opens the bucket of loc (its key is ignored) and asks for the
// bucket's region, so requests are signed for it (a failure there is not
// fatal: BucketExists and the other calls report it).
func Open(ctx context.Context, loc objstore.Location, opts objstore.Options) (objstore.Store, error) {
	return open(ctx, loc, opts, nil)
}

// open is Open; tune, when set, adjusts the client options last (tests
// inject an HTTP client or shorten the backoff).
func open(ctx context.Context, loc objstore.Location, opts objstore.Options, tune func(*awss3.Options)) (*Store, error) {
	if loc.Bucket == "" {
		return nil, fmt.Errorf("s3: %s: missing bucket name: want s3://bucket/key", loc)
	}
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	)
	if err != nil {
		return nil, fmt.Errorf("s3: s3://%s: loading AWS configuration (check AWS_PROFILE, AWS_CONFIG_FILE and ~/.aws/config): %w", loc.Bucket, err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	// Static keys given by the caller win over the chain: a gateway on
	// another host gets the client's keys this way (its boot file), not
	// from an environment it does not share.
	if k := opts.S3; k.AccessKeyID != "" && k.SecretAccessKey != "" {
		cfg.Credentials = credentials.NewStaticCredentialsProvider(k.AccessKeyID, k.SecretAccessKey, k.SessionToken)
	}
	var endpoint *string
	if opts.Endpoint != "" {
		e := opts.Endpoint
		if !strings.Contains(e, "://") {
			e = "https://" + e
		}
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("s3: s3://%s: invalid endpoint %q: want http(s)://host[:port]", loc.Bucket, opts.Endpoint)
		}
		endpoint = &e
	}
	s := &Store{
		bucket:        loc.Bucket,
		creds:         cfg.Credentials,
		region:        cfg.Region,
		requesterPays: opts.RequesterPays,
	}
	retries := cfg.RetryMaxAttempts
	if retries == 0 {
		retries = maxAttempts
	}
	newClient := func(region string) *awss3.Client {
		return awss3.NewFromConfig(cfg, func(o *awss3.Options) {
			o.Region = region
			if endpoint != nil {
				o.BaseEndpoint = endpoint
			}
			if o.BaseEndpoint != nil {
				o.UsePathStyle = true
			}
			o.RetryMaxAttempts = 0
			o.Retryer = countingRetryer{counter: opts.Retries, RetryerV2: retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = retries
				// Many parallel transfers: no client-side retry quota that
				// would fail fast once exhausted; backoff + jitter remain.
				so.RateLimiter = ratelimit.None
			})}
			if tune != nil {
				tune(o)
			}
		})
	}
	s.client = newClient(cfg.Region)
	custom := s.client.Options().BaseEndpoint != nil
	if custom {
		s.endpoint = *s.client.Options().BaseEndpoint
		s.tls = strings.HasPrefix(strings.ToLower(s.endpoint), "https://")
	} else {
		s.tls = true
	}
	if region := s.discoverRegion(ctx, custom); region != "" {
		s.regionFound = true
		if region != s.region {
			s.region = region
			s.client = newClient(region)
		}
	}
	return s, nil
}

// countingRetryer counts every retry the SDK makes: its retry middleware
// asks for a retry token exactly once before each attempt after the first
// (and only when the error is retryable and attempts remain). Wrappers the
// SDK or tests add around it (per-operation max attempts, max backoff)
// delegate GetRetryToken, so the count survives them.
type countingRetryer struct {
	aws.RetryerV2
	counter *objstore.RetryCounter
}

func (r countingRetryer) GetRetryToken(ctx context.Context, opErr error) (func(error) error, error) {
	release, err := r.RetryerV2.GetRetryToken(ctx, opErr)
	if err == nil {
		r.counter.Add()
	}
	return release, err
}

// discoverRegion asks where the bucket lives: HeadBucket answers with
// x-amz-bucket-region even on a redirect or a denial; GetBucketLocation is
// the fallback on AWS. "" when neither tells.
//
// S3-compatible servers in a region of their own (versitygw --region,
// MinIO's site region) refuse requests signed for another region without
// saying which one in a header; an anonymous HeadBucket is refused with the
// header, so that is what a custom endpoint is asked.
func (s *Store) discoverRegion(ctx context.Context, custom bool) string {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.bucket}, func(o *awss3.Options) {
		o.RetryMaxAttempts = 1 // a 301 from the wrong region is an answer, not a failure
		if custom {
			o.Credentials = nil // unsigned: the SDK refuses to sign with aws.AnonymousCredentials
		}
	})
	if err == nil && aws.ToString(out.BucketRegion) != "" {
		return aws.ToString(out.BucketRegion)
	}
	if r := responseHeader(err, "X-Amz-Bucket-Region"); r != "" {
		return r
	}
	if status := httpStatus(err); custom || status == 404 || errors.Is(err, context.Canceled) {
		return "" // no bucket (or given up): nothing to ask GetBucketLocation
	}
	loc, err := s.client.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: &s.bucket})
	if err != nil {
		return ""
	}
	return normalizeRegion(string(loc.LocationConstraint))
}

// normalizeRegion maps GetBucketLocation's answer to a region name.
func normalizeRegion(constraint string) string {
	switch constraint {
	case "":
		return "us-east-1"
	case "EU":
		return "eu-west-1"
	}
	return constraint
}

func (s *Store) payer() types.RequestPayer {
	if s.requesterPays {
		return types.RequestPayerRequester
	}
	return ""
}

// URL is "s3://bucket".
func (s *Store) URL() string { return "s3://" + s.bucket }

// Features: parts of at least 5 MiB (but the last), at most 10,000 of them.
func (s *Store) Features() objstore.Features {
	return objstore.Features{MinPartSize: MinPartSize, MaxParts: MaxParts, ReportsMD5: true, MultipartETag: true}
}

// BucketExists sends HeadBucket.
func (s *Store) BucketExists(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.bucket})
	if err != nil {
		return s.wrap(ctx, "head bucket", "", err, objstore.ErrBucketNotFound)
	}
	return nil
}

// Region implements objstore.Locator: "aws:<region>" from GetBucketLocation
// (an empty constraint is us-east-1). On AWS, when GetBucketLocation is
// denied, the region discovered at Open is the answer.
func (s *Store) Region(ctx context.Context) (string, error) {
	out, err := s.client.GetBucketLocation(ctx, &awss3.GetBucketLocationInput{Bucket: &s.bucket})
	if err == nil {
		return "aws:" + normalizeRegion(string(out.LocationConstraint)), nil
	}
	if s.regionFound {
		return "aws:" + s.region, nil
	}
	// S3-compatible stores without GetBucketLocation may still name the
	// region in HeadBucket.
	if hb, herr := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: &s.bucket}); herr == nil && aws.ToString(hb.BucketRegion) != "" {
		return "aws:" + aws.ToString(hb.BucketRegion), nil
	}
	return "", s.wrap(ctx, "get bucket location", "", err, objstore.ErrBucketNotFound)
}

// etagMD5 returns the MD5 an ETag holds, or nil when it is not a plain
// 32-hex-digit MD5 (multipart "-N" ETags, SSE-KMS, other stores).
func etagMD5(etag *string) []byte {
	e := strings.Trim(aws.ToString(etag), `"`)
	if len(e) != 2*md5.Size {
		return nil
	}
	b, err := hex.DecodeString(e)
	if err != nil {
		return nil
	}
	return b
}

// List yields the objects under prefix page by page (ListObjectsV2, no
// delimiter), in the key order S3 returns. Keys are requested URL-encoded
// (so any byte can travel in the XML) and decoded when the server says it
// encoded them. It stops after the first error or when the consumer stops.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		in := &awss3.ListObjectsV2Input{
			Bucket:       &s.bucket,
			Prefix:       aws.String(prefix),
			EncodingType: types.EncodingTypeUrl,
			RequestPayer: s.payer(),
		}
		if s.pageSize > 0 {
			in.MaxKeys = aws.Int32(s.pageSize)
		}
		pages := awss3.NewListObjectsV2Paginator(s.client, in)
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if err != nil {
				yield(objstore.Object{}, s.wrap(ctx, "list", prefix, err, objstore.ErrBucketNotFound))
				return
			}
			encoded := page.EncodingType == types.EncodingTypeUrl
			for _, o := range page.Contents {
				key := aws.ToString(o.Key)
				if encoded {
					k, err := url.QueryUnescape(key)
					if err != nil {
						yield(objstore.Object{}, fmt.Errorf("s3: list s3://%s/%s: undecodable key %q in the listing: %w", s.bucket, prefix, key, err))
						return
					}
					key = k
				}
				obj := object(key, aws.ToInt64(o.Size), aws.ToTime(o.LastModified), o.ETag)
				if !yield(obj, nil) {
					return
				}
			}
		}
	}
}

// Head sends HeadObject.
func (s *Store) Head(ctx context.Context, key string) (objstore.Object, error) {
	out, err := s.client.HeadObject(ctx, &awss3.HeadObjectInput{
		Bucket:       &s.bucket,
		Key:          &key,
		RequestPayer: s.payer(),
	})
	if err != nil {
		return objstore.Object{}, s.wrap(ctx, "head", key, err, objstore.ErrNotFound)
	}
	return object(key, aws.ToInt64(out.ContentLength), aws.ToTime(out.LastModified), out.ETag), nil
}

// object is a listing entry or Head answer. The ETag is the version: it changes with the content, it is what If-Match
// compares, and ListObjectsV2 gives it where it gives no version id.
func object(key string, size int64, mod time.Time, etag *string) objstore.Object {
	return objstore.Object{
		Key:     key,
		Size:    size,
		ModTime: mod,
		MD5:     etagMD5(etag),
		ETag:    strings.Trim(aws.ToString(etag), `"`),
		Version: strings.Trim(aws.ToString(etag), `"`),
	}
}

// payload returns a request body of exactly size bytes from r, without a copy
// when r can seek (see the package comment).
func (s *Store) payload(r io.Reader, size int64) (io.Reader, error) {
	if r == nil {
		if size != 0 {
			return nil, fmt.Errorf("nil reader for %d bytes", size)
		}
		return bytes.NewReader(nil), nil
	}
	if br, ok := r.(*bytes.Reader); ok && int64(br.Len()) == size {
		return br, nil
	}
	if ra, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	}); ok {
		pos, err := ra.Seek(0, io.SeekCurrent)
		if err == nil {
			return io.NewSectionReader(ra, pos, size), nil
		}
	}
	if s.tls {
		return io.LimitReader(r, size), nil
	}
	buf := make([]byte, size)
	if n, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("source ended after %d of %d bytes: %w", n, size, err)
	}
	return bytes.NewReader(buf), nil
}

// unsignedPayload skips SigV4's SHA-256 of the body on plain HTTP when a
// Content-MD5 goes with it: the MD5 header is signed and the server checks
// the body against it, so the second hash (here and again at the server)
// bought nothing but CPU. Over HTTPS the SDK already sends UNSIGNED-PAYLOAD.
func (s *Store) unsignedPayload(sum []byte) func(*awss3.Options) {
	return func(o *awss3.Options) {
		if !s.tls && sum != nil {
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		}
	}
}

func contentMD5(sum []byte) *string {
	if sum == nil {
		return nil
	}
	return aws.String(base64.StdEncoding.EncodeToString(sum))
}

// Write sends PutObject (atomic in S3) with Content-Length and, when sum is
// non-nil, Content-MD5.
func (s *Store) Write(ctx context.Context, key string, r io.Reader, size int64, sum []byte) error {
	if size < 0 {
		return fmt.Errorf("s3: write s3://%s/%s: negative size %d", s.bucket, key, size)
	}
	if sum != nil && len(sum) != md5.Size {
		return fmt.Errorf("s3: write s3://%s/%s: md5 of %d bytes, want %d", s.bucket, key, len(sum), md5.Size)
	}
	b, err := s.payload(r, size)
	if err != nil {
		return fmt.Errorf("s3: write s3://%s/%s: %w", s.bucket, key, err)
	}
	_, err = s.client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &key,
		Body:          b,
		ContentLength: aws.Int64(size),
		ContentMD5:    contentMD5(sum),
		RequestPayer:  s.payer(),
	}, s.unsignedPayload(sum))
	if err != nil {
		return s.wrap(ctx, "write", key, err, objstore.ErrBucketNotFound)
	}
	return nil
}

// Delete sends DeleteObject; a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &awss3.DeleteObjectInput{
		Bucket:       &s.bucket,
		Key:          &key,
		RequestPayer: s.payer(),
	})
	if err != nil {
		werr := s.wrap(ctx, "delete", key, err, objstore.ErrNotFound)
		if errors.Is(werr, objstore.ErrNotFound) {
			return nil
		}
		return werr
	}
	return nil
}
