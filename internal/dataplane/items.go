package dataplane

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Job is one copy or sync from a source to every destination group.
type Job struct {
	Src objstore.Location
	// Dsts has one location per destination group of the plan, in order.
	Dsts      []objstore.Location
	Recursive bool
	// Sync copies only objects missing at the destination, newer at the
	// source, or of another size.
	Sync bool
	// Delete (with Sync) removes destination objects the source lacks.
	Delete bool
	// NoResume ignores what an interrupted run of the same job left: every
	// object is sent again.
	NoResume bool
	// Filter, when set, selects the objects of a recursive job (filter.go).
	Filter *Filter
}

// ErrNoObjects: a recursive copy found nothing under its prefix.
var ErrNoObjects = errors.New("no objects found at prefix")

// ErrIsPrefix: a non-recursive copy was given a prefix or folder.
var ErrIsPrefix = errors.New("source is a prefix, not an object")

// item is one source object and the key it gets at each destination.
type item struct {
	obj     objstore.Object
	dstKeys []string
}

// copyItems yields the objects a cp moves, straight from the listing.
func copyItems(ctx context.Context, job Job, src objstore.Store) iter.Seq2[item, error] {
	return func(yield func(item, error) bool) {
		maps := make([]chunk.Mapping, len(job.Dsts))
		for i, d := range job.Dsts {
			maps[i] = chunk.NewMapping(job.Src.Key, d.Key, job.Recursive)
		}
		if !job.Recursive {
			if job.Src.Key == "" || strings.HasSuffix(job.Src.Key, "/") {
				yield(item{}, fmt.Errorf("%s: %w; copy it recursively to copy everything under it", job.Src, ErrIsPrefix))
				return
			}
			obj, err := src.Head(ctx, job.Src.Key)
			if err != nil {
				if errors.Is(err, objstore.ErrNotFound) {
					err = fmt.Errorf("no such object %s (%w)", job.Src, err)
				}
				yield(item{}, err)
				return
			}
			it, err := mapItem(obj, maps)
			yield(it, err)
			return
		}
		found := false
		for obj, err := range src.List(ctx, maps[0].ListPrefix()) {
			if err != nil {
				yield(item{}, fmt.Errorf("list %s: %w", job.Src, err))
				return
			}
			found = true
			if obj.Key == maps[0].ListPrefix() {
				continue // the folder marker of the prefix itself
			}
			it, err := mapItem(obj, maps)
			if err != nil {
				yield(item{}, err)
				return
			}
			if !yield(it, nil) {
				return
			}
		}
		if !found {
			prefix := job.Src
			prefix.Key = maps[0].ListPrefix()
			yield(item{}, fmt.Errorf("%w %s: check the path, or the bucket and credentials", ErrNoObjects, prefix))
		}
	}
}

// mapItem maps one object to every destination.
func mapItem(obj objstore.Object, maps []chunk.Mapping) (item, error) {
	it := item{obj: obj}
	for _, m := range maps {
		k, err := m.Dest(obj.Key)
		if err != nil {
			return item{}, err
		}
		it.dstKeys = append(it.dstKeys, k)
	}
	return it, nil
}

// items yields a job's objects. A copy sends everything the listing names
// (on a resume, startObject skips what the interrupted run itself finished
// from the same source); only a sync compares with the destination.
func (r *run) items(js jobStores) iter.Seq2[item, error] {
	if !js.job.Sync {
		return copyItems(r.ctx, js.job, js.src)
	}
	return func(yield func(item, error) bool) {
		for op, err := range SyncOps(r.ctx, js.job.Src, js.job.Dsts[0], js.src, js.dsts[0], js.job.Delete) {
			if err != nil {
				yield(item{}, err)
				return
			}
			if op.Kind == "delete" {
				if err := js.dsts[0].Delete(r.ctx, op.DstKey); err != nil {
					yield(item{}, fmt.Errorf("sync --delete %s: %w", op.DstKey, err))
					return
				}
				r.mu.Lock()
				r.result.Deleted++
				r.mu.Unlock()
				continue
			}
			if !yield(item{obj: op.Src, dstKeys: []string{op.DstKey}}, nil) {
				return
			}
		}
	}
}

// Op is one step of a sync: copy a source object or delete a destination one.
type Op struct {
	Kind   string // "copy" or "delete"
	Reason string // "missing", "newer", "size differs", "extraneous"
	Src    objstore.Object
	DstKey string
}

// destPrefix is the destination prefix a recursive mapping writes under.
func destPrefix(dstKey string) string {
	p := strings.TrimRight(dstKey, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// SyncOps merge-joins the source and destination listings (both in key
// order) and yields what a sync does, holding one entry of each at a time.
func SyncOps(ctx context.Context, srcLoc, dstLoc objstore.Location, src, dst objstore.Store, del bool) iter.Seq2[Op, error] {
	return func(yield func(Op, error) bool) {
		m := chunk.NewMapping(srcLoc.Key, dstLoc.Key, true)
		sp, dp := m.ListPrefix(), destPrefix(dstLoc.Key)
		nextDst, stop := iter.Pull2(dst.List(ctx, dp))
		defer stop()
		var cur *objstore.Object
		advance := func() error {
			o, err, ok := nextDst()
			if err != nil {
				return fmt.Errorf("list destination %s: %w", dstLoc, err)
			}
			if !ok {
				cur = nil
				return nil
			}
			cur = &o
			return nil
		}
		if err := advance(); err != nil {
			yield(Op{}, err)
			return
		}
		found := false
		for s, err := range src.List(ctx, sp) {
			if err != nil {
				yield(Op{}, fmt.Errorf("list %s: %w", srcLoc, err))
				return
			}
			found = true
			rem := strings.TrimPrefix(s.Key, sp)
			if rem == "" {
				continue
			}
			// Destination entries before this one have no source: extraneous.
			for cur != nil && strings.TrimPrefix(cur.Key, dp) < rem {
				if del && !yield(Op{Kind: "delete", Reason: "extraneous", DstKey: cur.Key}, nil) {
					return
				}
				if err := advance(); err != nil {
					yield(Op{}, err)
					return
				}
			}
			key, _ := m.Dest(s.Key)
			op := Op{Kind: "copy", Src: s, DstKey: key}
			switch {
			case cur == nil || strings.TrimPrefix(cur.Key, dp) != rem:
				op.Reason = "missing"
			case cur.Size != s.Size:
				op.Reason = "size differs"
			case newer(s.ModTime, cur.ModTime):
				op.Reason = "newer"
			default:
				op.Kind = ""
			}
			if cur != nil && strings.TrimPrefix(cur.Key, dp) == rem {
				if err := advance(); err != nil {
					yield(Op{}, err)
					return
				}
			}
			if op.Kind != "" && !yield(op, nil) {
				return
			}
		}
		if !found {
			yield(Op{}, fmt.Errorf("%w %s: check the path, or the bucket and credentials", ErrNoObjects, srcLoc))
			return
		}
		for cur != nil {
			if del && !yield(Op{Kind: "delete", Reason: "extraneous", DstKey: cur.Key}, nil) {
				return
			}
			if err := advance(); err != nil {
				yield(Op{}, err)
				return
			}
		}
	}
}

// newer reports whether a source mtime is newer than its copy's, compared
// at the finest precision both timestamps carry: each is taken to keep the
// coarsest of second, millisecond, microsecond or nanosecond its value is a
// whole multiple of, and both are truncated to the coarser of the two. A
// store that keeps whole seconds (S3's Last-Modified) thus never makes a
// copy look older than a source with nanoseconds, while two stores that
// keep nanoseconds see an edit made 200 ms after the copy. Equal times are
// not newer.
func newer(src, dst time.Time) bool {
	p := max(precision(src), precision(dst))
	return src.Truncate(p).After(dst.Truncate(p))
}

func precision(t time.Time) time.Duration {
	ns := t.Nanosecond()
	for _, p := range []time.Duration{time.Second, time.Millisecond, time.Microsecond} {
		if ns%int(p) == 0 {
			return p
		}
	}
	return time.Nanosecond
}
