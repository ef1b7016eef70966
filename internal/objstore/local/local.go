// Package local is the local-disk backend of objstore.
//
// A Store is rooted at a directory; keys are slash-separated paths relative
// to it. Scheme "file" is registered and opens New("/"), since ParseURL gives
// local keys as absolute paths without their leading "/".
//
// Layout on disk:
//
//	<dir>/<name>                                              a committed object
//	<dir>/.skyplane-staging/                                  the staging folder of <dir>, removed when empty
//	<dir>/.skyplane-staging/tmp-<pid>-<random>                a Write in progress (renamed into place)
//	<dir>/.skyplane-staging/mpu-<uploadID>-<name>             the staging file of a multipart upload
//	<dir>/.skyplane-staging/mpu-<uploadID>-<name>.parts/N     marker of landed part N ("etag offset size")
//
// Everything in flight for a folder lives in that one hidden folder: after
// an interrupted copy, ls, rsync and backups see the completed files and
// .skyplane-staging, nothing else. Staging beside the final path keeps it on
// the same file system, so the rename into place is atomic even when <dir>
// is below a mount point. Every name starting with ".skyplane-" is internal:
// it is never listed, and keys with such a path component are refused.
//
// Durability: unless Options.NoFsync, a finished object or staged part is
// written, fsynced, renamed and its directory fsynced, so what a Write or
// UploadPart acknowledged survives a power loss.
//
// Keys must be clean relative paths: no empty, "." or ".." components and no
// NUL byte. A key ending in "/" (a folder marker) cannot hold content on a
// file system: writing one with size 0 creates the directory, Head/Read
// report ErrNotFound and List never yields it.
package local

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

const (
	internalPrefix = ".skyplane-"
	stagingName    = internalPrefix + "staging"
	// Inside the staging folder.
	tmpPrefix   = "tmp-"
	mpuPrefix   = "mpu-"
	partsSuffix = ".parts"
)

func init() {
	objstore.Register(objstore.SchemeLocal, func(ctx context.Context, loc objstore.Location, opts objstore.Options) (objstore.Store, error) {
		s := New("/")
		s.noFsync = opts.NoFsync
		return s, nil
	})
}

// readDir is os.ReadDir; tests replace it to simulate unreadable directories
// (the test suite runs as root, where permission bits do not deny reads).
var readDir = os.ReadDir

// Store is a local directory seen as a bucket.
type Store struct {
	root    string
	noFsync bool
	// swept holds the staging folders this process found already there
	// and swept of dead writers' temp files (once each).
	swept sync.Map
}

var _ objstore.Store = (*Store)(nil)

// New returns a store rooted at directory root.
func New(root string) *Store {
	if root == "" {
		root = "."
	}
	return &Store{root: filepath.Clean(root)}
}

// URL is "file:///" for root "/", else "file://"+root.
func (s *Store) URL() string {
	if s.root == "/" {
		return "file:///"
	}
	return "file://" + filepath.ToSlash(s.root)
}

// Features: no part size limits, no part count limit.
func (s *Store) Features() objstore.Features { return objstore.Features{NoFolderMarkers: true} }

// BucketExists checks that the root exists and is a directory.
func (s *Store) BucketExists(ctx context.Context) error {
	fi, err := os.Stat(s.root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("local: directory %s: %w", s.root, objstore.ErrBucketNotFound)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("local: directory %s: %w: %w", s.root, objstore.ErrAccessDenied, err)
	case err != nil:
		return fmt.Errorf("local: directory %s: %w", s.root, err)
	case !fi.IsDir():
		return fmt.Errorf("local: %s is not a directory: %w", s.root, objstore.ErrBucketNotFound)
	}
	return nil
}

// checkKey returns "" when key names a possible object (or folder marker,
// when it ends in "/"), else why not.
func checkKey(key string) string {
	if strings.IndexByte(key, 0) >= 0 {
		return "key contains a NUL byte"
	}
	k := strings.TrimSuffix(key, "/")
	if k == "" {
		return "key has no name"
	}
	for c := range strings.SplitSeq(k, "/") {
		switch {
		case c == "":
			return "key has an empty path component (\"//\" or a leading \"/\")"
		case c == "." || c == "..":
			return "key has a \".\" or \"..\" path component"
		case strings.HasPrefix(c, internalPrefix):
			return "names starting with " + internalPrefix + " are reserved for staging files"
		}
	}
	return ""
}

// path maps a key to a file path (no validation).
func (s *Store) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// objectPath validates key as an object key (no trailing "/") and returns its path.
func (s *Store) objectPath(op, key string) (string, error) {
	why := checkKey(key)
	if why == "" && strings.HasSuffix(key, "/") {
		why = "key ends in \"/\" (a folder marker); a file system cannot store content there"
	}
	if why != "" {
		return "", fmt.Errorf("local: %s %q under %s: %s: %w", op, key, s.root, why, objstore.ErrNotSupported)
	}
	return s.path(key), nil
}

// osErr wraps a file system error with the matching objstore sentinel.
func osErr(op, p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("local: %s %s: %w", op, p, objstore.ErrNotFound)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("local: %s %s: %w: %w", op, p, objstore.ErrAccessDenied, err)
	}
	return fmt.Errorf("local: %s %s: %w", op, p, err)
}

func notFound(op, key, p string) error {
	return fmt.Errorf("local: %s %q (%s): %w", op, key, p, objstore.ErrNotFound)
}

// Head stats key; directories and other non-regular files are not objects.
func (s *Store) Head(ctx context.Context, key string) (objstore.Object, error) {
	if err := ctx.Err(); err != nil {
		return objstore.Object{}, err
	}
	p, err := s.objectPath("head", key)
	if err != nil {
		if errors.Is(err, objstore.ErrNotSupported) {
			return objstore.Object{}, notFound("head", key, s.path(key))
		}
		return objstore.Object{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return objstore.Object{}, osErr("head", p, err)
	}
	if !fi.Mode().IsRegular() {
		return objstore.Object{}, notFound("head", key, p)
	}
	return object(key, fi), nil
}

// object describes a file. Its version is size, mtime in nanoseconds and
// inode: a Write or a completed upload renames a new file (a new inode)
// into place, so even a rewrite within the file system's timestamp
// granularity gets a new version. The MD5 is not stored, so it is nil.
func object(key string, fi fs.FileInfo) objstore.Object {
	return objstore.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime(), Version: version(fi)}
}

func version(fi fs.FileInfo) string {
	v := strconv.FormatInt(fi.Size(), 10) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 10)
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		v += "-" + strconv.FormatUint(st.Ino, 10)
	}
	return v
}

// removes the directory when it is empty.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if why := checkKey(key); why != "" {
		return fmt.Errorf("local: delete %q under %s: %s: %w", key, s.root, why, objstore.ErrNotSupported)
	}
	p := s.path(key)
	if strings.HasSuffix(key, "/") {
		err := syscall.Rmdir(p)
		if err == nil || errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return osErr("delete", p, err)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return osErr("delete", p, err)
	}
	if fi.IsDir() {
		return nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return osErr("delete", p, err)
	}
	return nil
}

// List yields regular files under prefix in byte order of their keys. It
// reads one directory at a time (never the whole tree), follows symlinks to
// files but not to directories, skips internal ".skyplane-" entries (the
// staging folders), and stops after yielding its first error.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[objstore.Object, error] {
	return func(yield func(objstore.Object, error) bool) {
		dirKey := prefix[:strings.LastIndexByte(prefix, '/')+1]
		if dirKey != "" && checkKey(dirKey) != "" {
			return // no key can start with an invalid directory
		}
		s.walk(ctx, dirKey, func(key string, isDir bool) bool {
			if isDir {
				return strings.HasPrefix(key, prefix) || strings.HasPrefix(prefix, key)
			}
			return strings.HasPrefix(key, prefix)
		}, func(key, p string, fi fs.FileInfo, err error) bool {
			if err != nil {
				return yield(objstore.Object{}, err)
			}
			return yield(object(key, fi), nil)
		}, nil)
	}
}

type entry struct {
	name  string
	sort  string // name, plus "/" for directories
	isDir bool
}

// walk visits dirKey's directory depth-first in key order. want(key, isDir)
// filters entries (directory keys end in "/"). visit is called for every
// wanted regular file (or symlink to one); internal ".skyplane-" entries are
// never visited, but onDir (when non-nil) is called with the staging folder
// of each directory visited that has one. It returns false when visit or
// onDir asked to stop or an error was reported.
func (s *Store) walk(ctx context.Context, dirKey string, want func(key string, isDir bool) bool, visit func(key, p string, fi fs.FileInfo, err error) bool, onDir func(dirKey, staging string) bool) bool {
	dir := s.path(dirKey)
	if err := ctx.Err(); err != nil {
		visit("", "", nil, fmt.Errorf("local: list directory %s: %w", dir, err))
		return false
	}
	des, err := readDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return true // a missing prefix lists nothing
		}
		if errors.Is(err, fs.ErrPermission) {
			visit("", "", nil, fmt.Errorf("local: list directory %s: %w: %w", dir, objstore.ErrAccessDenied, err))
		} else {
			visit("", "", nil, fmt.Errorf("local: list directory %s: %w", dir, err))
		}
		return false
	}
	ents := make([]entry, 0, len(des))
	hasStaging := false
	for _, de := range des {
		name := de.Name()
		typ := de.Type()
		isDir := typ.IsDir()
		if strings.HasPrefix(name, internalPrefix) {
			hasStaging = hasStaging || isDir && name == stagingName
			continue
		}
		if !isDir && !want(dirKey+name, false) {
			continue // before the type checks: a bad entry outside prefix is no error
		}
		switch {
		case isDir:
		case typ.IsRegular():
		case typ&fs.ModeSymlink != 0:
			fi, err := os.Stat(filepath.Join(dir, name))
			switch {
			case err != nil:
				// Skipping it would lose data without a word.
				visit("", "", nil, fmt.Errorf("local: %s is a dangling symbolic link (%w): remove it or fix its target", filepath.Join(dir, name), objstore.ErrNotFound))
				return false
			case fi.IsDir():
				continue // a link to a directory is not followed (loops)
			case !fi.Mode().IsRegular():
				visit("", "", nil, fmt.Errorf("local: %s links to a %s, not a file: skyplane copies regular files only; move it out of the tree", filepath.Join(dir, name), fi.Mode().Type()))
				return false
			}
		default:
			visit("", "", nil, fmt.Errorf("local: %s is a %s, not a file: skyplane copies regular files only; move it out of the tree", filepath.Join(dir, name), typ))
			return false
		}
		e := entry{name: name, sort: name, isDir: isDir}
		if isDir {
			e.sort += "/"
			if !want(dirKey+e.sort, true) {
				continue
			}
		}
		ents = append(ents, e)
	}
	if hasStaging && onDir != nil && !onDir(dirKey, filepath.Join(dir, stagingName)) {
		return false
	}
	des = nil
	slices.SortFunc(ents, func(a, b entry) int { return strings.Compare(a.sort, b.sort) })
	for _, e := range ents {
		key := dirKey + e.sort
		if e.isDir {
			if !s.walk(ctx, key, want, visit, onDir) {
				return false
			}
			continue
		}
		p := filepath.Join(dir, e.name)
		fi, err := os.Stat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed since the directory was read
			}
			visit("", "", nil, osErr("list: stat", p, err))
			return false
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if !visit(key, p, fi, nil) {
			return false
		}
	}
	return true
}
