package dataplane

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// journalVersion is the record format this build writes and reads. A
// journal of any other version is set aside, never read with the wrong
// meaning.
const journalVersion = 2

// journalSyncEvery bounds how long a landed part's or finished object's
// record waits before it is written and fsynced: they are batched (one
// write per object would slow the tracking of small objects), and losing
// the last batch only sends those parts or objects again. Uploads and
// aborts are written and synced at once.
const journalSyncEvery = 200 * time.Millisecond

// ErrJournalLocked: another live run of the same transfer holds its journal.
var ErrJournalLocked = errors.New("transfer journal is locked by another run")

// journal records, per job, what an interrupted transfer (Ctrl-C, a crash,
// a reboot) may resume from: the multipart uploads it opened, each part that
// landed with its MD5, and each object it finished at a destination, every
// one with the identity of the source it was read from (size, mtime,
// version, ETag, MD5). A resume reuses only what was written from the same
// source identity. The file is locked (flock) while a run uses it.
type journal struct {
	path    string
	log     *slog.Logger
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	dirty   bool
	err     error                     // the first write or sync error: the journal no longer says the truth
	uploads map[string]*journalUpload // dst index + key
	done    map[[16]byte]doneEntry    // hash of (dst index, key) → what was written there
	reused  map[*journalUpload]bool
	resumed bool // the journal existed: an earlier run was interrupted
	run     int  // this run's number: 1 + the runs the journal saw before
	stop    chan struct{}
	stopped chan struct{}
}

// srcID is the identity of the source content an upload or object came
// from: a resume trusts a record only when the source still matches it.
type srcID struct {
	Size    int64  `json:"s"`
	ModTime int64  `json:"mt,omitempty"` // unix nanoseconds
	Version string `json:"v,omitempty"`
	ETag    string `json:"et,omitempty"`
	MD5     string `json:"m5,omitempty"`
}

func identity(o objstore.Object) srcID {
	id := srcID{Size: o.Size, Version: o.Version, ETag: o.ETag, MD5: hex.EncodeToString(o.MD5)}
	if !o.ModTime.IsZero() {
		id.ModTime = o.ModTime.UnixNano()
	}
	return id
}

type journalUpload struct {
	Bucket   string // destination bucket URL
	Dst      int
	Key      string
	UploadID string
	Src      srcID
	Parts    map[int]objstore.Part
}

type doneEntry struct {
	src srcID
	exp expected // what verification expects of it
}

type journalRecord struct {
	Type     string `json:"t"` // "journal", "upload", "part", "abort", "done"
	Version  int    `json:"v,omitempty"`
	Run      int    `json:"r,omitempty"` // the run (attempt at the transfer) that wrote it
	Bucket   string `json:"b,omitempty"`
	Dst      int    `json:"d"`
	Key      string `json:"k,omitempty"`
	UploadID string `json:"u,omitempty"`
	Src      *srcID `json:"src,omitempty"`
	Part     int    `json:"n,omitempty"`
	Offset   int64  `json:"o,omitempty"`
	Size     int64  `json:"s,omitempty"`
	ETag     string `json:"e,omitempty"`
	MD5      string `json:"m,omitempty"` // part MD5 (hex) as the source gateway computed it
	Expected string `json:"x,omitempty"` // done: the expected checksum ("md5:<hex>" or "etag:<etag>")
	Time     int64  `json:"ts,omitempty"`
}

// JournalDir is where journals live under the state directory.
func JournalDir(stateDir string) string { return filepath.Join(stateDir, "journals") }

// journalID names a job's journal: the same command gets the same journal.
func journalID(job Job) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%t\x00%t\x00%t", job.Src, job.Recursive, job.Sync, job.Delete)
	for _, d := range job.Dsts {
		fmt.Fprintf(h, "\x00%s", d)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

func uploadKey(dst int, key string) string { return strconv.Itoa(dst) + "\x00" + key }

func doneKey(dst int, key string) [16]byte {
	s := sha256.Sum256([]byte(uploadKey(dst, key)))
	return [16]byte(s[:16])
}

// errSetAside: the journal cannot be read as this version's; the caller
// moves it away and starts afresh.
var errSetAside = errors.New("journal of another format")

// openJournal locks the job's journal, loads it if an earlier run left one,
// and opens it for appending.
func openJournal(dir string, job Job, log *slog.Logger) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create journal directory: %w", err)
	}
	j := &journal{path: filepath.Join(dir, journalID(job)+".jsonl"), log: log,
		uploads: map[string]*journalUpload{}, done: map[[16]byte]doneEntry{}, reused: map[*journalUpload]bool{}}
	f, err := os.OpenFile(j.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal %s: %w", j.path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s; the same transfer is running now (wait for it, or stop it and rerun to resume)", ErrJournalLocked, j.path)
		}
		return nil, fmt.Errorf("lock journal %s: %w", j.path, err)
	}
	j.f = f
	if err := j.load(); errors.Is(err, errSetAside) {
		aside := fmt.Sprintf("%s.set-aside-%d.jsonl", j.path[:len(j.path)-len(".jsonl")], time.Now().UnixNano())
		if rerr := os.Rename(j.path, aside); rerr != nil {
			f.Close()
			return nil, fmt.Errorf("set aside unreadable journal %s: %w", j.path, rerr)
		}
		// The lock stays with the renamed file's descriptor: open a fresh one.
		f.Close()
		log.Warn("set aside a journal this version cannot resume from: everything is sent again; `skyplane deprovision` aborts the uploads it names",
			"journal", aside, "reason", err)
		return openJournal(dir, job, log)
	} else if err != nil {
		f.Close()
		return nil, fmt.Errorf("read journal %s: %w (move it away to start the transfer afresh)", j.path, err)
	}
	j.w = bufio.NewWriterSize(f, 64<<10)
	j.run++
	if err := j.append(journalRecord{Type: "journal", Version: journalVersion, Run: j.run, Time: time.Now().UnixNano()}, true); err != nil {
		f.Close()
		return nil, err
	}
	j.stop, j.stopped = make(chan struct{}), make(chan struct{})
	go j.syncer()
	return j, nil
}

// load reads what an earlier run recorded. The first record must be this
// version's header; a line torn by a crash may only be the last one.
func (j *journal) load() error {
	if _, err := j.f.Seek(0, 0); err != nil {
		return err
	}
	sc := bufio.NewScanner(j.f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lines, torn := 0, false
	for sc.Scan() {
		var r journalRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			torn = true
			continue
		}
		if torn {
			return fmt.Errorf("%w: an unreadable line before line %d", errSetAside, lines+1)
		}
		lines++
		if lines == 1 && (r.Type != "journal" || r.Version != journalVersion) {
			return fmt.Errorf("%w: format %d, this version reads %d", errSetAside, r.Version, journalVersion)
		}
		if r.Type == "journal" {
			j.run = max(j.run, r.Run)
		}
		j.apply(r)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	j.resumed = lines > 0
	return nil
}

func (j *journal) apply(r journalRecord) {
	k := uploadKey(r.Dst, r.Key)
	switch r.Type {
	case "upload":
		if r.Src != nil {
			j.uploads[k] = &journalUpload{Bucket: r.Bucket, Dst: r.Dst, Key: r.Key, UploadID: r.UploadID, Src: *r.Src, Parts: map[int]objstore.Part{}}
		}
	case "part":
		if u := j.uploads[k]; u != nil && u.UploadID == r.UploadID {
			md5, _ := hex.DecodeString(r.MD5)
			u.Parts[r.Part] = objstore.Part{Number: r.Part, Offset: r.Offset, Size: r.Size, ETag: r.ETag, MD5: md5}
		}
	case "abort":
		if u := j.uploads[k]; u != nil && u.UploadID == r.UploadID {
			delete(j.uploads, k)
		}
	case "done":
		if u := j.uploads[k]; u != nil && u.UploadID == r.UploadID {
			delete(j.uploads, k) // completed: nothing left to abort
		}
		if r.Src != nil {
			j.done[doneKey(r.Dst, r.Key)] = doneEntry{src: *r.Src, exp: expectedFrom(r.Key, r.Src.Size, r.Expected)}
		}
	}
}

// append writes one record; sync forces it to disk before returning (an
// upload the store holds must never be missing from the journal).
func (j *journal) append(r journalRecord, sync bool) error {
	if j.err != nil {
		return j.err
	}
	b, err := json.Marshal(r)
	if err == nil {
		_, err = j.w.Write(append(b, '\n'))
	}
	if err == nil && sync {
		err = j.w.Flush()
	}
	if err == nil && sync {
		err = j.f.Sync()
	}
	if err != nil {
		j.err = fmt.Errorf("write journal %s: %w", j.path, err)
		return j.err
	}
	j.dirty = !sync
	return nil
}

// record appends one record (synced at once when sync, else within
// journalSyncEvery). An error means the journal can no longer be trusted to
// resume from: callers fail the transfer.
func (j *journal) record(r journalRecord, sync bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return errors.New("journal closed")
	}
	r.Run = j.run
	return j.append(r, sync)
}

func (j *journal) syncer() {
	defer close(j.stopped)
	t := time.NewTicker(journalSyncEvery)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
		}
		j.mu.Lock()
		if j.dirty && j.f != nil && j.err == nil {
			err := j.w.Flush()
			if err == nil {
				err = j.f.Sync()
			}
			if err != nil {
				j.err = fmt.Errorf("sync journal %s: %w", j.path, err)
			}
			j.dirty = false
		}
		j.mu.Unlock()
	}
}

// failed is the first write or sync error, if any.
func (j *journal) failed() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// upload returns the journalled upload of (dst, key), if any, whatever its
// source: the caller compares identities.
func (j *journal) upload(dst int, key string) *journalUpload {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.uploads[uploadKey(dst, key)]
}

// reuse marks an upload as continued by this run.
func (j *journal) reuse(u *journalUpload) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.reused[u] = true
}

// dropped records that an upload of the interrupted run was aborted.
func (j *journal) dropped(u *journalUpload) error { return j.aborted(u.Dst, u.Key, u.UploadID) }

// aborted records that an upload (of this run or the interrupted one) was
// aborted, synced at once.
func (j *journal) aborted(dst int, key, uploadID string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	k := uploadKey(dst, key)
	if u := j.uploads[k]; u != nil && u.UploadID == uploadID {
		delete(j.uploads, k)
	}
	if j.f == nil {
		return errors.New("journal closed")
	}
	r := journalRecord{Type: "abort", Dst: dst, Key: key, UploadID: uploadID, Run: j.run}
	return j.append(r, true)
}

// unreused lists the journalled uploads this run did not continue.
func (j *journal) unreused() []*journalUpload {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*journalUpload
	for _, u := range j.uploads {
		if !j.reused[u] {
			out = append(out, u)
		}
	}
	return out
}

// doneFrom reports whether the interrupted run finished key at destination
// dst from this very source identity, and what it expected there.
func (j *journal) doneFrom(dst int, key string, id srcID) (expected, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	d, ok := j.done[doneKey(dst, key)]
	return d.exp, ok && d.src == id
}

// close syncs and unlocks the journal, keeping it for a later run.
func (j *journal) close() error {
	if j.stop != nil {
		close(j.stop)
		<-j.stopped
		j.stop = nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return j.err
	}
	if j.err == nil {
		if err := j.w.Flush(); err != nil {
			j.err = fmt.Errorf("write journal %s: %w", j.path, err)
		} else if err := j.f.Sync(); err != nil {
			j.err = fmt.Errorf("sync journal %s: %w", j.path, err)
		}
	}
	j.f.Close() // releases the lock
	j.f = nil
	return j.err
}

// remove deletes the journal (done, or failed for good) while still holding
// its lock, so no second run reads it half-removed.
func (j *journal) remove() error {
	err := os.Remove(j.path)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	j.close()
	if err != nil {
		return fmt.Errorf("remove journal: %w", err)
	}
	return nil
}

// JournalUpload is a multipart upload an interrupted transfer kept open.
type JournalUpload struct{ Bucket, Key, UploadID string }

// Journals lists the journals of interrupted transfers in dir, with the
// uploads each kept open (what `skyplane deprovision` cleans up). Journals
// locked by a live run are left out, and so are their uploads. Only
// "upload", "abort" and "done" records are read, whose fields every format
// shares, so set-aside journals are cleaned up too.
func Journals(dir string) (map[string][]JournalUpload, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	out := map[string][]JournalUpload{}
	for _, e := range entries {
		if filepath.Ext(e.Name()) != ".jsonl" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		ups, err := journalUploads(path)
		if errors.Is(err, ErrJournalLocked) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[path] = ups
	}
	return out, nil
}

func journalUploads(path string) ([]JournalUpload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrJournalLocked, path)
	}
	open := map[string]*JournalUpload{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r journalRecord
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue // a torn line: it names no upload the others do not
		}
		k := uploadKey(r.Dst, r.Key)
		switch r.Type {
		case "upload":
			open[k] = &JournalUpload{Bucket: r.Bucket, Key: r.Key, UploadID: r.UploadID}
		case "abort", "done":
			if u := open[k]; u != nil && u.UploadID == r.UploadID {
				delete(open, k)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read journal %s: %w", path, err)
	}
	var ups []JournalUpload
	for _, u := range open {
		ups = append(ups, *u)
	}
	return ups, nil
}
