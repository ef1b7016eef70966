package azure

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// azError is a mapped error: a one-line message, unwrapping to the objstore
// sentinel (if any) and to the underlying SDK or network error.
type azError struct {
	msg  string
	errs []error
}

func (e *azError) Error() string   { return e.msg }
func (e *azError) Unwrap() []error { return e.errs }

// Service error codes (bloberror) the mapping looks at.
var (
	bucketNotFoundCodes = []string{"ContainerNotFound", "ContainerBeingDeleted", "ContainerDisabled"}
	notFoundCodes       = []string{"BlobNotFound"}
	accessDeniedCodes   = []string{
		"AuthenticationFailed", "AuthorizationFailure", "AuthorizationPermissionMismatch",
		"AuthorizationProtocolMismatch", "AuthorizationResourceTypeMismatch", "AuthorizationServiceMismatch",
		"AuthorizationSourceIPMismatch", "InsufficientAccountPermissions", "AccountIsDisabled",
		"InvalidAuthenticationInfo", "NoAuthenticationInformation", "KeyVaultEncryptionKeyNotFound",
	}
	checksumCodes  = []string{"Md5Mismatch", "InvalidMd5", "Crc64Mismatch", "InvalidCrc64"}
	retryableCodes = []string{"ServerBusy", "InternalError", "OperationTimedOut", "IngressOverAccountLimit", "EgressOverAccountLimit", "TpsOverAccountLimit"}
)

// classification of an error.
type class struct {
	sentinel  error // objstore sentinel, or nil
	retryable bool
	detail    string // e.g. "HTTP 404 BlobNotFound: The specified blob does not exist."
}

// classify maps an SDK, credential or network error. notFound is the
// sentinel for a 404 that carries no error code (a HEAD request on a missing
// container or blob).
func classify(err error, notFound error) class {
	if err == nil {
		return class{}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return class{detail: err.Error()}
	}
	var short *shortSourceError
	if errors.As(err, &short) {
		return class{detail: short.Error()}
	}
	if errors.Is(err, errNotRewindable) {
		return class{retryable: true, detail: err.Error()}
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		c := class{detail: responseDetail(re)}
		code := re.ErrorCode
		switch {
		case in(code, bucketNotFoundCodes):
			c.sentinel = objstore.ErrBucketNotFound
		case in(code, notFoundCodes):
			c.sentinel = objstore.ErrNotFound
		case in(code, accessDeniedCodes):
			c.sentinel = objstore.ErrAccessDenied
		case in(code, checksumCodes):
			c.sentinel = objstore.ErrChecksumMismatch
		case code == "ConditionNotMet", re.StatusCode == http.StatusPreconditionFailed:
			c.sentinel = objstore.ErrChanged // only pinned reads send a condition
		case in(code, retryableCodes):
			c.retryable = true
		case re.StatusCode == http.StatusForbidden || re.StatusCode == http.StatusUnauthorized:
			c.sentinel = objstore.ErrAccessDenied
		case re.StatusCode == http.StatusNotFound && code == "":
			c.sentinel = notFound
		case re.StatusCode == http.StatusRequestTimeout, re.StatusCode == http.StatusTooManyRequests,
			re.StatusCode >= 500:
			c.retryable = true
		}
		return c
	}
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) {
		return class{sentinel: objstore.ErrAccessDenied, detail: err.Error()}
	}
	if msg := err.Error(); strings.Contains(msg, "DefaultAzureCredential") || strings.Contains(msg, "ChainedTokenCredential") {
		return class{sentinel: objstore.ErrAccessDenied, detail: firstLine(msg)}
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return class{retryable: !dns.IsNotFound, detail: err.Error()}
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return class{detail: err.Error() + "; check the endpoint"}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &ne) && ne.Timeout():
		return class{retryable: true, detail: err.Error()}
	}
	return class{detail: err.Error()}
}

func in(code string, codes []string) bool {
	for _, c := range codes {
		if strings.EqualFold(code, c) {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

// responseDetail is "HTTP <status> <code>: <service message>" without the
// request dump azcore puts in ResponseError.Error().
func responseDetail(re *azcore.ResponseError) string {
	d := fmt.Sprintf("HTTP %d", re.StatusCode)
	if re.ErrorCode != "" {
		d += " " + re.ErrorCode
	}
	if re.RawResponse != nil {
		if body, err := runtime.Payload(re.RawResponse); err == nil && len(body) > 0 {
			var x struct {
				Message string `xml:"Message"`
			}
			if xml.Unmarshal(body, &x) == nil && x.Message != "" {
				d += ": " + firstLine(x.Message)
			}
		}
	}
	return d
}

func hasCode(err error, code string) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && strings.EqualFold(re.ErrorCode, code)
}

func isBlobNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && (strings.EqualFold(re.ErrorCode, "BlobNotFound") ||
		re.StatusCode == http.StatusNotFound && re.ErrorCode == "")
}

func (s *Store) where(key string) string {
	return "azure://" + s.account + "/" + s.container + "/" + key
}

// blobErr maps an error of an operation on one blob.
func (s *Store) blobErr(op, key string, err error) error {
	return s.mapErr(op, s.where(key), key, err, objstore.ErrNotFound)
}

// containerErr maps an error of an operation on the container.
func (s *Store) containerErr(op string, err error) error {
	return s.mapErr(op, s.URL(), "", err, objstore.ErrBucketNotFound)
}

// mapErr builds the error users see: what failed, where, why, with which
// credential and what to check; wrapping the objstore sentinel and err.
func (s *Store) mapErr(op, where, key string, err error, notFound error) error {
	if err == nil {
		return nil
	}
	c := classify(err, notFound)
	var msg string
	switch c.sentinel {
	case objstore.ErrBucketNotFound:
		msg = fmt.Sprintf("azure: %s %s: container %q not found in storage account %q (%s; credential: %s): check the container name, or create it",
			op, where, s.container, s.account, c.detail, s.cred)
	case objstore.ErrNotFound:
		msg = fmt.Sprintf("azure: %s %s: blob %q not found in container %q of account %q (%s; credential: %s)", op, where, key, s.container, s.account, c.detail, s.cred)
	case objstore.ErrAccessDenied:
		msg = fmt.Sprintf("azure: %s %s: access denied (%s) using %s: %s", op, where, c.detail, s.cred, s.accessHint())
	case objstore.ErrChanged:
		msg = fmt.Sprintf("azure: %s %s: the blob was rewritten since it was listed (its ETag no longer matches; %s)", op, where, c.detail)
	case objstore.ErrChecksumMismatch:
		msg = fmt.Sprintf("azure: %s %s: checksum mismatch: the service computed an MD5 of the received body that differs from the one sent (%s); the data was corrupted at the source or in transit, send it again", op, where, c.detail)
	default:
		if c.retryable {
			msg = fmt.Sprintf("azure: %s %s: temporary failure after retries (%s; credential: %s): try again", op, where, c.detail, s.cred)
		} else {
			msg = fmt.Sprintf("azure: %s %s: %s (credential: %s)", op, where, c.detail, s.cred)
		}
	}
	e := &azError{msg: msg, errs: []error{err}}
	if c.sentinel != nil {
		e.errs = []error{c.sentinel, err}
	}
	if c.retryable {
		return objstore.Retryable(e)
	}
	return e
}

func (s *Store) accessHint() string {
	switch s.credKind {
	case credConnString:
		return fmt.Sprintf("check that the AccountKey or SharedAccessSignature in %s is current for account %s and allows this operation", EnvConnectionString, s.account)
	case credSharedKey:
		return fmt.Sprintf("check that %s holds a current access key of account %s (az storage account keys list --account-name %s)", EnvAccountKey, s.account, s.account)
	default:
		return fmt.Sprintf("check that you are signed in (az login, or AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET) and that the identity has the Storage Blob Data Contributor role on account %s", s.account)
	}
}
