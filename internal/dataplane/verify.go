package dataplane

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"path/filepath"
	"strings"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/gateway"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// ErrVerify: after the transfer, the destination lacks objects or has them
// at the wrong size.
var ErrVerify = errors.New("destination verification failed")

// expectations spill what each destination must hold to disk, in dispatch
// order (= key order), so verifying a million objects needs no million
// entries in memory.
type expectations struct {
	dir   string
	files map[[2]int]*expFile
}

type expFile struct {
	f   *os.File
	w   *bufio.Writer
	enc *json.Encoder
}

type expected struct {
	Key  string `json:"k"`
	Size int64  `json:"s"`
}

func newExpectations(dir string) (*expectations, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create transfer directory: %w", err)
	}
	return &expectations{dir: dir, files: map[[2]int]*expFile{}}, nil
}

func (e *expectations) add(job, dst int, key string, size int64) error {
	ef := e.files[[2]int{job, dst}]
	if ef == nil {
		f, err := os.CreateTemp(e.dir, fmt.Sprintf("expected-%d-%d-*.jsonl", job, dst))
		if err != nil {
			return fmt.Errorf("create verification list: %w", err)
		}
		w := bufio.NewWriter(f)
		ef = &expFile{f: f, w: w, enc: json.NewEncoder(w)}
		e.files[[2]int{job, dst}] = ef
	}
	return ef.enc.Encode(expected{Key: key, Size: size})
}

// read yields one destination's expectations in the order they were added.
func (e *expectations) read(job, dst int) iter.Seq2[expected, error] {
	return func(yield func(expected, error) bool) {
		ef := e.files[[2]int{job, dst}]
		if ef == nil {
			return
		}
		if err := ef.w.Flush(); err != nil {
			yield(expected{}, err)
			return
		}
		f, err := os.Open(ef.f.Name())
		if err != nil {
			yield(expected{}, err)
			return
		}
		defer f.Close()
		dec := json.NewDecoder(bufio.NewReader(f))
		for {
			var x expected
			if err := dec.Decode(&x); err != nil {
				if !errors.Is(err, io.EOF) {
					yield(expected{}, err)
				}
				return
			}
			if !yield(x, nil) {
				return
			}
		}
	}
}

func (e *expectations) close() {
	for _, ef := range e.files {
		ef.f.Close()
		os.Remove(ef.f.Name())
	}
}

// maxReported bounds how many bad keys a verification error names.
const maxReported = 20

// verify checks every destination holds every object it should, at the
// right size: a merge of the expectations with the destination listing,
// with a Head for anything the merge does not find (a store whose listing
// order differs from ours then costs requests, not correctness).
func (r *run) verify(ctx context.Context, stores []jobStores) error {
	var bad []string
	total := 0
	for ji, js := range stores {
		for di, dst := range js.dsts {
			prefix := js.job.Dsts[di].Key
			if js.job.Recursive || js.job.Sync {
				prefix = destPrefix(prefix)
			}
			markers := !dst.Features().NoFolderMarkers
			next, stop := iter.Pull2(dst.List(ctx, prefix))
			var cur *objstore.Object
			advance := func() error {
				o, err, ok := next()
				if err != nil {
					return err
				}
				cur = nil
				if ok {
					cur = &o
				}
				return nil
			}
			err := advance()
			for x, xerr := range r.expected.read(ji, di) {
				if err != nil {
					break
				}
				if xerr != nil {
					err = xerr
					break
				}
				if !markers && strings.HasSuffix(x.Key, "/") {
					continue // a directory here, not an object
				}
				for cur != nil && cur.Key < x.Key {
					if err = advance(); err != nil {
						break
					}
				}
				got := cur
				if got == nil || got.Key != x.Key {
					if o, herr := dst.Head(ctx, x.Key); herr == nil {
						got = &o
					} else if !errors.Is(herr, objstore.ErrNotFound) {
						err = herr
						break
					}
				}
				switch {
				case got == nil || got.Key != x.Key:
					total++
					if len(bad) < maxReported {
						bad = append(bad, fmt.Sprintf("%s (missing)", x.Key))
					}
				case got.Size != x.Size:
					total++
					if len(bad) < maxReported {
						bad = append(bad, fmt.Sprintf("%s (size %d, want %d)", x.Key, got.Size, x.Size))
					}
				}
			}
			stop()
			if err != nil {
				return fmt.Errorf("verify %s: %w", js.job.Dsts[di], err)
			}
		}
	}
	if total > 0 {
		more := ""
		if total > len(bad) {
			more = fmt.Sprintf(" and %d more", total-len(bad))
		}
		return fmt.Errorf("%w: %d object(s) wrong: %s%s", ErrVerify, total, strings.Join(bad, ", "), more)
	}
	return nil
}

// openStore opens a job's bucket on the client (listing, multipart
// initiate/complete/abort, verification) and names it for the gateways.
func (d *Dataplane) openStore(ctx context.Context, loc objstore.Location) (objstore.Store, chunk.Store, error) {
	ref := storeRef(loc, d.opts.Config)
	st, err := objstore.Open(ctx, loc, objstore.Options{Endpoint: ref.Endpoint, RequesterPays: ref.RequesterPays})
	if err != nil {
		return nil, ref, err
	}
	if err := st.BucketExists(ctx); err != nil {
		return nil, ref, fmt.Errorf("%s: %w", loc.BucketURL(), err)
	}
	return st, ref, nil
}

// storeRef names loc's bucket with the settings config gives its backend.
func storeRef(loc objstore.Location, cfg config.Config) chunk.Store {
	ref := chunk.Store{URL: loc.BucketURL().String(), RequesterPays: cfg.RequesterPays}
	if loc.Scheme == objstore.SchemeS3 {
		ref.Endpoint = cfg.S3EndpointFor(loc.Bucket)
	}
	return ref
}

// stats collects every gateway's counters (best effort).
func (d *Dataplane) stats(ctx context.Context) []gateway.Stats {
	var out []gateway.Stats
	for _, c := range d.allClients() {
		if s, err := c.Status(ctx); err == nil {
			out = append(out, s.Stats)
		}
	}
	return out
}

// wireDelta is what destination gateways received on the wire during this run.
func wireDelta(d *Dataplane, before, after []gateway.Stats) int64 {
	dst := map[string]bool{}
	for _, c := range d.clients("destination") {
		dst[c.ID] = true
	}
	var n int64
	for _, s := range after {
		if dst[s.ID] {
			n += s.WireBytesRecv
		}
	}
	for _, s := range before {
		if dst[s.ID] {
			n -= s.WireBytesRecv
		}
	}
	return n
}

// storeRetriesDelta is what every gateway's store retried during this run.
func storeRetriesDelta(before, after []gateway.Stats) int64 {
	var n int64
	for _, s := range after {
		n += s.StoreRetries
	}
	for _, s := range before {
		n -= s.StoreRetries
	}
	return n
}

// StatsFiles lists the final per-gateway stats files the gateways write at
// shutdown (in the dataplane directory).
func (d *Dataplane) StatsFiles() []string {
	m, _ := filepath.Glob(filepath.Join(d.opts.Dir, "*.stats.json"))
	return m
}
