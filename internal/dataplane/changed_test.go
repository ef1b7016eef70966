package dataplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/local"
)

// rewritingStore is the local store with pinned reads (Version = size and
// mtime, as the contract allows for local disk) that rewrites the file at
// key (same size, other bytes) on every `every`-th read of it, `rewrites`
// times in all: a source rewritten while its parts are in flight.
type rewritingStore struct {
	*local.Store
	key      string
	every    int
	rewrites int
	mu       sync.Mutex
	reads    int
	versions [][]byte // every content the file held, in order
}

func version(o objstore.Object) objstore.Object {
	o.Version = fmt.Sprintf("%d-%d", o.Size, o.ModTime.UnixNano())
	return o
}

func (s *rewritingStore) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		for o, err := range s.Store.List(ctx, prefix) {
			if !yield(version(o), err) {
				return
			}
		}
	}
}

func (s *rewritingStore) Head(ctx context.Context, key string) (objstore.Object, error) {
	o, err := s.Store.Head(ctx, key)
	return version(o), err
}

func (s *rewritingStore) ReadVersion(ctx context.Context, key, v string, offset, length int64) (io.ReadCloser, error) {
	if key == s.key {
		s.mu.Lock()
		s.reads++
		if s.reads%s.every == 0 && len(s.versions) <= s.rewrites {
			p := "/" + key
			old := s.versions[len(s.versions)-1]
			fresh := []byte(strings.Repeat(fmt.Sprintf("v%d,", len(s.versions)), len(old)))[:len(old)]
			// Replaced atomically, as an object store replaces objects: a
			// Head racing the rewrite must never see a truncated file.
			tmp := p + ".new"
			if err := os.WriteFile(tmp, fresh, 0o644); err != nil {
				s.mu.Unlock()
				return nil, err
			}
			at := time.Now().Add(time.Duration(len(s.versions)) * time.Second)
			_ = os.Chtimes(tmp, at, at)
			if err := os.Rename(tmp, p); err != nil {
				s.mu.Unlock()
				return nil, err
			}
			s.versions = append(s.versions, fresh)
		}
		s.mu.Unlock()
	}
	o, err := s.Head(ctx, key)
	if err != nil {
		return nil, err
	}
	if o.Version != v {
		return nil, fmt.Errorf("%s: %w", key, objstore.ErrChanged)
	}
	return s.Store.Read(ctx, key, offset, length)
}

// TestSourceRewrittenInFlight: a source object rewritten while its parts
// are in flight is started again from its new version (the destination
// holds the new version whole), or, when it keeps changing, fails with
// objstore.ErrChanged leaving no upload open; never a mix.
func TestSourceRewrittenInFlight(t *testing.T) {
	tests := []struct {
		name     string
		size     int
		every    int // rewrite on every n-th read
		rewrites int
		wantErr  bool
	}{
		{"striped, rewritten once", 6 << 20, 2, 1, false},
		// Every read finds a new version, so no attempt can finish
		// (rewriting every other read instead lets an attempt whose
		// reads all came before a stale attempt's rewrite finish whole:
		// correct, but not this case).
		{"striped, keeps changing", 6 << 20, 1, 100, true},
		{"whole object, rewritten once", 100, 2, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			p := filepath.Join(src, "obj")
			first := []byte(strings.Repeat("v0,", tt.size)[:tt.size])
			if err := os.WriteFile(p, first, 0o644); err != nil {
				t.Fatal(err)
			}
			st := &rewritingStore{Store: local.New("/"), key: rel(p), every: tt.every, rewrites: tt.rewrites, versions: [][]byte{first}}
			if tt.size < 1<<20 {
				st.reads = 1 // one chunk: rewrite on its first read
			}
			useStore(t, st)
			d := newTestDataplane(t, 1, 1)
			res, err := d.Run(context.Background(), resolved(d, Job{Src: loc(t, src), Dsts: []objstore.Location{loc(t, dst)}, Recursive: true}), nil)
			// A gateway read already under way when the run failed may
			// still come in: it must not write into src while the test's
			// temporary directories are removed.
			st.mu.Lock()
			st.rewrites = 0
			st.mu.Unlock()
			ups, _ := local.New(dst).ListMultipartUploads(context.Background(), "")
			if len(ups) != 0 {
				t.Errorf("uploads left open: %+v", ups)
			}
			got, rerr := os.ReadFile(filepath.Join(dst, "obj"))
			if tt.wantErr {
				if !errors.Is(err, objstore.ErrChanged) {
					t.Fatalf("err = %v, want ErrChanged (res %+v, reads %d, versions %d)", err, res, st.reads, len(st.versions))
				}
				if rerr == nil {
					t.Errorf("a failed copy left %d bytes at the destination", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := st.versions[len(st.versions)-1]
			if string(got) != string(want) {
				t.Errorf("destination is not the source's last version whole (%d versions)", len(st.versions))
			}
			if res.Restarted != 1 {
				t.Errorf("restarted %d objects, want 1", res.Restarted)
			}
		})
	}
}
