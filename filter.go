package skyplane

import (
	"errors"
	"fmt"
	"io"

	"github.com/skyplane-project/skyplane-go/internal/dataplane"
)

// Filter selects the objects of recursive copies and syncs by their key
// relative to the source folder: include and exclude glob patterns ("*"
// within a path element, "**" across elements) and an optional list of
// keys. Sync --delete never deletes what a filter leaves out.
type Filter struct{ f *dataplane.Filter }

// ErrFilterNotRecursive: a Filter selects objects under a folder, so it
// needs a recursive copy or a sync (it is wrapped with ErrInvalidInput).
var ErrFilterNotRecursive = errors.New("a filter selects objects under a folder: it applies to recursive copies and syncs only")

// MaxFilesFrom is the most keys a files-from list may hold.
const MaxFilesFrom = dataplane.MaxFilesFrom

// NewFilter checks the patterns and reads filesFrom (nil for none), one
// key relative to the source folder per line.
func NewFilter(include, exclude []string, filesFrom io.Reader) (*Filter, error) {
	f, err := dataplane.NewFilter(include, exclude, filesFrom)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return &Filter{f}, nil
}

// WithFilter selects, with f, the objects of every recursive copy and
// sync the client runs or previews.
// A nil f selects everything.
func WithFilter(f *Filter) Option {
	return func(c *Client) {
		c.filter = nil
		if f != nil {
			c.filter = f.f
		}
	}
}
