package azure

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strconv"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

const (
	partDigits    = 6
	rawBlockIDLen = objstore.UploadIDLen + 1 + partDigits // "<uploadID>-<nnnnnn>"
	// tombstonePart is the part number of the block AbortMultipart stages
	// when it cannot delete the blob; real parts are numbered from 1.
	tombstonePart = 0
)

// blockID is the base64 block id of part n of an upload; always the same
// length (52 characters).
func blockID(uploadID string, n int) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%s-%0*d", uploadID, partDigits, n))
}

// parseBlockID recovers (uploadID, part) from a block id made by blockID.
func parseBlockID(id string) (uploadID string, n int, ok bool) {
	raw, err := base64.StdEncoding.DecodeString(id)
	if err != nil || len(raw) != rawBlockIDLen || raw[objstore.UploadIDLen] != '-' {
		return "", 0, false
	}
	uploadID = string(raw[:objstore.UploadIDLen])
	if !objstore.IsUploadID(uploadID) {
		return "", 0, false
	}
	digits := raw[objstore.UploadIDLen+1:]
	for _, c := range digits {
		if c < '0' || c > '9' {
			return "", 0, false
		}
	}
	n, _ = strconv.Atoi(string(digits))
	return uploadID, n, true
}

func (s *Store) checkUpload(op, key, uploadID string) error {
	if !objstore.IsUploadID(uploadID) {
		return fmt.Errorf("azure: %s %s: upload id %q is not one of this backend's (32 hex digits): %w", op, s.where(key), uploadID, objstore.ErrUploadNotFound)
	}
	return nil
}

// uploadState summarises the staged blocks of one upload at one key.
type uploadState struct {
	parts map[string]int64 // block id -> size
	tomb  bool
}

// blockState is the parsed uncommitted block list of a blob.
type blockState struct {
	uploads map[string]*uploadState
	foreign int // uncommitted blocks not made by this backend
}

func parseBlocks(blocks []*blockblob.Block) blockState {
	st := blockState{uploads: map[string]*uploadState{}}
	for _, b := range blocks {
		if b == nil || b.Name == nil {
			continue
		}
		id, n, ok := parseBlockID(*b.Name)
		if !ok {
			st.foreign++
			continue
		}
		u := st.uploads[id]
		if u == nil {
			u = &uploadState{parts: map[string]int64{}}
			st.uploads[id] = u
		}
		if n == tombstonePart {
			u.tomb = true
			continue
		}
		var size int64
		if b.Size != nil {
			size = *b.Size
		}
		u.parts[*b.Name] = size
	}
	return st
}

// live reports whether the upload has staged parts and was not aborted.
func (u *uploadState) live() bool { return u != nil && !u.tomb && len(u.parts) > 0 }

// InitiateMultipart returns a fresh upload id; no request is made.
func (s *Store) InitiateMultipart(ctx context.Context, key string) (string, error) {
	return objstore.NewUploadID(), nil
}

var emptyMD5 = md5.Sum(nil)

// UploadPart stages part p as an uncommitted block; the service checks p.MD5.
// A zero-byte part stages nothing (CompleteMultipart skips it).
func (s *Store) UploadPart(ctx context.Context, key, uploadID string, p objstore.Part, r io.Reader) (string, error) {
	op := fmt.Sprintf("upload part %d of", p.Number)
	if err := s.checkUpload(op, key, uploadID); err != nil {
		return "", err
	}
	switch {
	case p.Number < 1 || p.Number > MaxBlocks:
		return "", fmt.Errorf("azure: %s %s: part number must be 1 to %d", op, s.where(key), MaxBlocks)
	case p.Size < 0 || p.Size > MaxBlockSize:
		return "", fmt.Errorf("azure: %s %s: part size %d is outside 0 to %d bytes", op, s.where(key), p.Size, int64(MaxBlockSize))
	case p.MD5 != nil && len(p.MD5) != 16:
		return "", fmt.Errorf("azure: %s %s: MD5 has %d bytes, want 16", op, s.where(key), len(p.MD5))
	}
	if p.Size == 0 {
		if p.MD5 != nil && !bytes.Equal(p.MD5, emptyMD5[:]) {
			return "", fmt.Errorf("azure: %s %s: the MD5 of an empty part is %x, not %x: %w", op, s.where(key), emptyMD5, p.MD5, objstore.ErrChecksumMismatch)
		}
		return hex.EncodeToString(emptyMD5[:]), nil
	}
	id := blockID(uploadID, p.Number)
	opts := &blockblob.StageBlockOptions{}
	if p.MD5 != nil {
		opts.TransactionalValidation = blob.TransferValidationTypeMD5(p.MD5)
	}
	resp, err := s.cc.NewBlockBlobClient(key).StageBlock(ctx, id, newBody(r, p.Size), opts)
	if err != nil {
		return "", s.blobErr(op, key, err)
	}
	switch {
	case len(resp.ContentMD5) == 16:
		return hex.EncodeToString(resp.ContentMD5), nil
	case p.MD5 != nil:
		return hex.EncodeToString(p.MD5), nil
	}
	return id, nil
}

// CompleteMultipart commits the staged parts in part order. It fails with
// ErrUploadNotFound when a non-empty part is not staged (or the upload was
// aborted). Calling it again after it succeeded returns nil.
func (s *Store) CompleteMultipart(ctx context.Context, key, uploadID string, parts []objstore.Part) error {
	const op = "complete multipart upload of"
	if err := s.checkUpload(op, key, uploadID); err != nil {
		return err
	}
	for i, p := range parts {
		if p.Number < 1 || p.Number > MaxBlocks {
			return fmt.Errorf("azure: %s %s: part number %d is outside 1 to %d", op, s.where(key), p.Number, MaxBlocks)
		}
		if i > 0 && parts[i-1].Number == p.Number {
			return fmt.Errorf("azure: %s %s: part %d is listed twice", op, s.where(key), p.Number)
		}
	}
	bb := s.cc.NewBlockBlobClient(key)
	var st blockState
	var committed []string
	bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
	switch {
	case err == nil:
		st = parseBlocks(bl.UncommittedBlocks)
		for _, b := range bl.CommittedBlocks {
			if b != nil && b.Name != nil {
				committed = append(committed, *b.Name)
			}
		}
	case isBlobNotFound(err):
		st = parseBlocks(nil)
	default:
		return s.blobErr(op, key, err)
	}
	u := st.uploads[uploadID]
	if u != nil && u.tomb {
		return fmt.Errorf("azure: %s %s: upload %s was aborted: %w", op, s.where(key), uploadID, objstore.ErrUploadNotFound)
	}
	var ids, want []string
	var missing []int
	for _, p := range parts {
		id := blockID(uploadID, p.Number)
		var size int64
		var ok bool
		if u != nil {
			size, ok = u.parts[id]
		}
		switch {
		case ok && p.Size > 0 && size != p.Size:
			return fmt.Errorf("azure: %s %s: part %d was staged with %d bytes, but Complete says %d", op, s.where(key), p.Number, size, p.Size)
		case ok:
			ids = append(ids, id)
		case p.Size != 0:
			missing = append(missing, p.Number)
		}
		if p.Size != 0 || ok {
			want = append(want, id)
		}
	}
	if len(missing) > 0 {
		if u == nil && len(want) > 0 && slices.Equal(committed, want) {
			return nil // already completed (a retried Complete)
		}
		return fmt.Errorf("azure: %s %s: upload %s has no staged block for parts %v (never uploaded, already completed or aborted, or discarded by another commit to this blob): %w",
			op, s.where(key), uploadID, compactInts(missing), objstore.ErrUploadNotFound)
	}
	if _, err := bb.CommitBlockList(ctx, ids, nil); err != nil {
		if hasCode(err, "InvalidBlockList") {
			return fmt.Errorf("azure: %s %s: the service no longer has every staged part of upload %s (another commit to this blob discarded them?): %w: %w",
				op, s.where(key), uploadID, objstore.ErrUploadNotFound, err)
		}
		return s.blobErr(op, key, err)
	}
	return nil
}

// compactInts shortens long lists of part numbers for messages.
func compactInts(v []int) string {
	if len(v) <= 10 {
		return fmt.Sprint(v)
	}
	return fmt.Sprintf("%v ... (%d in all)", v[:10], len(v))
}

// AbortMultipart discards an upload's staged blocks without exposing a blob
// and without touching a committed blob at the key (see the package
// documentation): it deletes the blob when it has no committed content and no
// other live upload, and otherwise stages a tombstone block for the upload.
func (s *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	const op = "abort multipart upload of"
	if err := s.checkUpload(op, key, uploadID); err != nil {
		return err
	}
	bb := s.cc.NewBlockBlobClient(key)
	bl, err := bb.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
	if err != nil {
		if isBlobNotFound(err) {
			return nil // nothing staged at this key
		}
		return s.blobErr(op, key, err)
	}
	st := parseBlocks(bl.UncommittedBlocks)
	ours := st.uploads[uploadID]
	if ours == nil || ours.tomb {
		return nil // nothing of this upload staged, or already aborted
	}
	others := st.foreign > 0
	for id, u := range st.uploads {
		if id != uploadID && u.live() {
			others = true
		}
	}
	if !others {
		_, err := bb.GetProperties(ctx, nil)
		switch {
		case isBlobNotFound(err):
			// Only uncommitted blocks, all dead once ours go: deleting the
			// blob removes them and never exposes anything.
			if _, err := bb.Delete(ctx, nil); err == nil || isBlobNotFound(err) {
				return nil
			}
			// The service refused to delete an uncommitted blob: fall back to the tombstone.
		case err != nil:
			return s.blobErr(op, key, err)
		}
	}
	tomb := bytes.NewReader([]byte{0})
	if _, err := bb.StageBlock(ctx, blockID(uploadID, tombstonePart), nopCloser{tomb}, nil); err != nil {
		return s.blobErr(op, key, err)
	}
	return nil
}

// ListMultipartUploads lists the uploads with staged parts under prefix.
// It costs one Get Block List per blob under
// prefix (committed or not), run 16 at a time.
func (s *Store) ListMultipartUploads(ctx context.Context, prefix string) ([]objstore.Upload, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		ups     []objstore.Upload
		first   error
		wg      sync.WaitGroup
		names   = make(chan string)
		setErr  = func(err error) { mu.Lock(); first = cmpErr(first, err); mu.Unlock(); cancel() }
		workers = listUploadsWorkers
	)
	for range workers {
		wg.Go(func() {
			for name := range names {
				bl, err := s.cc.NewBlockBlobClient(name).GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil)
				if err != nil {
					if !isBlobNotFound(err) {
						setErr(s.blobErr("list multipart uploads: read block list of", name, err))
					}
					continue
				}
				st := parseBlocks(bl.UncommittedBlocks)
				mu.Lock()
				for id, u := range st.uploads {
					if u.live() {
						ups = append(ups, objstore.Upload{Key: name, UploadID: id})
					}
				}
				mu.Unlock()
			}
		})
	}
	opts := &container.ListBlobsFlatOptions{
		Include:    container.ListBlobsInclude{UncommittedBlobs: true},
		MaxResults: to.Ptr(s.pageSize),
	}
	if prefix != "" {
		opts.Prefix = to.Ptr(prefix)
	}
	pager := s.cc.NewListBlobsFlatPager(opts)
list:
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			setErr(s.containerErr(fmt.Sprintf("list multipart uploads under %q in", prefix), err))
			break
		}
		if page.Segment == nil {
			continue
		}
		for _, it := range page.Segment.BlobItems {
			if it == nil || it.Name == nil {
				continue
			}
			select {
			case names <- *it.Name:
			case <-ctx.Done():
				break list
			}
		}
	}
	close(names)
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ups, nil
}

// cmpErr keeps the first real error (not a cancellation caused by it).
func cmpErr(first, err error) error {
	if first == nil || errors.Is(first, context.Canceled) {
		return err
	}
	return first
}

// writeStaged writes an object above the single-put limit as blocks of an
// internal upload, committed at once with the whole-object MD5 as Content-MD5.
// Blocks of a seekable source are hashed first and staged with a transactional
// MD5; a plain reader is streamed once, hashed on the way. A whole-object MD5
// mismatch is found before the commit, so nothing becomes visible.
func (s *Store) writeStaged(ctx context.Context, key string, r io.Reader, size int64, sum []byte) (err error) {
	op := fmt.Sprintf("write (%d bytes, staged)", size)
	blockSize := max(s.writeBlockSize, (size+MaxBlocks-1)/MaxBlocks)
	if blockSize > MaxBlockSize {
		return fmt.Errorf("azure: %s %s: larger than %d blocks of %d bytes", op, s.where(key), MaxBlocks, int64(MaxBlockSize))
	}
	uploadID := objstore.NewUploadID()
	bb := s.cc.NewBlockBlobClient(key)
	defer func() {
		if err != nil {
			// Best effort: never leave the internal upload behind.
			actx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			defer cancel()
			_ = s.AbortMultipart(actx, key, uploadID)
		}
	}()
	whole := md5.New()
	var ids []string
	var base int64
	if rs, ok := r.(io.ReadSeeker); ok {
		if cur, serr := rs.Seek(0, io.SeekCurrent); serr == nil {
			base = cur
		}
	}
	for off, n := int64(0), 1; off < size; off, n = off+blockSize, n+1 {
		length := min(blockSize, size-off)
		id := blockID(uploadID, n)
		opts := &blockblob.StageBlockOptions{}
		var body io.ReadSeekCloser
		if ra, ok := r.(io.ReaderAt); ok && rewindableSource(r) {
			sec := io.NewSectionReader(ra, base+off, length)
			h := md5.New()
			if got, err := io.Copy(io.MultiWriter(h, whole), sec); err != nil || got != length {
				if err == nil {
					err = &shortSourceError{got: off + got, want: size}
				}
				return fmt.Errorf("azure: %s %s: reading the source: %w", op, s.where(key), err)
			}
			opts.TransactionalValidation = blob.TransferValidationTypeMD5(h.Sum(nil))
			body = nopCloser{io.NewSectionReader(ra, base+off, length)}
		} else {
			body = &oneShot{r: &hashReader{r: io.LimitReader(r, length), h: whole}, size: length}
		}
		if _, err := bb.StageBlock(ctx, id, body, opts); err != nil {
			return s.blobErr(fmt.Sprintf("%s: stage block %d of", op, n), key, err)
		}
		ids = append(ids, id)
	}
	got := whole.Sum(nil)
	if sum != nil && !bytes.Equal(got, sum) {
		return fmt.Errorf("azure: %s %s: the data read has MD5 %x, the caller expected %x; nothing was committed: %w", op, s.where(key), got, sum, objstore.ErrChecksumMismatch)
	}
	_, err = bb.CommitBlockList(ctx, ids, &blockblob.CommitBlockListOptions{HTTPHeaders: &blob.HTTPHeaders{BlobContentMD5: got}})
	if err != nil {
		return s.blobErr(op+": commit", key, err)
	}
	return nil
}

// rewindableSource reports whether r's position can be learned (so ReadAt
// offsets are meaningful).
func rewindableSource(r io.Reader) bool {
	rs, ok := r.(io.Seeker)
	if !ok {
		return false
	}
	_, err := rs.Seek(0, io.SeekCurrent)
	return err == nil
}

// hashReader hashes what is read through it.
type hashReader struct {
	r io.Reader
	h hash.Hash
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}
