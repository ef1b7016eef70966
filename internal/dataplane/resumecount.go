package dataplane

import (
	"context"
	"iter"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Counts is a number of objects and their bytes.
type Counts struct{ Objects, Bytes int64 }

// countResumed wraps the items of a resumed copy so that
// Progress.AlreadyThere counts what the destination already holds: every
// source object listed (or headed) is counted, and taken back when it is
// yielded to be sent. The count is final once the listing is done.
func (r *run) countResumed(js jobStores, items func(jobStores) iter.Seq2[item, error]) iter.Seq2[item, error] {
	js.src = countingStore{Store: js.src, r: r}
	return func(yield func(item, error) bool) {
		for it, err := range items(js) {
			if err == nil {
				r.addAlreadyThere(-1, -it.obj.Size)
			}
			if !yield(it, err) {
				return
			}
		}
	}
}

func (r *run) addAlreadyThere(objects, bytes int64) {
	r.mu.Lock()
	r.prog.AlreadyThere.Objects += objects
	r.prog.AlreadyThere.Bytes += bytes
	r.mu.Unlock()
}

// countingStore counts the source objects a resumed copy looks at.
type countingStore struct {
	objstore.Store
	r *run
}

func (s countingStore) Head(ctx context.Context, key string) (objstore.Object, error) {
	o, err := s.Store.Head(ctx, key)
	if err == nil {
		s.r.addAlreadyThere(1, o.Size)
	}
	return o, err
}

func (s countingStore) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		for o, err := range s.Store.List(ctx, prefix) {
			// A folder's own marker is never an object to copy.
			if err == nil && o.Key != prefix {
				s.r.addAlreadyThere(1, o.Size)
			}
			if !yield(o, err) {
				return
			}
		}
	}
}
