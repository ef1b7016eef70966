package dataplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/planner"
)

// synthStore serves n generated zero-byte objects under gen/ and records
// writes under sink/ in a bitmap, so a 100,000-object transfer needs no
// 100,000 files and the test can see what a listing would have held.
type synthStore struct {
	n       int
	mu      sync.Mutex
	written []bool
}

func (s *synthStore) index(key, prefix string) (int, bool) {
	i, err := strconv.Atoi(strings.TrimPrefix(key, prefix))
	return i, err == nil && strings.HasPrefix(key, prefix) && i >= 0 && i < s.n
}

func (s *synthStore) URL() string                          { return "file:///" }
func (s *synthStore) Features() objstore.Features          { return objstore.Features{} }
func (s *synthStore) BucketExists(context.Context) error   { return nil }
func (s *synthStore) Delete(context.Context, string) error { return nil }
func (s *synthStore) key(prefix string, i int) string      { return fmt.Sprintf("%s%07d", prefix, i) }
func (s *synthStore) InitiateMultipart(context.Context, string) (string, error) {
	return "", objstore.ErrNotSupported
}
func (s *synthStore) UploadPart(context.Context, string, string, objstore.Part, io.Reader) (string, error) {
	return "", objstore.ErrNotSupported
}
func (s *synthStore) CompleteMultipart(context.Context, string, string, []objstore.Part) error {
	return objstore.ErrNotSupported
}
func (s *synthStore) AbortMultipart(context.Context, string, string) error { return nil }
func (s *synthStore) ListMultipartUploads(context.Context, string) ([]objstore.Upload, error) {
	return nil, nil
}

func (s *synthStore) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		for i := range s.n {
			switch prefix {
			case "gen/":
			case "sink/":
				s.mu.Lock()
				w := s.written[i]
				s.mu.Unlock()
				if !w {
					continue
				}
			default:
				return
			}
			if !yield(objstore.Object{Key: s.key(prefix, i), ModTime: time.Unix(0, 0)}, nil) {
				return
			}
		}
	}
}

func (s *synthStore) Head(_ context.Context, key string) (objstore.Object, error) {
	if _, ok := s.index(key, "gen/"); ok {
		return objstore.Object{Key: key}, nil
	}
	if i, ok := s.index(key, "sink/"); ok {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.written[i] {
			return objstore.Object{Key: key}, nil
		}
	}
	return objstore.Object{}, objstore.ErrNotFound
}

func (s *synthStore) Read(context.Context, string, int64, int64) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(nil)), nil
}

func (s *synthStore) Write(_ context.Context, key string, r io.Reader, size int64, _ []byte) error {
	i, ok := s.index(key, "sink/")
	if !ok || size != 0 {
		return fmt.Errorf("synthetic sink: unexpected write %s (%d bytes)", key, size)
	}
	s.mu.Lock()
	s.written[i] = true
	s.mu.Unlock()
	return nil
}

// TestHundredThousandObjectsStream: a 100,000-object listing flows through
// real gateways while the client tracks only a bounded window of objects.
func TestHundredThousandObjectsStream(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 objects: not in -short mode")
	}
	const n = 100_000
	st := &synthStore{n: n, written: make([]bool, n)}
	objstore.Register(objstore.SchemeLocal, func(context.Context, objstore.Location, objstore.Options) (objstore.Store, error) { return st, nil })
	t.Cleanup(restoreLocal)
	plan, _ := planner.Direct("local:src", []string{"local:dst"}, 1)
	cfg := testConfig()
	cfg.Compress, cfg.EncryptE2E = false, false
	d, err := New(plan, Options{Config: cfg, Provider: &inproc{}, Dir: t.TempDir(), Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Deprovision(context.Background())
	res, err := d.Run(context.Background(), resolved(d, Job{Src: loc(t, "/gen"), Dsts: []objstore.Location{loc(t, "/sink")}, Recursive: true}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != n {
		t.Fatalf("objects = %d, want %d", res.Objects, n)
	}
	for i, w := range st.written {
		if !w {
			t.Fatalf("object %d never written", i)
		}
	}
	// The run's window (maxObjectsInFlight) is the bound, whatever the
	// gateway queues or the machine's load.
	if res.PeakInFlight > maxObjectsInFlight {
		t.Errorf("tracked up to %d objects at once: the listing did not stream", res.PeakInFlight)
	}
	t.Logf("100,000 objects, at most %d in flight, %s", res.PeakInFlight, res.Duration)
}
