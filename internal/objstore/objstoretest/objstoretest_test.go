package objstoretest

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"iter"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// memStore is a flat, S3-like store: it checks that the suite holds for a
// backend with folder markers and none of the local disk's quirks.
type memStore struct {
	mu      sync.Mutex
	objs    map[string][]byte
	uploads map[string]map[int][]byte // uploadID -> parts
	keyOf   map[string]string         // uploadID -> key
	mtime   map[string]time.Time
}

func newMem() *memStore {
	return &memStore{objs: map[string][]byte{}, uploads: map[string]map[int][]byte{}, keyOf: map[string]string{}, mtime: map[string]time.Time{}}
}

func (m *memStore) URL() string                            { return "mem://bucket" }
func (m *memStore) Features() objstore.Features            { return objstore.Features{} }
func (m *memStore) BucketExists(ctx context.Context) error { return nil }

func (m *memStore) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		m.mu.Lock()
		var ks []string
		for k := range m.objs {
			if strings.HasPrefix(k, prefix) {
				ks = append(ks, k)
			}
		}
		m.mu.Unlock()
		sort.Strings(ks)
		for _, k := range ks {
			o, err := m.Head(ctx, k)
			if err != nil {
				continue
			}
			if !yield(o, nil) {
				return
			}
		}
	}
}

func (m *memStore) Head(ctx context.Context, key string) (objstore.Object, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objs[key]
	if !ok {
		return objstore.Object{}, fmt.Errorf("mem: %q: %w", key, objstore.ErrNotFound)
	}
	h := md5.Sum(b)
	return objstore.Object{Key: key, Size: int64(len(b)), ModTime: m.mtime[key], MD5: h[:], Version: hex.EncodeToString(h[:])}, nil
}

// ReadVersion pins reads to the content's MD5, which is its version here.
func (m *memStore) ReadVersion(ctx context.Context, key, version string, off, n int64) (io.ReadCloser, error) {
	o, err := m.Head(ctx, key)
	if err != nil {
		return nil, err
	}
	if o.Version != version {
		return nil, fmt.Errorf("mem: %q is no longer version %s: %w", key, version, objstore.ErrChanged)
	}
	return m.Read(ctx, key, off, n)
}

func (m *memStore) Read(ctx context.Context, key string, off, n int64) (io.ReadCloser, error) {
	m.mu.Lock()
	b, ok := m.objs[key]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("mem: %q: %w", key, objstore.ErrNotFound)
	}
	if off < 0 || off > int64(len(b)) {
		return nil, fmt.Errorf("mem: %q: bad range", key)
	}
	b = b[off:]
	if n >= 0 && n < int64(len(b)) {
		b = b[:n]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func readChecked(r io.Reader, size int64, want []byte) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, size))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("mem: short body")
	}
	if h := md5.Sum(b); want != nil && !bytes.Equal(h[:], want) {
		return nil, objstore.ErrChecksumMismatch
	}
	return b, nil
}

func (m *memStore) Write(ctx context.Context, key string, r io.Reader, size int64, sum []byte) error {
	b, err := readChecked(r, size, sum)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objs[key] = b
	m.mtime[key] = time.Now()
	return nil
}

func (m *memStore) InitiateMultipart(ctx context.Context, key string) (string, error) {
	var b [8]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploads[id] = map[int][]byte{}
	m.keyOf[id] = key
	return id, nil
}

func (m *memStore) UploadPart(ctx context.Context, key, id string, p objstore.Part, r io.Reader) (string, error) {
	b, err := readChecked(r, p.Size, p.MD5)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.uploads[id]
	if !ok || m.keyOf[id] != key {
		return "", objstore.ErrUploadNotFound
	}
	u[p.Number] = b
	h := md5.Sum(b)
	return hex.EncodeToString(h[:]), nil
}

func (m *memStore) CompleteMultipart(ctx context.Context, key, id string, parts []objstore.Part) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.uploads[id]
	if !ok || m.keyOf[id] != key {
		return objstore.ErrUploadNotFound
	}
	var all []byte
	for _, p := range parts {
		b, ok := u[p.Number]
		if !ok {
			return fmt.Errorf("mem: part %d missing", p.Number)
		}
		all = append(all, b...)
	}
	m.objs[key] = all
	m.mtime[key] = time.Now()
	delete(m.uploads, id)
	delete(m.keyOf, id)
	return nil
}

func (m *memStore) AbortMultipart(ctx context.Context, key, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.uploads, id)
	delete(m.keyOf, id)
	return nil
}

func (m *memStore) ListMultipartUploads(ctx context.Context, prefix string) ([]objstore.Upload, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ups []objstore.Upload
	for id, k := range m.keyOf {
		if strings.HasPrefix(k, prefix) {
			ups = append(ups, objstore.Upload{Key: k, UploadID: id})
		}
	}
	slices.SortFunc(ups, func(a, b objstore.Upload) int { return strings.Compare(a.Key, b.Key) })
	return ups, nil
}

func (m *memStore) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

func TestRunOnMemStore(t *testing.T) {
	Run(t, func(t *testing.T) objstore.Store { return newMem() })
}

func TestNoFolderMarkersSkips(t *testing.T) {
	var o options
	NoFolderMarkers()(&o)
	if !o.noFolderMarkers {
		t.Fatal("NoFolderMarkers did not set the option")
	}
}
