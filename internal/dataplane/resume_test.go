package dataplane

import (
	"context"
	"errors"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/local"
	"github.com/skyplane-project/skyplane-go/internal/planner"
)

// errPage2 is what faultyStore's listing fails with.
var errPage2 = errors.New("injected: listing page 2 failed")

// faultyStore is the local store whose listings under a prefix fail after
// the first `after` entries (a store failing its second page).
type faultyStore struct {
	*local.Store
	under string
	after int
}

func (f *faultyStore) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		n := 0
		for o, err := range f.Store.List(ctx, prefix) {
			if strings.HasPrefix(prefix, f.under) && n == f.after {
				yield(objstore.Object{}, objstore.Retryable(errPage2))
				return
			}
			n++
			if !yield(o, err) {
				return
			}
		}
	}
}

func useStore(t *testing.T, st objstore.Store) {
	objstore.Register(objstore.SchemeLocal, func(context.Context, objstore.Location, objstore.Options) (objstore.Store, error) { return st, nil })
	t.Cleanup(restoreLocal)
}

// rel is a local path as a key of the store opened at "/".
func rel(p string) string { return strings.TrimPrefix(p, "/") }

// TestListingErrorsAreNeverLost: a listing that fails part way (the source
// of a copy or sync, the destination of a sync --delete) fails the run; no
// result claims a complete transfer.
func TestListingErrorsAreNeverLost(t *testing.T) {
	tests := []struct {
		name string
		sync bool
		// fails names the listing that breaks: "src" or "dst".
		fails string
		// extras are destination-only files (deleted by sync --delete).
		extras int
	}{
		{"cp source page 2", false, "src", 0},
		{"sync source page 2", true, "src", 0},
		{"sync --delete destination page 2", true, "dst", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, dst := t.TempDir(), t.TempDir()
			writeTree(t, src, 8, func(i int) int { return 100 + i })
			for i := range tt.extras {
				writeTree(t, filepath.Join(dst, "zz", string(rune('a'+i))), 1, func(int) int { return 5 })
			}
			under := rel(src)
			if tt.fails == "dst" {
				under = rel(dst)
			}
			useStore(t, &faultyStore{Store: local.New("/"), under: under, after: 3})
			job := Job{Src: loc(t, src), Dsts: []objstore.Location{loc(t, dst)}, Recursive: true, Sync: tt.sync, Delete: tt.sync}
			// One dataplane for every run, as a library user keeps one: a
			// failed run must leave it fit for the next (gateways forget
			// the status events a run read; the next run starts there).
			d := newTestDataplane(t, 1, 1)
			for range 5 { // the race this guards against was intermittent
				res, err := d.Run(context.Background(), resolved(d, job), nil)
				if !errors.Is(err, errPage2) || res != nil {
					t.Fatalf("run = %+v, %v; want the listing error and no result", res, err)
				}
			}
			// And the same dataplane then copies what no fault touches.
			src2, dst2 := t.TempDir(), t.TempDir()
			files := writeTree(t, src2, 5, func(i int) int { return 10 + i })
			ok := Job{Src: loc(t, src2), Dsts: []objstore.Location{loc(t, dst2)}, Recursive: true}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			res, err := d.Run(ctx, resolved(d, ok), nil)
			if err != nil || res.Objects != 5 {
				t.Fatalf("clean run after failed ones = %+v, %v", res, err)
			}
			checkTree(t, dst2, files)
		})
	}
}

// TestResumeAfterSourceChanged: a run cancelled midway keeps its uploads;
// the source is rewritten (same sizes, other bytes); the rerun aborts the
// stale uploads and the destination equals the new source.
func TestResumeAfterSourceChanged(t *testing.T) {
	src, dst, journals := t.TempDir(), t.TempDir(), t.TempDir()
	writeTree(t, src, 3, func(int) int { return 8 << 20 })
	job := Job{Src: loc(t, src), Dsts: []objstore.Location{loc(t, dst)}, Recursive: true}
	run := runner(t, journals, job)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := run(ctx, control.TestHooks{FrameDelayMS: 100}, func(p Progress) {
		if p.BytesTotal > 0 && p.BytesDone >= p.BytesTotal/2 {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("cancelled run succeeded")
	}
	before, err := local.New(dst).ListMultipartUploads(context.Background(), "")
	if err != nil || len(before) == 0 {
		t.Fatalf("no upload kept for the resume (%v)", err)
	}
	// Same sizes, other bytes, and an mtime older than the copy's.
	files := writeTree(t, src, 3, func(int) int { return 8 << 20 })
	for rel, c := range files {
		files[rel] = strings.ToUpper(c[:1]) + "#" + c[2:]
		if err := os.WriteFile(filepath.Join(src, rel), []byte(files[rel]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, err := run(context.Background(), control.TestHooks{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dst, files)
	if res.Bytes != 3*8<<20 {
		t.Errorf("rerun sent %d bytes; every stale part should go again (%d)", res.Bytes, 3*8<<20)
	}
	if ups, _ := local.New(dst).ListMultipartUploads(context.Background(), ""); len(ups) != 0 {
		t.Errorf("uploads left open: %+v", ups)
	}
	if m, _ := filepath.Glob(filepath.Join(journals, "*")); len(m) != 0 {
		t.Errorf("journal left after success: %v", m)
	}
}

func runner(t *testing.T, journals string, job Job) func(context.Context, control.TestHooks, func(Progress)) (*Result, error) {
	return func(ctx context.Context, hooks control.TestHooks, progress func(Progress)) (*Result, error) {
		plan, _ := planner.Direct("local:src", []string{"local:dst"}, 1)
		d, err := New(plan, Options{Config: testConfig(), Provider: &inproc{}, Dir: t.TempDir(), JournalDir: journals, Log: quietLog(), Test: hooks})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Provision(context.Background()); err != nil {
			t.Fatal(err)
		}
		defer d.Deprovision(context.Background())
		return d.Run(ctx, resolved(d, job), progress)
	}
}

// TestResumedCopyOverwritesForeignFiles: while a journal exists, a re-run
// cp still overwrites a destination file it never wrote, even one of the
// same size and newer; it skips only what the interrupted run finished.
func TestResumedCopyOverwritesForeignFiles(t *testing.T) {
	src, dst, journals := t.TempDir(), t.TempDir(), t.TempDir()
	files := writeTree(t, src, 6, func(i int) int { return 1000 + i })
	gate := &gatedStore{Store: local.New("/"), after: 2, release: make(chan struct{})}
	useStore(t, gate)
	job := Job{Src: loc(t, src), Dsts: []objstore.Location{loc(t, dst)}, Recursive: true}
	run := runner(t, journals, job)
	ctx, cancel := context.WithCancel(context.Background())
	_, err := run(ctx, control.TestHooks{}, func(p Progress) {
		if p.ObjectsDone == 2 {
			cancel()
		}
	})
	if err == nil {
		t.Fatal("cancelled run succeeded")
	}
	close(gate.release)
	// A file skyplane did not write, same size, newer than the source.
	var foreign string
	for k := range files {
		if _, err := os.Stat(filepath.Join(dst, k)); err != nil {
			foreign = k
			break
		}
	}
	if foreign == "" {
		t.Fatal("the interrupted run copied everything")
	}
	p := filepath.Join(dst, foreign)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(strings.Repeat("x", len(files[foreign]))), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := run(context.Background(), control.TestHooks{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dst, files)
	if res.Objects != 4 {
		t.Errorf("rerun copied %d objects, want the 4 the interrupted run did not finish", res.Objects)
	}
}

// TestJournalFormatAndLock: a journal of another format is set aside (and
// its uploads still reach deprovision); a second run of a job whose journal
// is held gets ErrJournalLocked naming the journal.
func TestJournalFormatAndLock(t *testing.T) {
	dir := t.TempDir()
	job := Job{Src: loc(t, "/tmp/a"), Dsts: []objstore.Location{loc(t, "/tmp/b")}, Recursive: true}
	old := `{"t":"upload","b":"file:///","d":0,"k":"tmp/b/x","u":"up1","s":10}` + "\n"
	path := filepath.Join(dir, journalID(job)+".jsonl")
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	j, err := openJournal(dir, job, textLog(&logged))
	if err != nil {
		t.Fatal(err)
	}
	if j.resumed || len(j.uploads) != 0 {
		t.Errorf("a v1 journal was read as this version's: resumed %v, uploads %d", j.resumed, len(j.uploads))
	}
	if !strings.Contains(logged.String(), "set aside") {
		t.Errorf("no warning about the set-aside journal: %q", logged.String())
	}
	_, err = openJournal(dir, job, quietLog())
	if !errors.Is(err, ErrJournalLocked) || !strings.Contains(err.Error(), path) {
		t.Errorf("second open: %v, want ErrJournalLocked naming %s", err, path)
	}
	all, err := Journals(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 {
		t.Fatalf("deprovision sees %d journals, want only the set-aside one (the live one is locked): %v", len(all), all)
	}
	for p, ups := range all {
		if !strings.Contains(p, "set-aside") || len(ups) != 1 || ups[0].UploadID != "up1" {
			t.Errorf("deprovision sees %s: %+v", p, ups)
		}
	}
	if err := j.remove(); err != nil {
		t.Fatal(err)
	}
	j2, err := openJournal(dir, job, quietLog())
	if err != nil {
		t.Fatalf("reopen after remove: %v", err)
	}
	j2.close()
}

// TestJournalRoundTrip: what one run records is what the next one reads:
// uploads with their source identity and parts (with MD5s), aborted
// uploads gone, finished objects by identity.
func TestJournalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	job := Job{Src: loc(t, "/tmp/a"), Dsts: []objstore.Location{loc(t, "/tmp/b")}, Recursive: true}
	id := srcID{Size: 10, ModTime: 123456789, Version: "v1"}
	j, err := openJournal(dir, job, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	recs := []journalRecord{
		{Type: "upload", Key: "k1", UploadID: "u1", Src: &id},
		{Type: "part", Key: "k1", UploadID: "u1", Part: 1, Size: 5, ETag: "e", MD5: "00112233445566778899aabbccddeeff"},
		{Type: "upload", Key: "k2", UploadID: "u2", Src: &id},
		{Type: "abort", Key: "k2", UploadID: "u2"},
		{Type: "done", Key: "k3", Src: &id, Expected: "md5:abc"},
	}
	for _, r := range recs {
		if err := j.record(r, false); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
	j, err = openJournal(dir, job, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	u := j.upload(0, "k1")
	if u == nil || u.Src != id || len(u.Parts[1].MD5) != 16 {
		t.Errorf("upload k1 = %+v", u)
	}
	if j.upload(0, "k2") != nil {
		t.Error("an aborted upload came back")
	}
	if j.run != 2 {
		t.Errorf("second run numbered %d", j.run)
	}
	if x, ok := j.doneFrom(0, "k3", id); !ok || x.MD5 != "abc" {
		t.Errorf("done k3 = %+v, %v", x, ok)
	}
	changed := id
	changed.ModTime++
	if _, ok := j.doneFrom(0, "k3", changed); ok {
		t.Error("a finished object counts as done for another source version")
	}
}

// TestSyncSubSecond: a same-size edit 200 ms after the copy was written,
// within the same second, is newer when both stores keep nanoseconds.
func TestSyncSubSecond(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	base := time.Now().Truncate(time.Second).Add(-time.Hour + 100*time.Millisecond)
	for _, f := range []struct {
		dir string
		at  time.Time
	}{{src, base.Add(200 * time.Millisecond)}, {dst, base}} {
		p := filepath.Join(f.dir, "f")
		if err := os.WriteFile(p, []byte("same size"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, f.at, f.at); err != nil {
			t.Fatal(err)
		}
	}
	st := local.New("/")
	var ops []Op
	for op, err := range SyncOps(context.Background(), loc(t, src), loc(t, dst), st, st, false) {
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, op)
	}
	if len(ops) != 1 || ops[0].Reason != "newer" {
		t.Errorf("ops = %+v, want one copy (newer)", ops)
	}
}

func TestNewer(t *testing.T) {
	s := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name     string
		src, dst time.Time
		want     bool
	}{
		{"both nanoseconds, later", s.Add(300 * time.Millisecond).Add(7), s.Add(100 * time.Millisecond).Add(3), true},
		{"both nanoseconds, earlier", s.Add(100 * time.Millisecond).Add(3), s.Add(300 * time.Millisecond).Add(7), false},
		{"equal", s.Add(5), s.Add(5), false},
		{"destination keeps seconds, same second", s.Add(700*time.Millisecond + 1), s, false},
		{"destination keeps seconds, next second", s.Add(time.Second + 1), s, true},
		{"milliseconds against nanoseconds", s.Add(200*time.Millisecond + 5), s.Add(100 * time.Millisecond), true},
		{"milliseconds, same millisecond", s.Add(100*time.Millisecond + 5), s.Add(100 * time.Millisecond), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newer(tt.src, tt.dst); got != tt.want {
				t.Errorf("newer(%v, %v) = %v", tt.src, tt.dst, got)
			}
		})
	}
}
