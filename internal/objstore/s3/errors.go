package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Error codes by the objstore sentinel they map to.
var (
	accessCodes = map[string]bool{
		"AccessDenied":          true,
		"InvalidAccessKeyId":    true,
		"SignatureDoesNotMatch": true,
		"AllAccessDisabled":     true,
		"AccountProblem":        true,
		"InvalidToken":          true,
		"ExpiredToken":          true,
		"TokenRefreshRequired":  true,
		"InvalidSecurity":       true,
		"RequestTimeTooSkewed":  true,
		"Forbidden":             true, // HEAD responses carry no body: the SDK names the status
	}
	checksumCodes = map[string]bool{
		"BadDigest":     true,
		"InvalidDigest": true,
	}
	// retryCodes are retried by the SDK first (throttling, timeouts, 5xx);
	// we add the 5xx codes so a failure is retryable even when only its
	// code is known.
	retryCodes = map[string]bool{
		"SlowDown":                true,
		"Throttling":              true,
		"ThrottlingException":     true,
		"RequestThrottled":        true,
		"RequestLimitExceeded":    true,
		"TooManyRequests":         true,
		"BandwidthLimitExceeded":  true,
		"RequestTimeout":          true,
		"RequestTimeoutException": true,
		"InternalError":           true,
		"ServiceUnavailable":      true,
		"OperationAborted":        true, // a conflicting operation is in progress
	}
)

// apiCode returns the S3 error code and message of err, if it carries one.
func apiCode(err error) (code, msg string) {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), ae.ErrorMessage()
	}
	return "", ""
}

// httpStatus returns the HTTP status of the response behind err, or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// responseHeader returns a header of the response behind err, or "".
func responseHeader(err error, name string) string {
	var re interface{ HTTPResponse() *smithyhttp.Response }
	if errors.As(err, &re) {
		if r := re.HTTPResponse(); r != nil && r.Response != nil {
			return r.Header.Get(name)
		}
	}
	return ""
}

// credentialFailure reports whether err is the SDK failing to obtain
// credentials (before any request was sent).
func credentialFailure(err error) bool {
	if httpStatus(err) != 0 {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "get identity:") ||
		strings.Contains(m, "failed to retrieve credentials") ||
		strings.Contains(m, "failed to refresh cached credentials")
}

// transient reports whether err is a connection-level failure worth retrying.
func transient(err error) bool {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var q ratelimit.QuotaExceededError
	if errors.As(err, &q) {
		return true
	}
	var to interface{ Timeout() bool }
	if errors.As(err, &to) && to.Timeout() {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

// classify maps an SDK error to an objstore sentinel (nil when none fits)
// and whether it is retryable. notFound is the sentinel a bare 404 means for
// the operation (ErrBucketNotFound for bucket calls, ErrNotFound for object
// calls, ErrUploadNotFound for calls naming an upload).
func classify(err error, notFound error) (sentinel error, retryable bool) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, false // the caller gave up: retrying is its decision
	}
	code, _ := apiCode(err)
	status := httpStatus(err)
	switch {
	case code == "NoSuchBucket":
		return objstore.ErrBucketNotFound, false
	case code == "NoSuchKey":
		return objstore.ErrNotFound, false
	case code == "NoSuchUpload":
		return objstore.ErrUploadNotFound, false
	case checksumCodes[code]:
		return objstore.ErrChecksumMismatch, false
	case code == "PreconditionFailed", status == 412:
		return objstore.ErrChanged, false // only pinned reads send a precondition
	case code == "InvalidObjectState":
		return nil, false // a 403 for archived (Glacier) objects, not a permission problem
	case accessCodes[code], status == 403:
		return objstore.ErrAccessDenied, false
	case credentialFailure(err):
		return objstore.ErrAccessDenied, false
	case retryCodes[code], status == 429, status >= 500 && status <= 599:
		return nil, true
	case status == 404:
		return notFound, false
	case status == 0 && transient(err):
		return nil, true
	}
	return nil, false
}

// credentialSource names where the credentials came from (e.g.
// "EnvConfigCredentials", "SharedConfigCredentials: /root/.aws/credentials").
func (s *Store) credentialSource(ctx context.Context) string {
	if s.creds == nil {
		return "no credentials configured (anonymous requests)"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	c, err := s.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Sprintf("no usable credentials (%v)", err)
	}
	if c.Source == "" {
		return "credentials from an unnamed provider"
	}
	return "credentials from " + c.Source
}

func (s *Store) where() string {
	if s.endpoint != "" {
		return "endpoint " + s.endpoint + ", region " + s.region
	}
	return "AWS region " + s.region
}

// wrap turns an SDK error of op on key into an error that names the bucket
// and key and wraps the matching objstore sentinel (and the SDK error). See
// classify for notFound.
func (s *Store) wrap(ctx context.Context, op, key string, err error, notFound error) error {
	obj := "s3://" + s.bucket
	if key != "" {
		obj += "/" + key
	}
	sentinel, retryable := classify(err, notFound)
	var werr error
	switch sentinel {
	case objstore.ErrBucketNotFound:
		werr = fmt.Errorf("s3: %s %s: bucket %q does not exist (%s; check the bucket name and region/endpoint): %w: %w",
			op, obj, s.bucket, s.where(), sentinel, err)
	case objstore.ErrAccessDenied:
		hint := "check the access key and secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws/credentials), that they may access the bucket (IAM / bucket policy)"
		if code, _ := apiCode(err); code == "RequestTimeTooSkewed" {
			hint = "the local clock is off: sync it (NTP)"
		} else if !s.requesterPays {
			hint += ", and whether it is a requester-pays bucket (skyplane config set requester_pays true)"
		}
		werr = fmt.Errorf("s3: %s %s: %w using %s (%s): %s: %w",
			op, obj, sentinel, s.credentialSource(ctx), s.where(), hint, err)
	case objstore.ErrChanged:
		werr = fmt.Errorf("s3: %s %s: the object was rewritten since it was listed (its ETag no longer matches): %w: %w", op, obj, sentinel, err)
	case objstore.ErrChecksumMismatch:
		werr = fmt.Errorf("s3: %s %s: the server rejected the data: its MD5 differs from the Content-MD5 sent: %w: %w", op, obj, sentinel, err)
	case nil:
		hint := ""
		switch code, _ := apiCode(err); code {
		case "EntityTooSmall":
			hint = fmt.Sprintf(": every part but the last must be at least %d MiB", MinPartSize>>20)
		case "InvalidPart":
			hint = ": a part is missing or its ETag does not match the uploaded part"
		case "InvalidPartOrder":
			hint = ": parts must be listed in ascending order"
		case "AuthorizationHeaderMalformed", "BadRequest":
			// BadRequest: a HEAD answer has no body to say more.
			hint = ": if the server expects another signing region, set AWS_REGION (or the profile's region)"
		}
		werr = fmt.Errorf("s3: %s %s (%s): %w%s", op, obj, s.where(), err, hint)
	default:
		werr = fmt.Errorf("s3: %s %s: %w: %w", op, obj, sentinel, err)
	}
	if retryable {
		return objstore.Retryable(werr)
	}
	return werr
}
