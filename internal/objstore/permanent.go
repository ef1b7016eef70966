package objstore

import (
	"errors"
	"syscall"
)

// permanentErrnos are file system failures that the same write meets again
// however often it is retried: a full or read-only disk, a directory where
// the file goes, a name or file too long for the file system.
var permanentErrnos = []error{
	syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EISDIR, syscall.ENAMETOOLONG, syscall.EFBIG,
}

// IsPermanent reports whether err cannot succeed on retry: the store cannot
// represent the key (ErrNotSupported) or the disk refuses the write for a
// reason a retry does not change. Callers fail such an object at once
// instead of spending their retries on it.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotSupported) {
		return true
	}
	for _, e := range permanentErrnos {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// KeyChecker is implemented by stores that cannot hold every key (a file
// system: no empty path element, no "." or "..", bounded element length).
// CheckKey says, before anything is sent, why key cannot be written; its
// error wraps ErrNotSupported.
type KeyChecker interface {
	CheckKey(key string) error
}

// ChunkRetryable classes an error met moving one chunk: missing objects,
// denied access and what cannot succeed on retry (a full disk, a directory
// in the way, a key the store cannot hold) will not heal by sending the
// chunk again; everything else (resets, 5xx, a checksum mismatch) may.
func ChunkRetryable(err error) bool {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrAccessDenied),
		errors.Is(err, ErrBucketNotFound), errors.Is(err, ErrUploadNotFound),
		IsPermanent(err):
		return false
	}
	return true
}
