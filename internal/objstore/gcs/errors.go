package gcs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// classify maps an error of the storage client to the objstore sentinel it
// means (nil when none) and whether it is worth retrying. bucketScope says
// the call was about the bucket itself (a 404 then means a missing bucket).
func classify(err error, bucketScope bool) (sentinel error, retryable bool) {
	if err == nil {
		return nil, false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil, false
	}
	if errors.Is(err, storage.ErrBucketNotExist) {
		return objstore.ErrBucketNotFound, false
	}
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		msg := strings.ToLower(ge.Message + " " + ge.Body)
		switch code := ge.Code; {
		case code == 412: // only pinned reads send a precondition
			return objstore.ErrChanged, false
		case code == 401 || code == 403:
			return objstore.ErrAccessDenied, false
		case code == 400 && isChecksumMessage(msg):
			return objstore.ErrChecksumMismatch, false
		case code == 400 && isRequesterPaysMessage(msg):
			return objstore.ErrAccessDenied, false
		case code == 404:
			if bucketScope || isBucketMissingMessage(msg) {
				return objstore.ErrBucketNotFound, false
			}
			return objstore.ErrNotFound, false
		case code == 408 || code == 429 || code >= 500 && code < 600:
			return nil, true
		}
		return nil, false
	}
	if errors.Is(err, storage.ErrObjectNotExist) {
		return objstore.ErrNotFound, false
	}
	if strings.Contains(err.Error(), "bad CRC on") { // the library's check of a downloaded body
		return objstore.ErrChecksumMismatch, false
	}
	if storage.ShouldRetry(err) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) {
		return nil, true
	}
	return nil, false
}

func isChecksumMessage(msg string) bool {
	return (strings.Contains(msg, "md5") || strings.Contains(msg, "crc32c") || strings.Contains(msg, "checksum") || strings.Contains(msg, "digest")) &&
		(strings.Contains(msg, "match") || strings.Contains(msg, "invalid"))
}

func isRequesterPaysMessage(msg string) bool {
	return strings.Contains(msg, "requester pays") || strings.Contains(msg, "user project")
}

func isBucketMissingMessage(msg string) bool {
	return strings.Contains(msg, "bucket") && (strings.Contains(msg, "not exist") || strings.Contains(msg, "not found"))
}

// bucketErr wraps the error of a call about the bucket itself.
func (s *Store) bucketErr(op string, err error) error {
	return s.wrapErr(op, "gs://"+s.name, err, true)
}

// objErr wraps the error of a call about one object.
func (s *Store) objErr(op, key string, err error) error {
	return s.wrapErr(op, s.objURL(key), err, false)
}

func (s *Store) wrapErr(op, target string, err error, bucketScope bool) error {
	sentinel, retry := classify(err, bucketScope)
	var out error
	switch sentinel {
	case nil:
		out = fmt.Errorf("gcs: %s %s: %w", op, target, err)
	case objstore.ErrBucketNotFound:
		out = fmt.Errorf("gcs: %s %s: bucket %q does not exist (or is not visible with %s): %w: %w", op, target, s.name, s.creds, sentinel, err)
	case objstore.ErrChanged:
		out = fmt.Errorf("gcs: %s %s: the object was rewritten since it was listed (its generation changed): %w: %w", op, target, sentinel, err)
	case objstore.ErrAccessDenied:
		hint := fmt.Sprintf("check that the principal has the Storage IAM roles it needs on bucket %q (e.g. roles/storage.objectAdmin)", s.name)
		var ge *googleapi.Error
		if errors.As(err, &ge) && isRequesterPaysMessage(strings.ToLower(ge.Message+" "+ge.Body)) {
			hint = fmt.Sprintf("bucket %q is requester-pays: enable requester_pays and set %s to the project to bill", s.name, ProjectEnv)
		}
		out = fmt.Errorf("gcs: %s %s: access denied using %s: %s: %w: %w", op, target, s.creds, hint, sentinel, err)
	default:
		out = fmt.Errorf("gcs: %s %s: %w: %w", op, target, sentinel, err)
	}
	if retry {
		out = objstore.Retryable(out)
	}
	return out
}
