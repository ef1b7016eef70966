package dataplane

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// journal records, per job, the multipart uploads a transfer opened and the
// parts that landed, one JSON line each, so an interrupted transfer (Ctrl-C,
// a crash, a reboot) resumes without sending them again. Whole objects need
// no record: they are atomic, so the destination itself says which landed.
// It holds only uploads of objects in flight, never the listing.
type journal struct {
	path    string
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	uploads map[string]*journalUpload // dst index + key
	resumed bool                      // the journal existed: an earlier run was interrupted
}

type journalUpload struct {
	Bucket   string // destination bucket URL
	Dst      int    `json:"d"`
	Key      string `json:"k"`
	UploadID string `json:"u"`
	Size     int64  `json:"s"`
	Parts    map[int]objstore.Part
}

type journalRecord struct {
	Type     string `json:"t"` // "upload" or "part"
	Bucket   string `json:"b,omitempty"`
	Dst      int    `json:"d"`
	Key      string `json:"k"`
	UploadID string `json:"u"`
	Size     int64  `json:"s,omitempty"`
	Part     int    `json:"n,omitempty"`
	Offset   int64  `json:"o,omitempty"`
	ETag     string `json:"e,omitempty"`
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

// openJournal loads the job's journal if an earlier run left one, and opens
// it for appending.
func openJournal(dir string, job Job) (*journal, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create journal directory: %w", err)
	}
	j := &journal{path: filepath.Join(dir, journalID(job)+".jsonl"), uploads: map[string]*journalUpload{}}
	if b, err := os.Open(j.path); err == nil {
		j.resumed = true
		sc := bufio.NewScanner(b)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var r journalRecord
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				continue // a line torn by a crash
			}
			k := uploadKey(r.Dst, r.Key)
			switch r.Type {
			case "upload":
				j.uploads[k] = &journalUpload{Bucket: r.Bucket, Dst: r.Dst, Key: r.Key, UploadID: r.UploadID, Size: r.Size, Parts: map[int]objstore.Part{}}
			case "part":
				if u := j.uploads[k]; u != nil && u.UploadID == r.UploadID {
					u.Parts[r.Part] = objstore.Part{Number: r.Part, Offset: r.Offset, Size: r.Size, ETag: r.ETag}
				}
			}
		}
		b.Close()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	f, err := os.OpenFile(j.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	j.f, j.w = f, bufio.NewWriter(f)
	return j, nil
}

// record appends one line and flushes it: a crash loses at most the line
// being written.
func (j *journal) record(r journalRecord) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return
	}
	b, _ := json.Marshal(r)
	j.w.Write(append(b, '\n'))
	j.w.Flush()
}

// upload returns the journalled open upload of (dst, key) for an object of
// this size, if any.
func (j *journal) upload(dst int, key string, size int64) *journalUpload {
	j.mu.Lock()
	defer j.mu.Unlock()
	if u := j.uploads[uploadKey(dst, key)]; u != nil && u.Size == size {
		return u
	}
	return nil
}

// openUploads lists every upload the journal knows (for cleanup).
func (j *journal) openUploads() []*journalUpload {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*journalUpload
	for _, u := range j.uploads {
		out = append(out, u)
	}
	return out
}

// close keeps the journal for a later run (interrupted).
func (j *journal) close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f != nil {
		j.w.Flush()
		j.f.Close()
		j.f = nil
	}
}

// remove closes and deletes the journal (done, or failed for good).
func (j *journal) remove() {
	j.close()
	os.Remove(j.path)
}

// JournalUpload is a multipart upload an interrupted transfer kept open.
type JournalUpload struct{ Bucket, Key, UploadID string }

// Journals lists the journals of interrupted transfers in dir, with the
// uploads each kept open (what `skyplane deprovision` cleans up).
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
		j := &journal{path: path, uploads: map[string]*journalUpload{}}
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var r journalRecord
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Type == "upload" {
				j.uploads[uploadKey(r.Dst, r.Key)] = &journalUpload{Bucket: r.Bucket, Dst: r.Dst, Key: r.Key, UploadID: r.UploadID, Size: r.Size}
			}
		}
		f.Close()
		var ups []JournalUpload
		for _, u := range j.uploads {
			ups = append(ups, JournalUpload{Bucket: u.Bucket, Key: u.Key, UploadID: u.UploadID})
		}
		out[path] = ups
	}
	return out, nil
}
