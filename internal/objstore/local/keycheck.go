package local

import (
	"fmt"
	"strings"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// maxElement is the longest file name most file systems take (NAME_MAX).
const maxElement = 255

// CheckKey reports why key cannot be written as a file under the root
// (objstore.KeyChecker); folder markers ("dir/") are directories and fine.
func (s *Store) CheckKey(key string) error {
	if why := checkKey(key); why != "" {
		return fmt.Errorf("local: %q under %s: %s: %w", key, s.root, why, objstore.ErrNotSupported)
	}
	for e := range strings.SplitSeq(strings.TrimSuffix(key, "/"), "/") {
		if len(e) > maxElement {
			return fmt.Errorf("local: %q under %s: path element %.20q… is %d bytes, the file system takes %d: %w", key, s.root, e, len(e), maxElement, objstore.ErrNotSupported)
		}
	}
	return nil
}
