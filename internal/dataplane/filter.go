package dataplane

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"iter"
	"path"
	"strings"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// MaxFilesFrom bounds a --files-from list: it is held in memory as a set
// while the listings stream past it.
const MaxFilesFrom = 1_000_000

// Filter selects the objects of a recursive copy or sync by their key
// relative to the source folder (the same relative key names the object
// at the destination). A key is selected when it matches an include
// pattern (or none are given), matches no exclude pattern, and is in the
// files-from list (when one is given).
//
// Patterns are matched against the whole relative key, "/" separated:
// "*" matches any run of characters within one path element, "?" one
// character, "[a-z]" a class (path.Match), and a "**" element any number of
// elements, none included. So "*.log" matches "a.log" only, "**/*.log"
// matches "a.log" and "x/y/a.log", and "tmp/**" everything under "tmp/".
type Filter struct {
	include, exclude [][]string
	keys             map[string]struct{}
}

// NewFilter checks the patterns and reads filesFrom (nil: no list), one
// relative key per line; empty lines are skipped.
func NewFilter(include, exclude []string, filesFrom io.Reader) (*Filter, error) {
	f := &Filter{}
	for _, set := range []struct {
		flag string
		in   []string
		out  *[][]string
	}{{"include pattern", include, &f.include}, {"exclude pattern", exclude, &f.exclude}} {
		for _, p := range set.in {
			elems := strings.Split(p, "/")
			for _, e := range elems {
				if _, err := path.Match(e, ""); err != nil {
					return nil, fmt.Errorf("%s %q: %w", set.flag, p, err)
				}
			}
			*set.out = append(*set.out, elems)
		}
	}
	if filesFrom != nil {
		f.keys = map[string]struct{}{}
		sc := bufio.NewScanner(filesFrom)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			key := strings.TrimSuffix(sc.Text(), "\r")
			if key == "" {
				continue
			}
			if len(f.keys) == MaxFilesFrom {
				return nil, fmt.Errorf("the key list has more than %d keys: split it into several runs, or select with include/exclude patterns", MaxFilesFrom)
			}
			f.keys[key] = struct{}{}
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read the key list: %w", err)
		}
	}
	return f, nil
}

// Match reports whether the filter selects the relative key rel.
func (f *Filter) Match(rel string) bool {
	if f.keys != nil {
		if _, ok := f.keys[rel]; !ok {
			return false
		}
	}
	key := strings.Split(rel, "/")
	for _, p := range f.exclude {
		if matchElems(p, key) {
			return false
		}
	}
	if len(f.include) == 0 {
		return true
	}
	for _, p := range f.include {
		if matchElems(p, key) {
			return true
		}
	}
	return false
}

// matchElems matches key elements against pattern elements, "**"
// standing for any number of key elements.
func matchElems(pat, key []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(key); i++ {
				if matchElems(pat[1:], key[i:]) {
					return true
				}
			}
			return false
		}
		if len(key) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], key[0]); !ok {
			return false
		}
		pat, key = pat[1:], key[1:]
	}
	return len(key) == 0
}

// filterJobStores hides what the job's filter does not select from the
// listings of its source and destinations: unselected source objects are
// not sent, and unselected destination objects are neither compared nor
// deleted by sync --delete.
func filterJobStores(job Job, src objstore.Store, dsts []objstore.Store) (objstore.Store, []objstore.Store) {
	if job.Filter == nil {
		return src, dsts
	}
	out := make([]objstore.Store, len(dsts))
	for i, d := range dsts {
		out[i] = filteredStore{Store: d, f: job.Filter, prefix: destPrefix(job.Dsts[i].Key)}
	}
	return filteredStore{Store: src, f: job.Filter, prefix: chunk.NewMapping(job.Src.Key, "", true).ListPrefix()}, out
}

// filteredStore is a store whose listing under prefix shows only what f
// selects; everything else passes through.
type filteredStore struct {
	objstore.Store
	f      *Filter
	prefix string
}

func (s filteredStore) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		for o, err := range s.Store.List(ctx, prefix) {
			if err == nil {
				if rel, ok := strings.CutPrefix(o.Key, s.prefix); ok && rel != "" && !s.f.Match(rel) {
					continue
				}
			}
			if !yield(o, err) {
				return
			}
		}
	}
}

// SweepStale keeps the wrapped store's sweep of dead writers' files.
func (s filteredStore) SweepStale(ctx context.Context, prefix string) error {
	if sw, ok := s.Store.(objstore.Sweeper); ok {
		return sw.SweepStale(ctx, prefix)
	}
	return nil
}

// CheckKey keeps the wrapped store's objstore.KeyChecker.
func (s filteredStore) CheckKey(key string) error {
	if kc, ok := s.Store.(objstore.KeyChecker); ok {
		return kc.CheckKey(key)
	}
	return nil
}
