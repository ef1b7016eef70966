package objstore

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

func TestIsPermanent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"no space, wrapped", fmt.Errorf("local: write /x: %w", &fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}), true},
		{"quota", fmt.Errorf("w: %w", syscall.EDQUOT), true},
		{"read-only file system", fmt.Errorf("w: %w", syscall.EROFS), true},
		{"directory in the way", fmt.Errorf("local: write /x: %w", syscall.EISDIR), true},
		{"name too long", &fs.PathError{Op: "open", Path: "/x", Err: syscall.ENAMETOOLONG}, true},
		{"key the store cannot hold", fmt.Errorf("local: write %q: %w", "a//b", ErrNotSupported), true},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), false},
		{"retryable 5xx", Retryable(errors.New("503 slow down")), false},
		{"checksum", fmt.Errorf("w: %w", ErrChecksumMismatch), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPermanent(tt.err); got != tt.want {
				t.Errorf("IsPermanent(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
