package local

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// syncFile is (*os.File).Sync; tests replace it to simulate a disk that
// fails to flush.
var syncFile = (*os.File).Sync

// Write stores size bytes from r as key atomically: a temp file in the
// folder's staging area, fsynced, renamed into place, the folder fsynced.
// A non-nil sum is the MD5 the bytes must have.
func (s *Store) Write(ctx context.Context, key string, r io.Reader, size int64, sum []byte) error {
	var c *check
	if sum != nil {
		c = &check{name: "md5", h: md5.New(), want: sum}
	}
	return s.write(ctx, key, r, size, c)
}

// WriteCRC32C is Write checked by the bytes' CRC-32C.
func (s *Store) WriteCRC32C(ctx context.Context, key string, r io.Reader, size int64, crc uint32) error {
	return s.write(ctx, key, r, size, crcCheck(crc))
}

func (s *Store) write(ctx context.Context, key string, r io.Reader, size int64, c *check) error {
	if why := checkKey(key); why == "" && strings.HasSuffix(key, "/") && size == 0 {
		// A folder marker: the best a file system can do is the directory.
		p := s.path(key)
		if err := s.mkdirAll(p); err != nil {
			return osErr("write folder marker", p, err)
		}
		return nil
	}
	p, err := s.objectPath("write", key)
	if err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("local: write %s: negative size %d", p, size)
	}
	dir := filepath.Dir(p)
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return fmt.Errorf("local: write %s: a directory is in the way: %w", p, syscall.EISDIR)
	}
	f, err := s.createTemp(ctx, dir)
	if err != nil {
		return err
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		s.dropStaging(dir)
		return err
	}
	var w io.Writer = f
	if c != nil {
		w = io.MultiWriter(f, c.h)
	}
	n, err := copyN(ctx, w, r, size)
	if err == nil && n < size {
		err = io.EOF
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fail(fmt.Errorf("local: write %s: source ended after %d of %d bytes", p, n, size))
		}
		return fail(fmt.Errorf("local: write %s: %w", p, err))
	}
	if err := c.verify(); err != nil {
		return fail(fmt.Errorf("local: write %s: %w", p, err))
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(osErr("write: chmod", tmp, err))
	}
	if err := s.closeSynced(f); err != nil {
		os.Remove(tmp)
		s.dropStaging(dir)
		return osErr("write: flush", tmp, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		s.dropStaging(dir)
		return osErr("write: rename into", p, err)
	}
	s.dropStaging(dir)
	if err := s.syncDir(dir); err != nil {
		return osErr("write: flush directory", dir, err)
	}
	return nil
}

// closeSynced fsyncs f (unless NoFsync) and closes it; either error is the
// caller's: the data may not be on disk.
func (s *Store) closeSynced(f *os.File) error {
	if !s.noFsync {
		if err := syncFile(f); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// syncDir fsyncs a directory so that the entries renamed or created in it
// survive a power loss (unless NoFsync).
func (s *Store) syncDir(dir string) error {
	if s.noFsync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = syncFile(d)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) {
		err = nil // a file system that cannot sync directories
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// mkdirAll creates dir and its missing parents, and fsyncs the parent of
// each one it created, so a file later renamed into dir stays reachable
// after a power loss.
func (s *Store) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	top := dir // the topmost missing directory
	for {
		parent := filepath.Dir(top)
		if _, err := os.Stat(parent); err == nil || parent == top {
			break
		}
		top = parent
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if err := s.syncDir(filepath.Dir(d)); err != nil {
			return err
		}
		if d == top || filepath.Dir(d) == d {
			return nil
		}
	}
}

// createTemp creates a temp file in dir's staging folder, creating both.
func (s *Store) createTemp(ctx context.Context, dir string) (*os.File, error) {
	st := filepath.Join(dir, stagingName)
	if err := s.stagingFolder(ctx, dir); err != nil {
		return nil, err
	}
	for range 5 {
		f, err := os.CreateTemp(st, tempPattern())
		if !errors.Is(err, fs.ErrNotExist) {
			if err != nil {
				return nil, osErr("write: create temp file in", st, err)
			}
			return f, nil
		}
		// Another writer removed the staging folder once it was empty.
		if err := s.stagingFolder(ctx, dir); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("local: write: staging folder %s keeps disappearing", st)
}

// stagingFolder makes sure dir and its staging folder exist. The first time
// this process finds a staging folder already there, it removes what
// writers that died left in it (one entry per such folder in s.swept; a
// folder this process created needs no sweep).
func (s *Store) stagingFolder(ctx context.Context, dir string) error {
	if err := s.mkdirAll(dir); err != nil {
		return osErr("write: create directory", dir, err)
	}
	st := filepath.Join(dir, stagingName)
	err := os.Mkdir(st, 0o755)
	if errors.Is(err, fs.ErrExist) {
		if _, done := s.swept.LoadOrStore(st, true); !done {
			// Best effort: a failure to sweep must not fail the write. The
			// sweep may drop the folder if it empties it; callers retry.
			_ = s.sweepStaging(ctx, st)
		}
		return nil
	}
	if err != nil {
		return osErr("write: create staging folder", st, err)
	}
	return nil
}

// dropStaging removes dir's staging folder if it is empty. A folder still
// in use by another writer is not empty, and rmdir is atomic.
func (s *Store) dropStaging(dir string) {
	_ = syscall.Rmdir(filepath.Join(dir, stagingName))
}

// tempPattern names temporary files after the writing process, so files
// left by a process that died mid-write can be told apart and swept.
func tempPattern() string { return tmpPrefix + strconv.Itoa(os.Getpid()) + "-*" }

// deadWriter reports whether name is a temp file whose writer process is gone.
func deadWriter(name string) bool {
	rest, ok := strings.CutPrefix(name, tmpPrefix)
	if !ok {
		return false
	}
	pidText, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err != nil && !errors.Is(err, syscall.EPERM)
}

// SweepStale removes what writers that died (a gateway killed mid-write)
// left in staging folders: their temp files and the part markers of
// uploads whose staging file is gone. For a key it reads only the staging
// folder of the key's directory, nothing of the user's tree (`cp a.txt
// ~/x.txt` must not walk the home directory). For a folder prefix ("d/",
// the tree a recursive copy wrote) it sweeps the staging folder of that
// folder and of every folder below it: a writer killed in a subfolder
// leaves its files there, and no later write into that subfolder need come
// to sweep them. Open multipart uploads stay: a later run resumes them, or
// Abort removes them.
func (s *Store) SweepStale(ctx context.Context, prefix string) error {
	dir := filepath.Join(s.root, filepath.FromSlash(prefix))
	if !strings.HasSuffix(prefix, "/") {
		if prefix != "" {
			dir = filepath.Dir(dir)
		}
		return s.sweepStaging(ctx, filepath.Join(dir, stagingName))
	}
	return s.sweepTree(ctx, dir)
}

// sweepTree sweeps dir's staging folder and those of the folders below it
// (symbolic links are not followed).
func (s *Store) sweepTree(ctx context.Context, dir string) error {
	des, err := readDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return osErr("sweep staging folders under", dir, err)
	}
	var errs []error
	for _, de := range des {
		if err := ctx.Err(); err != nil {
			return err
		}
		if de.IsDir() && de.Name() != stagingName {
			errs = append(errs, s.sweepTree(ctx, filepath.Join(dir, de.Name())))
		}
	}
	errs = append(errs, s.sweepStaging(ctx, filepath.Join(dir, stagingName)))
	return errors.Join(errs...)
}

func (s *Store) sweepStaging(ctx context.Context, st string) error {
	des, err := readDir(st)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return osErr("sweep staging folder", st, err)
	}
	var errs []error
	for _, de := range des {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := filepath.Join(st, de.Name())
		switch {
		case de.IsDir() && strings.HasSuffix(de.Name(), partsSuffix):
			errs = append(errs, sweepParts(p))
		case !de.IsDir() && deadWriter(de.Name()):
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, osErr("sweep stale temp file", p, err))
			}
		}
	}
	s.dropStaging(filepath.Dir(st))
	return errors.Join(errs...)
}

// sweepParts removes a part-marker folder whose upload's staging file is
// gone (a Complete interrupted after its rename), or else the temp files
// of dead writers in it.
func sweepParts(parts string) error {
	if _, err := os.Lstat(strings.TrimSuffix(parts, partsSuffix)); errors.Is(err, fs.ErrNotExist) {
		if err := os.RemoveAll(parts); err != nil {
			return osErr("sweep part markers", parts, err)
		}
		return nil
	}
	des, err := readDir(parts)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return osErr("sweep part markers", parts, err)
	}
	for _, de := range des {
		if deadWriter(de.Name()) {
			p := filepath.Join(parts, de.Name())
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return osErr("sweep stale temp file", p, err)
			}
		}
	}
	return nil
}
