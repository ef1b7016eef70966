package local

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// staging returns the staging file and the part-marker directory of an
// upload, in the staging folder of key's directory.
func (s *Store) staging(op, key, uploadID string) (string, string, error) {
	p, err := s.objectPath(op, key)
	if err != nil {
		return "", "", err
	}
	if !objstore.IsUploadID(uploadID) {
		return "", "", fmt.Errorf("local: %s %s: malformed upload id %q: %w", op, p, uploadID, objstore.ErrUploadNotFound)
	}
	st := filepath.Join(filepath.Dir(p), stagingName, mpuPrefix+uploadID+"-"+filepath.Base(p))
	return st, st + partsSuffix, nil
}

// InitiateMultipart creates an empty staging file in the staging folder of
// key's directory (then its part-marker folder: a sweep removes marker
// folders without a staging file).
func (s *Store) InitiateMultipart(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	id := objstore.NewUploadID()
	st, parts, err := s.staging("initiate multipart upload", key, id)
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(filepath.Dir(st))
	var f *os.File
	for range 5 {
		if err := s.stagingFolder(ctx, dir); err != nil {
			return "", err
		}
		f, err = os.OpenFile(st, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if !errors.Is(err, fs.ErrNotExist) {
			break // else another writer removed the empty staging folder
		}
	}
	if err != nil {
		return "", osErr("initiate multipart upload: create", st, err)
	}
	fail := func(err error) (string, error) {
		os.Remove(st)
		os.Remove(parts)
		s.dropStaging(dir)
		return "", err
	}
	if err := f.Close(); err != nil {
		return fail(osErr("initiate multipart upload: create", st, err))
	}
	if err := os.Mkdir(parts, 0o755); err != nil {
		return fail(osErr("initiate multipart upload: create", parts, err))
	}
	// The upload must outlive a power loss like the journal naming it.
	if err := s.syncDir(filepath.Dir(st)); err != nil {
		return fail(osErr("initiate multipart upload: flush", filepath.Dir(st), err))
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
// p.MD5, fsyncs and closes it, then records the part in its marker file
// (written, fsynced, renamed, folder fsynced): a marker only ever names
// bytes that are on disk. A part may be
// uploaded again; its marker is removed before its bytes are rewritten.
func (s *Store) UploadPart(ctx context.Context, key, uploadID string, p objstore.Part, r io.Reader) (string, error) {
	// The part's ETag is its MD5, checked against p.MD5 when set.
	return s.uploadPart(ctx, key, uploadID, p, r, &check{name: "md5", h: md5.New(), want: p.MD5})
}

// UploadPartCRC32C is UploadPart checked by the part's CRC-32C, which is
// also its ETag (no MD5 is computed).
func (s *Store) UploadPartCRC32C(ctx context.Context, key, uploadID string, p objstore.Part, crc uint32, r io.Reader) (string, error) {
	return s.uploadPart(ctx, key, uploadID, p, r, crcCheck(crc))
}

func (s *Store) uploadPart(ctx context.Context, key, uploadID string, p objstore.Part, r io.Reader, c *check) (string, error) {
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
	mp := filepath.Join(parts, strconv.Itoa(p.Number))
	if err := os.Remove(mp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.Close()
		return "", osErr("upload part: remove old marker", mp, err)
	}
	n, err := copyN(ctx, io.MultiWriter(io.NewOffsetWriter(f, p.Offset), c.h), r, p.Size)
	if err == nil && n < p.Size {
		err = io.EOF
	}
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			return "", fmt.Errorf("local: upload part %d of %s: source ended after %d of %d bytes", p.Number, st, n, p.Size)
		}
		return "", fmt.Errorf("local: upload part %d of %s: %w", p.Number, st, err)
	}
	if err := c.verify(); err != nil {
		f.Close()
		return "", fmt.Errorf("local: upload part %d of %s: %w", p.Number, st, err)
	}
	if err := s.closeSynced(f); err != nil {
		return "", osErr(fmt.Sprintf("upload part %d: flush", p.Number), st, err)
	}
	etag := hex.EncodeToString(c.h.Sum(nil))
	if err := s.writeFileAtomic(parts, mp, []byte(marker{etag, p.Offset, p.Size}.String())); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("local: upload part %d of %q: upload %s was aborted or completed meanwhile: %w", p.Number, key, uploadID, objstore.ErrUploadNotFound)
		}
		return "", osErr("upload part: write marker", mp, err)
	}
	return etag, nil
}

// writeFileAtomic writes data as p (in dir) durably: temp file, fsync,
// rename, fsync of dir.
func (s *Store) writeFileAtomic(dir, p string, data []byte) error {
	f, err := os.CreateTemp(dir, tempPattern())
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := s.closeSynced(f); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return err
	}
	return s.syncDir(dir)
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
	var total int64
	for i, p := range parts {
		if i > 0 && p.Number == parts[i-1].Number {
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
	f, err := os.OpenFile(st, os.O_WRONLY, 0)
	if err != nil {
		return osErr("complete multipart upload: open", st, err)
	}
	if err := f.Truncate(total); err != nil {
		f.Close()
		return osErr("complete multipart upload: truncate", st, err)
	}
	if err := s.closeSynced(f); err != nil {
		return osErr("complete multipart upload: flush", st, err)
	}
	dir := filepath.Dir(filepath.Dir(st))
	dst := filepath.Join(dir, path.Base(key))
	if fi, err := os.Stat(dst); err == nil && fi.IsDir() {
		return fmt.Errorf("local: complete multipart upload: a directory is in the way at %s: %w", dst, syscall.EISDIR)
	}
	if err := os.Rename(st, dst); err != nil {
		return osErr("complete multipart upload: rename into", dst, err)
	}
	if err := s.syncDir(dir); err != nil {
		return osErr("complete multipart upload: flush directory", dir, err)
	}
	if err := os.RemoveAll(partsDir); err != nil {
		return osErr("complete multipart upload: remove", partsDir, err)
	}
	s.dropStaging(dir)
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
	s.dropStaging(filepath.Dir(filepath.Dir(st)))
	return nil
}

// ListMultipartUploads finds the staging files of open uploads whose key
// starts with prefix, in key order, in the staging folders of the
// directories under prefix.
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
		return isDir && (strings.HasPrefix(key, prefix) || strings.HasPrefix(prefix, key))
	}, func(key, p string, fi fs.FileInfo, err error) bool {
		listErr = err
		return false
	}, func(dk, staging string) bool {
		des, err := readDir(staging)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return true // dropped since the directory was read
			}
			listErr = osErr("list multipart uploads", staging, err)
			return false
		}
		for _, de := range des {
			rest, ok := strings.CutPrefix(de.Name(), mpuPrefix)
			if !ok || !de.Type().IsRegular() || len(rest) < objstore.UploadIDLen+2 || rest[objstore.UploadIDLen] != '-' || !objstore.IsUploadID(rest[:objstore.UploadIDLen]) {
				continue
			}
			if k := dk + rest[objstore.UploadIDLen+1:]; strings.HasPrefix(k, prefix) {
				ups = append(ups, objstore.Upload{Key: k, UploadID: rest[:objstore.UploadIDLen]})
			}
		}
		return true
	})
	if listErr != nil {
		return nil, listErr
	}
	return ups, nil
}
