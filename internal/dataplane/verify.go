package dataplane

import (
	"bufio"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"os"
	"strings"
	"sync"

	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// ErrVerify: after the transfer, the destination lacks objects or has them
// at the wrong size or content.
var ErrVerify = errors.New("destination verification failed")

// ErrChecksum: a destination object's checksum, as its store reports it,
// differs from what the source gateways read (it also wraps ErrVerify).
var ErrChecksum = errors.New("destination checksum differs from the source")

// expectations spill what each destination must hold to disk, in dispatch
// order (= key order), so verifying a million objects needs no million
// entries in memory. An object's checksum is known only once it landed:
// entries wait in a queue in dispatch order and are written once every
// entry before them has landed too, so the queue holds at most the objects
// in flight.
type expectations struct {
	dir   string
	mu    sync.Mutex
	files map[[2]int]*expFile
}

type expFile struct {
	f       *os.File
	w       *bufio.Writer
	enc     *json.Encoder
	pending []*expEntry
	err     error
}

// expEntry is one object's expectation at one destination, until written.
type expEntry struct {
	ef    *expFile
	x     expected
	ready bool
}

type expected struct {
	Key  string `json:"k"`
	Size int64  `json:"s"`
	MD5  string `json:"m,omitempty"` // hex MD5 of a single-part object
	ETag string `json:"e,omitempty"` // S3-style ETag of a multipart object: md5(part MD5s)-N
}

// checksum is what the journal keeps of an expectation.
func (x expected) checksum() string {
	switch {
	case x.MD5 != "":
		return "md5:" + x.MD5
	case x.ETag != "":
		return "etag:" + x.ETag
	}
	return ""
}

func expectedFrom(key string, size int64, checksum string) expected {
	x := expected{Key: key, Size: size}
	if v, ok := strings.CutPrefix(checksum, "md5:"); ok {
		x.MD5 = v
	} else if v, ok := strings.CutPrefix(checksum, "etag:"); ok {
		x.ETag = v
	}
	return x
}

// multipartETag is the ETag an S3-style store gives an object completed from
// parts with these MD5s; "" when a part's MD5 is unknown.
func multipartETag(parts []objstore.Part) string {
	h := md5.New()
	for _, p := range parts {
		if len(p.MD5) != md5.Size {
			return ""
		}
		h.Write(p.MD5)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts))
}

// partCount is the "-N" of a multipart ETag, "" for any other.
func partCount(etag string) string {
	etag = strings.Trim(etag, `"`)
	if i := strings.LastIndexByte(etag, '-'); i == 2*md5.Size {
		return etag[i:]
	}
	return ""
}

func newExpectations(dir string) (*expectations, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create transfer directory: %w", err)
	}
	return &expectations{dir: dir, files: map[[2]int]*expFile{}}, nil
}

// add queues an object's expectation at one destination; settle fills in
// its checksum once it landed.
func (e *expectations) add(job, dst int, key string, size int64) (*expEntry, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ef := e.files[[2]int{job, dst}]
	if ef == nil {
		f, err := os.CreateTemp(e.dir, fmt.Sprintf("expected-%d-%d-*.jsonl", job, dst))
		if err != nil {
			return nil, fmt.Errorf("create verification list: %w", err)
		}
		w := bufio.NewWriter(f)
		ef = &expFile{f: f, w: w, enc: json.NewEncoder(w)}
		e.files[[2]int{job, dst}] = ef
	}
	if ef.err != nil {
		return nil, ef.err
	}
	x := &expEntry{ef: ef, x: expected{Key: key, Size: size}}
	ef.pending = append(ef.pending, x)
	return x, nil
}

// resize is a restarted object's new size (its checksum is not known yet).
func (e *expectations) resize(x *expEntry, size int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x.x.Size, x.x.MD5, x.x.ETag = size, "", ""
}

// settle records what landed and writes every leading entry that is ready.
func (e *expectations) settle(x *expEntry, md5Hex, etag string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x.x.MD5, x.x.ETag, x.ready = md5Hex, etag, true
	x.ef.flush(false)
}

func (ef *expFile) flush(all bool) {
	n := 0
	for ; n < len(ef.pending) && (all || ef.pending[n].ready); n++ {
		if ef.err == nil {
			if err := ef.enc.Encode(ef.pending[n].x); err != nil {
				ef.err = fmt.Errorf("write verification list: %w", err)
			}
		}
		ef.pending[n] = nil
	}
	ef.pending = ef.pending[n:]
}

// read yields one destination's expectations in the order they were added.
func (e *expectations) read(job, dst int) iter.Seq2[expected, error] {
	return func(yield func(expected, error) bool) {
		e.mu.Lock()
		ef := e.files[[2]int{job, dst}]
		var err error
		if ef != nil {
			ef.flush(true)
			err = ef.err
			if err == nil {
				err = ef.w.Flush()
			}
		}
		e.mu.Unlock()
		if ef == nil {
			return
		}
		if err != nil {
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

// verification counts how each object was checked and what was wrong.
type verification struct {
	byMD5, byETag, bySize int64
	bad                   []string
	wrong, badSums        int
}

// check compares one destination object with its expectation: by MD5 where
// the store reports a single-part object's MD5, by S3-style multipart ETag
// where the store reports one, by size otherwise.
func (v *verification) check(x expected, got *objstore.Object) {
	report := func(s string) {
		v.wrong++
		if len(v.bad) < maxReported {
			v.bad = append(v.bad, s)
		}
	}
	switch {
	case got == nil || got.Key != x.Key:
		report(x.Key + " (missing)")
	case got.Size != x.Size:
		report(fmt.Sprintf("%s (size %d, want %d)", x.Key, got.Size, x.Size))
	case x.MD5 != "" && len(got.MD5) == md5.Size:
		if hex.EncodeToString(got.MD5) != x.MD5 {
			v.badSums++
			report(fmt.Sprintf("%s (MD5 %x, the source read %s)", x.Key, got.MD5, x.MD5))
			return
		}
		v.byMD5++
	case x.ETag != "" && partCount(got.ETag) != "" && partCount(got.ETag) == partCount(x.ETag):
		if !strings.EqualFold(strings.Trim(got.ETag, `"`), x.ETag) {
			v.badSums++
			report(fmt.Sprintf("%s (ETag %s, the source parts make %s)", x.Key, got.ETag, x.ETag))
			return
		}
		v.byETag++
	default:
		v.bySize++
	}
}

// verify checks every destination holds every object it should, at the
// right size and, where the store can tell, the right content: a merge of
// the expectations with the destination listing, with a Head for anything
// the merge does not find (a store whose listing order differs from ours
// then costs requests, not correctness).
func (r *run) verify(ctx context.Context, stores []jobStores) error {
	var v verification
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
				if err != nil {
					break
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
				v.check(x, got)
			}
			stop()
			if err != nil {
				return fmt.Errorf("verify %s: %w", js.job.Dsts[di], err)
			}
		}
	}
	r.result.VerifiedMD5, r.result.VerifiedETag, r.result.VerifiedSize = v.byMD5, v.byETag, v.bySize
	if v.wrong > 0 {
		more := ""
		if v.wrong > len(v.bad) {
			more = fmt.Sprintf(" and %d more", v.wrong-len(v.bad))
		}
		err := fmt.Errorf("%w: %d object(s) wrong: %s%s", ErrVerify, v.wrong, strings.Join(v.bad, ", "), more)
		if v.badSums > 0 {
			err = fmt.Errorf("%w (%w)", err, ErrChecksum)
		}
		return err
	}
	return nil
}

// stats collects every gateway's counters (best effort).
func (d *Dataplane) stats(ctx context.Context) []control.Stats {
	var out []control.Stats
	for _, c := range d.allClients() {
		if s, err := c.Status(ctx); err == nil {
			out = append(out, s.Stats)
		}
	}
	return out
}

// wireDelta is what destination gateways received on the wire during this run.
func wireDelta(d *Dataplane, before, after []control.Stats) int64 {
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
func storeRetriesDelta(before, after []control.Stats) int64 {
	var n int64
	for _, s := range after {
		n += s.StoreRetries
	}
	for _, s := range before {
		n -= s.StoreRetries
	}
	return n
}
