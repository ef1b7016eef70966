// Package local is the local-disk backend of objstore.
//
// A Store is rooted at a directory; keys are slash-separated paths relative
// to it. Scheme "file" is registered and opens New("/"), since ParseURL gives
// local keys as absolute paths without their leading "/".
//
// Layout on disk:
//
//	<dir>/<name>                                   a committed object
//	<dir>/.skyplane-tmp-<random>                   a Write in progress (renamed into place)
//	<dir>/.skyplane-mpu-<uploadID>-<name>          the staging file of a multipart upload
//	<dir>/.skyplane-mpu-<uploadID>-<name>.parts/N  marker of landed part N ("etag offset size")
//
// Every file or directory whose name starts with ".skyplane-" is internal:
// it is never listed, and keys with such a path component are refused.
//
// Keys must be clean relative paths: no empty, "." or ".." components and no
// NUL byte. A key ending in "/" (a folder marker) cannot hold content on a
// file system: writing one with size 0 creates the directory, Head/Read
// report ErrNotFound and List never yields it.
package local

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

const (
	internalPrefix = ".skyplane-"
	tmpPrefix      = internalPrefix + "tmp-"
	mpuPrefix      = internalPrefix + "mpu-"
	partsSuffix    = ".parts"
)

func init() {
	objstore.Register(objstore.SchemeLocal, func(ctx context.Context, loc objstore.Location, opts objstore.Options) (objstore.Store, error) {
		return New("/"), nil
	})
}

// readDir is os.ReadDir; tests replace it to simulate unreadable directories
// (the test suite runs as root, where permission bits do not deny reads).
var readDir = os.ReadDir

// Store is a local directory seen as a bucket.
type Store struct {
	root string
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
	if key == "" {
		return "empty key"
	}
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
	return objstore.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Read returns length bytes of key from offset (length < 0: to the end). A
// range past the end of the file is an error; a range running past the end
// is cut short.
func (s *Store) Read(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := s.objectPath("read", key)
	if err != nil {
		if errors.Is(err, objstore.ErrNotSupported) {
			return nil, notFound("read", key, s.path(key))
		}
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, osErr("read", p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, osErr("read", p, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, notFound("read", key, p)
	}
	if offset < 0 || offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("local: read %s: offset %d out of range (size %d)", p, offset, fi.Size())
	}
	n := fi.Size() - offset
	if length >= 0 && length < n {
		n = length
	}
	return readCloser{io.NewSectionReader(f, offset, n), f}, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(b)
}

// copyN copies exactly n bytes from r to w. A chunk already in memory (a
// *bytes.Reader holding exactly n bytes, as gateways hand over) goes out
// in one write; anything else streams, checking ctx between reads.
func copyN(ctx context.Context, w io.Writer, r io.Reader, n int64) (int64, error) {
	if br, ok := r.(*bytes.Reader); ok && int64(br.Len()) == n {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		return br.WriteTo(w)
	}
	return io.CopyBuffer(w, io.LimitReader(ctxReader{ctx, r}, n), make([]byte, 1<<20))
}

// Write stores size bytes from r as key atomically (temp file + rename).
func (s *Store) Write(ctx context.Context, key string, r io.Reader, size int64, sum []byte) error {
	if why := checkKey(key); why == "" && strings.HasSuffix(key, "/") && size == 0 {
		// A folder marker: the best a file system can do is the directory.
		p := s.path(key)
		if err := os.MkdirAll(p, 0o755); err != nil {
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return osErr("write: create directory", dir, err)
	}
	if fi, err := os.Stat(p); err == nil && fi.IsDir() {
		return fmt.Errorf("local: write %s: a directory is in the way: %w", p, syscall.EISDIR)
	}
	f, err := os.CreateTemp(dir, tempPattern())
	if err != nil {
		return osErr("write: create temp file in", dir, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return err
	}
	var w io.Writer = f
	h := md5.New()
	if sum != nil {
		w = io.MultiWriter(f, h)
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
	if got := h.Sum(nil); sum != nil && !slices.Equal(got, sum) {
		return fail(fmt.Errorf("local: write %s: md5 %x, want %x: %w", p, got, sum, objstore.ErrChecksumMismatch))
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(osErr("write: chmod", tmp, err))
	}
	// No fsync, like cp: the rename below makes the object appear whole or
	// not at all; durability across power loss is the file system's.
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return osErr("write: close", tmp, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return osErr("write: rename into", p, err)
	}
	return nil
}

// Delete removes key; a missing key is not an error, and neither is a
// directory (not an object: it is left alone). A folder-marker key ("dir/")
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
// files but not to directories, skips internal ".skyplane-" files, and stops
// after yielding its first error.
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
			return yield(objstore.Object{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil)
		}, false)
	}
}

type entry struct {
	name  string
	sort  string // name, plus "/" for directories
	isDir bool
}

// walk visits dirKey's directory depth-first in key order. want(key, isDir)
// filters entries (directory keys end in "/"). visit is called for every
// wanted regular file (or symlink to one); with internal set, it is called
// for internal staging files instead. It returns false when visit asked to
// stop or an error was reported.
func (s *Store) walk(ctx context.Context, dirKey string, want func(key string, isDir bool) bool, visit func(key, p string, fi fs.FileInfo, err error) bool, internal bool) bool {
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
	for _, de := range des {
		name := de.Name()
		isInternal := strings.HasPrefix(name, internalPrefix)
		typ := de.Type()
		isDir := typ.IsDir()
		switch {
		case isDir:
			if isInternal {
				continue
			}
		case typ.IsRegular():
		case typ&fs.ModeSymlink != 0:
			if isInternal {
				continue
			}
			fi, err := os.Stat(filepath.Join(dir, name))
			switch {
			case err != nil && !internal:
				// Skipping it would lose data without a word.
				visit("", "", nil, fmt.Errorf("local: %s is a dangling symbolic link (%w): remove it or fix its target", filepath.Join(dir, name), objstore.ErrNotFound))
				return false
			case err != nil, fi.IsDir():
				continue // a link to a directory is not followed (loops)
			case !fi.Mode().IsRegular() && !internal:
				visit("", "", nil, fmt.Errorf("local: %s links to a %s, not a file: skyplane copies regular files only; move it out of the tree", filepath.Join(dir, name), fi.Mode().Type()))
				return false
			}
		default:
			if isInternal || internal {
				continue
			}
			visit("", "", nil, fmt.Errorf("local: %s is a %s, not a file: skyplane copies regular files only; move it out of the tree", filepath.Join(dir, name), typ))
			return false
		}
		if internal && !isDir && !isInternal || !internal && isInternal {
			continue
		}
		e := entry{name: name, sort: name, isDir: isDir}
		if isDir {
			e.sort += "/"
		}
		if !want(dirKey+e.sort, isDir) {
			continue
		}
		ents = append(ents, e)
	}
	des = nil
	slices.SortFunc(ents, func(a, b entry) int { return strings.Compare(a.sort, b.sort) })
	for _, e := range ents {
		key := dirKey + e.sort
		if e.isDir {
			if !s.walk(ctx, key, want, visit, internal) {
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

// --- multipart ---

// staging returns the staging file and the part-marker directory of an upload.
func (s *Store) staging(op, key, uploadID string) (string, string, error) {
	p, err := s.objectPath(op, key)
	if err != nil {
		return "", "", err
	}
	if !objstore.IsUploadID(uploadID) {
		return "", "", fmt.Errorf("local: %s %s: malformed upload id %q: %w", op, p, uploadID, objstore.ErrUploadNotFound)
	}
	st := filepath.Join(filepath.Dir(p), mpuPrefix+uploadID+"-"+filepath.Base(p))
	return st, st + partsSuffix, nil
}

// InitiateMultipart creates an empty staging file next to key's final path.
func (s *Store) InitiateMultipart(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id := objstore.NewUploadID()
	st, parts, err := s.staging("initiate multipart upload", key, id)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(st)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", osErr("initiate multipart upload: create directory", dir, err)
	}
	if err := os.Mkdir(parts, 0o755); err != nil {
		return "", osErr("initiate multipart upload: create", parts, err)
	}
	f, err := os.OpenFile(st, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		os.Remove(parts)
		return "", osErr("initiate multipart upload: create", st, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(st)
		os.Remove(parts)
		return "", osErr("initiate multipart upload: create", st, err)
	}
	return id, nil
}

// marker is what a part-marker file holds.
type marker struct {
	etag         string
	offset, size int64
}

func (m marker) String() string { return fmt.Sprintf("%s %d %d\n", m.etag, m.offset, m.size) }

func readMarker(p string) (marker, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return marker{}, err
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return marker{}, fmt.Errorf("local: corrupt part marker %s", p)
	}
	off, err1 := strconv.ParseInt(f[1], 10, 64)
	size, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return marker{}, fmt.Errorf("local: corrupt part marker %s", p)
	}
	return marker{etag: f[0], offset: off, size: size}, nil
}

// UploadPart writes p.Size bytes from r at p.Offset of the staging file
// (opened per call, so several processes can write parts at once), checks
// p.MD5, syncs, then records the part in its marker file. A part may be
// uploaded again; its marker is removed before its bytes are rewritten.
func (s *Store) UploadPart(ctx context.Context, key, uploadID string, p objstore.Part, r io.Reader) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	st, parts, err := s.staging("upload part", key, uploadID)
	if err != nil {
		return "", err
	}
	if p.Number < 1 || p.Offset < 0 || p.Size < 0 {
		return "", fmt.Errorf("local: upload part %d of %s: invalid part (number %d, offset %d, size %d)", p.Number, st, p.Number, p.Offset, p.Size)
	}
	f, err := os.OpenFile(st, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("local: upload part %d of %q: upload %s (%s): %w", p.Number, key, uploadID, st, objstore.ErrUploadNotFound)
		}
		return "", osErr("upload part: open", st, err)
	}
	defer f.Close()
	mp := filepath.Join(parts, strconv.Itoa(p.Number))
	if err := os.Remove(mp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", osErr("upload part: remove old marker", mp, err)
	}
	h := md5.New()
	n, err := copyN(ctx, io.MultiWriter(io.NewOffsetWriter(f, p.Offset), h), r, p.Size)
	if err == nil && n < p.Size {
		err = io.EOF
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("local: upload part %d of %s: source ended after %d of %d bytes", p.Number, st, n, p.Size)
		}
		return "", fmt.Errorf("local: upload part %d of %s: %w", p.Number, st, err)
	}
	sum := h.Sum(nil)
	if p.MD5 != nil && !slices.Equal(sum, p.MD5) {
		return "", fmt.Errorf("local: upload part %d of %s: md5 %x, want %x: %w", p.Number, st, sum, p.MD5, objstore.ErrChecksumMismatch)
	}
	etag := hex.EncodeToString(sum)
	if err := writeFileAtomic(parts, mp, []byte(marker{etag, p.Offset, p.Size}.String())); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("local: upload part %d of %q: upload %s was aborted or completed meanwhile: %w", p.Number, key, uploadID, objstore.ErrUploadNotFound)
		}
		return "", osErr("upload part: write marker", mp, err)
	}
	return etag, nil
}

func writeFileAtomic(dir, p string, data []byte) error {
	f, err := os.CreateTemp(dir, tempPattern())
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// CompleteMultipart checks that parts cover [0,total) contiguously and that
// every one landed with the same ETag (when given), offset and size, then
// truncates the staging file to total and renames it into place.
func (s *Store) CompleteMultipart(ctx context.Context, key, uploadID string, parts []objstore.Part) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st, partsDir, err := s.staging("complete multipart upload", key, uploadID)
	if err != nil {
		return err
	}
	fi, err := os.Stat(st)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("local: complete multipart upload of %q: upload %s (%s): %w", key, uploadID, st, objstore.ErrUploadNotFound)
		}
		return osErr("complete multipart upload: stat", st, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("local: complete multipart upload: %s is not a regular file", st)
	}
	if len(parts) == 0 {
		return fmt.Errorf("local: complete multipart upload of %q (%s): no parts given", key, st)
	}
	sorted := slices.Clone(parts)
	slices.SortFunc(sorted, func(a, b objstore.Part) int { return a.Number - b.Number })
	var total int64
	for i, p := range sorted {
		if i > 0 && p.Number == sorted[i-1].Number {
			return fmt.Errorf("local: complete multipart upload of %q: part %d listed twice", key, p.Number)
		}
		if p.Offset != total || p.Size < 0 {
			return fmt.Errorf("local: complete multipart upload of %q: part %d covers [%d,%d), want it to start at %d: parts must be contiguous from offset 0", key, p.Number, p.Offset, p.Offset+p.Size, total)
		}
		total += p.Size
		mp := filepath.Join(partsDir, strconv.Itoa(p.Number))
		m, err := readMarker(mp)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("local: complete multipart upload of %q: part %d was never uploaded (no %s)", key, p.Number, mp)
			}
			return osErr("complete multipart upload: read marker", mp, err)
		}
		if m.offset != p.Offset || m.size != p.Size {
			return fmt.Errorf("local: complete multipart upload of %q: part %d was uploaded at [%d,%d), listed at [%d,%d)", key, p.Number, m.offset, m.offset+m.size, p.Offset, p.Offset+p.Size)
		}
		if p.ETag != "" && !strings.EqualFold(strings.Trim(p.ETag, `"`), m.etag) {
			return fmt.Errorf("local: complete multipart upload of %q: part %d has etag %s, listed with %s: %w", key, p.Number, m.etag, p.ETag, objstore.ErrChecksumMismatch)
		}
	}
	if fi.Size() < total {
		return fmt.Errorf("local: complete multipart upload of %q: staging file %s holds %d bytes, parts need %d", key, st, fi.Size(), total)
	}
	if err := os.Truncate(st, total); err != nil {
		return osErr("complete multipart upload: truncate", st, err)
	}
	dst := filepath.Join(filepath.Dir(st), path.Base(key))
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		return fmt.Errorf("local: complete multipart upload: a directory is in the way at %s: %w", dst, syscall.EISDIR)
	}
	if err := os.Rename(st, dst); err != nil {
		return osErr("complete multipart upload: rename into", dst, err)
	}
	if err := os.RemoveAll(partsDir); err != nil {
		return osErr("complete multipart upload: remove", partsDir, err)
	}
	return nil
}

// AbortMultipart removes the staging file and part markers. Aborting an
// upload that does not exist (already aborted or completed) returns nil, so
// that aborts can be retried.
func (s *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	st, parts, err := s.staging("abort multipart upload", key, uploadID)
	if err != nil {
		return err
	}
	if err := os.Remove(st); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return osErr("abort multipart upload: remove", st, err)
	}
	if err := os.RemoveAll(parts); err != nil {
		return osErr("abort multipart upload: remove", parts, err)
	}
	return nil
}

// ListMultipartUploads finds staging files of open uploads whose key starts
// with prefix, in key order.
func (s *Store) ListMultipartUploads(ctx context.Context, prefix string) ([]objstore.Upload, error) {
	dirKey := prefix[:strings.LastIndexByte(prefix, '/')+1]
	if dirKey != "" && checkKey(dirKey) != "" {
		return nil, nil
	}
	var (
		ups     []objstore.Upload
		listErr error
	)
	s.walk(ctx, dirKey, func(key string, isDir bool) bool {
		if isDir {
			return strings.HasPrefix(key, prefix) || strings.HasPrefix(prefix, key)
		}
		return true // staging names do not sort like their keys; filter below
	}, func(key, p string, fi fs.FileInfo, err error) bool {
		if err != nil {
			listErr = err
			return false
		}
		dk, name := key[:strings.LastIndexByte(key, '/')+1], path.Base(key)
		rest, ok := strings.CutPrefix(name, mpuPrefix)
		if !ok || len(rest) < objstore.UploadIDLen+2 || rest[objstore.UploadIDLen] != '-' || !objstore.IsUploadID(rest[:objstore.UploadIDLen]) {
			return true
		}
		k := dk + rest[objstore.UploadIDLen+1:]
		if strings.HasPrefix(k, prefix) {
			ups = append(ups, objstore.Upload{Key: k, UploadID: rest[:objstore.UploadIDLen]})
		}
		return true
	}, true)
	if listErr != nil {
		return nil, listErr
	}
	slices.SortFunc(ups, func(a, b objstore.Upload) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.UploadID, b.UploadID)
	})
	return ups, nil
}

// tempPattern names temporary files after the writing process, so files
// left by a process that died mid-write can be told apart and swept.
func tempPattern() string { return tmpPrefix + strconv.Itoa(os.Getpid()) + "-*" }

// SweepStale removes temporary files under prefix whose writer process is
// gone (a gateway killed mid-write). Files of live writers stay.
func (s *Store) SweepStale(ctx context.Context, prefix string) error {
	dir := filepath.Join(s.root, filepath.FromSlash(prefix))
	if !strings.HasSuffix(prefix, "/") && prefix != "" {
		dir = filepath.Dir(dir)
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		name, ok := strings.CutPrefix(d.Name(), tmpPrefix)
		if d.IsDir() || !ok {
			return nil
		}
		pidText, _, _ := strings.Cut(name, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM) {
			return nil // not ours, or its writer still runs
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return osErr("sweep stale temp file", p, err)
		}
		return nil
	})
}
