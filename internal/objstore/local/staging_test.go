package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// names lists a directory's entries (one level).
func names(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, de := range des {
		ns = append(ns, de.Name())
	}
	return ns
}

// deadPid returns the pid of a process that has exited.
func deadPid(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func touch(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStagingInOneHiddenFolder: an interrupted multipart upload leaves the
// destination folder holding its completed files and .skyplane-staging,
// nothing else; Complete and Abort remove the staging folder once empty.
func TestStagingInOneHiddenFolder(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	ctx := t.Context()
	put(t, s, "dst/done.txt", "done")
	ids := map[string]string{}
	for _, key := range []string{"dst/big.bin", "dst/sub/other.bin"} {
		id, err := s.InitiateMultipart(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		ids[key] = id
		for _, n := range []int{1, 2} { // part 3 never comes (Ctrl-C)
			if _, err := s.UploadPart(ctx, key, id, objstore.Part{Number: n, Offset: int64(n-1) * 4, Size: 4}, strings.NewReader("abcd")); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Write(ctx, "dst/short", strings.NewReader("ab"), 10, nil); err == nil {
		t.Fatal("Write with a short source succeeded")
	}
	if got, want := names(t, filepath.Join(root, "dst")), []string{stagingName, "done.txt", "sub"}; !slices.Equal(got, want) {
		t.Errorf("destination after an interrupted copy holds %q, want %q", got, want)
	}
	if got, want := names(t, filepath.Join(root, "dst/sub")), []string{stagingName}; !slices.Equal(got, want) {
		t.Errorf("dst/sub holds %q, want %q", got, want)
	}
	if got := listKeys(t, s, ""); !slices.Equal(got, []string{"dst/done.txt"}) {
		t.Errorf("List = %q, want only the completed object", got)
	}
	ups, err := s.ListMultipartUploads(ctx, "dst/")
	if err != nil || len(ups) != 2 {
		t.Fatalf("ListMultipartUploads = %+v, %v; want both open uploads", ups, err)
	}

	if _, err := s.UploadPart(ctx, "dst/big.bin", ids["dst/big.bin"], objstore.Part{Number: 3, Offset: 8, Size: 2}, strings.NewReader("ef")); err != nil {
		t.Fatal(err)
	}
	parts := []objstore.Part{{Number: 1, Offset: 0, Size: 4}, {Number: 2, Offset: 4, Size: 4}, {Number: 3, Offset: 8, Size: 2}}
	if err := s.CompleteMultipart(ctx, "dst/big.bin", ids["dst/big.bin"], parts); err != nil {
		t.Fatal(err)
	}
	if err := s.AbortMultipart(ctx, "dst/sub/other.bin", ids["dst/sub/other.bin"]); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, filepath.Join(root, "dst")), []string{"big.bin", "done.txt", "sub"}; !slices.Equal(got, want) {
		t.Errorf("after Complete: destination holds %q, want %q", got, want)
	}
	if got := names(t, filepath.Join(root, "dst/sub")); len(got) != 0 {
		t.Errorf("after Abort: dst/sub holds %q, want nothing", got)
	}
	if got := objstoretestRead(t, s, "dst/big.bin"); got != "abcdabcdef" {
		t.Errorf("completed object = %q", got)
	}
}

func objstoretestRead(t *testing.T, s *Store, key string) string {
	t.Helper()
	rc, err := s.Read(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestSweepStale: the sweep removes dead writers' temp files and orphaned
// marker folders from the staging folder of the prefix's directory, keeps
// live writers' files and open uploads, and drops the folder once empty.
func TestSweepStale(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	st := filepath.Join(root, "a", stagingName)
	dead := filepath.Join(st, fmt.Sprintf("%s%d-123", tmpPrefix, deadPid(t)))
	live := filepath.Join(st, fmt.Sprintf("%s%d-456", tmpPrefix, os.Getpid()))
	orphan := filepath.Join(st, mpuPrefix+"00000000000000000000000000000000-gone"+partsSuffix, "1")
	deadMarkerTemp := filepath.Join(st, mpuPrefix+"11111111111111111111111111111111-open"+partsSuffix, fmt.Sprintf("%s%d-9", tmpPrefix, deadPid(t)))
	open := filepath.Join(st, mpuPrefix+"11111111111111111111111111111111-open")
	for _, p := range []string{dead, live, orphan, deadMarkerTemp, open, filepath.Join(root, "a/keep.txt")} {
		touch(t, p)
	}
	if err := s.SweepStale(context.Background(), "a/"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dead, filepath.Dir(orphan), deadMarkerTemp} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s kept: %v", p, err)
		}
	}
	for _, p := range []string{live, open, filepath.Join(root, "a/keep.txt")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	os.Remove(live)
	os.RemoveAll(open + partsSuffix)
	os.Remove(open)
	if err := s.SweepStale(context.Background(), "a/x.txt"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, filepath.Join(root, "a")); !slices.Equal(got, []string{"keep.txt"}) {
		t.Errorf("after sweeping an empty staging folder, a/ holds %q", got)
	}
	if err := s.SweepStale(context.Background(), "missing/"); err != nil {
		t.Errorf("missing prefix: %v", err)
	}
}

// TestSweepReadsOnlyTheStagingFolder: `cp a.txt /root/x.txt` sweeps /root,
// which holds a large unrelated tree (and an unreadable folder): the sweep
// reads skyplane's staging folder and nothing else.
func TestSweepReadsOnlyTheStagingFolder(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	for i := range 50 {
		touch(t, filepath.Join(root, "home", fmt.Sprintf("go/pkg/mod/m%d/f.go", i)))
	}
	touch(t, filepath.Join(root, "home/locked/secret"))
	touch(t, filepath.Join(root, "home", stagingName, fmt.Sprintf("%s%d-1", tmpPrefix, deadPid(t))))
	var read []string
	readDir = func(dir string) ([]os.DirEntry, error) {
		read = append(read, dir)
		if strings.HasSuffix(dir, "locked") {
			return nil, fs.ErrPermission // root ignores permission bits
		}
		return os.ReadDir(dir)
	}
	t.Cleanup(func() { readDir = os.ReadDir })
	if err := s.SweepStale(t.Context(), "home/x.txt"); err != nil {
		t.Fatalf("SweepStale: %v", err)
	}
	if want := []string{filepath.Join(root, "home", stagingName)}; !slices.Equal(read, want) {
		t.Errorf("SweepStale read %q, want only %q", read, want)
	}
	if got := names(t, filepath.Join(root, "home")); !slices.Equal(got, []string{"go", "locked"}) {
		t.Errorf("after the sweep home/ holds %q", got)
	}
}

// TestFirstWriteSweepsStagingFolder: staging folders below the swept
// prefix are cleaned by the first write into their folder.
func TestFirstWriteSweepsStagingFolder(t *testing.T) {
	root := t.TempDir()
	dead := filepath.Join(root, "d/e", stagingName, fmt.Sprintf("%s%d-1", tmpPrefix, deadPid(t)))
	touch(t, dead)
	s := New(root)
	put(t, s, "d/e/f", "x")
	if got := names(t, filepath.Join(root, "d/e")); !slices.Equal(got, []string{"f"}) {
		t.Errorf("after a write, d/e holds %q, want only f", got)
	}
}

// TestSyncFailureSurfaced: when the disk fails to flush a file, Write and
// UploadPart fail, nothing becomes visible and no part is recorded; with
// NoFsync nothing is synced at all.
func TestSyncFailureSurfaced(t *testing.T) {
	var calls atomic.Int32
	fail := errors.New("injected EIO")
	syncFile = func(f *os.File) error {
		calls.Add(1)
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return fail
		}
		return nil
	}
	t.Cleanup(func() { syncFile = (*os.File).Sync })
	root := t.TempDir()
	s := New(root)
	ctx := t.Context()
	if err := s.Write(ctx, "d/f", strings.NewReader("data"), 4, nil); !errors.Is(err, fail) {
		t.Errorf("Write with a failing fsync = %v, want the fsync error", err)
	}
	id, err := s.InitiateMultipart(ctx, "d/m")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadPart(ctx, "d/m", id, objstore.Part{Number: 1, Size: 4}, strings.NewReader("data")); !errors.Is(err, fail) {
		t.Errorf("UploadPart with a failing fsync = %v, want the fsync error", err)
	}
	err = s.CompleteMultipart(ctx, "d/m", id, []objstore.Part{{Number: 1, Size: 4}})
	if err == nil || !strings.Contains(err.Error(), "never uploaded") {
		t.Errorf("Complete after a failed part = %v, want the part reported missing", err)
	}
	if err := s.AbortMultipart(ctx, "d/m", id); err != nil {
		t.Fatal(err)
	}
	if got := names(t, filepath.Join(root, "d")); len(got) != 0 {
		t.Errorf("after failed writes d/ holds %q, want nothing", got)
	}

	calls.Store(0)
	s.noFsync = true
	put(t, s, "d/f", "data")
	if n := calls.Load(); n != 0 {
		t.Errorf("NoFsync: %d fsyncs", n)
	}
}

// TestFullDisk writes to a real file system that runs out of space (a
// 1 MiB tmpfs mounted below the store root, so staging must stay on that
// mount): the error reaches the caller and nothing half-written is left.
func TestFullDisk(t *testing.T) {
	root := t.TempDir()
	mnt := filepath.Join(root, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v): needs root with CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, 0) })
	s := New(root)
	ctx := t.Context()
	put(t, s, "mnt/small", "fits")
	big := bytes.Repeat([]byte("x"), 2<<20)
	if err := s.Write(ctx, "mnt/big", bytes.NewReader(big), int64(len(big)), nil); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Write of 2 MiB to a 1 MiB file system = %v, want ENOSPC", err)
	}
	id, err := s.InitiateMultipart(ctx, "mnt/mpu")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UploadPart(ctx, "mnt/mpu", id, objstore.Part{Number: 1, Size: int64(len(big))}, bytes.NewReader(big)); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("UploadPart of 2 MiB to a 1 MiB file system = %v, want ENOSPC", err)
	}
	if err := s.AbortMultipart(ctx, "mnt/mpu", id); err != nil {
		t.Fatal(err)
	}
	if got := names(t, mnt); !slices.Equal(got, []string{"small"}) {
		t.Errorf("full file system holds %q, want only the object that fit", got)
	}
}

// TestOpenPassesNoFsync: the registry's opener hands Options.NoFsync to
// the store (config local_fsync false).
func TestOpenPassesNoFsync(t *testing.T) {
	for _, no := range []bool{false, true} {
		st, err := objstore.Open(t.Context(), objstore.Location{Scheme: objstore.SchemeLocal}, objstore.Options{NoFsync: no})
		if err != nil {
			t.Fatal(err)
		}
		if got := objstore.Unwrap(st).(*Store).noFsync; got != no {
			t.Errorf("Open(NoFsync %v) gave a store with noFsync %v", no, got)
		}
	}
}

// TestSweepStaleTree: a folder prefix (what a recursive copy wrote) is swept
// in every subfolder, where a writer killed mid-write left its temp file;
// a key's sweep stays in the key's folder.
func TestSweepStaleTree(t *testing.T) {
	root := t.TempDir()
	s := New(root)
	deep := filepath.Join(root, "dst", "d1", "d2", stagingName, fmt.Sprintf("%s%d-1", tmpPrefix, deadPid(t)))
	beside := filepath.Join(root, "other", stagingName, fmt.Sprintf("%s%d-2", tmpPrefix, deadPid(t)))
	for _, p := range []string{deep, beside, filepath.Join(root, "dst", "d1", "keep")} {
		touch(t, p)
	}
	if err := s.SweepStale(t.Context(), "dst/d1/x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(deep); err != nil {
		t.Fatalf("a key's sweep reached a subfolder: %v", err)
	}
	if err := s.SweepStale(t.Context(), "dst/"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(deep)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("staging folder in a subfolder kept: %v", err)
	}
	if _, err := os.Stat(beside); err != nil {
		t.Errorf("a sweep of dst/ touched another folder: %v", err)
	}
	if got := names(t, filepath.Join(root, "dst", "d1")); !slices.Equal(got, []string{"d2", "keep"}) {
		t.Errorf("dst/d1 holds %q", got)
	}
}
