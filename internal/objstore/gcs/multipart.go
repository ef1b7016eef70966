package gcs

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"cloud.google.com/go/storage"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

const (
	composeWorkers = 8  // concurrent compose calls of one tree level
	deleteWorkers  = 16 // concurrent deletes of temporary pieces
)

func manifestName(key, uploadID string) string { return uploadsPrefix + key + "#" + uploadID }
func partsDir(uploadID string) string          { return partsPrefix + uploadID + "/" }
func pieceName(uploadID string, n int) string  { return fmt.Sprintf("%sp%05d", partsDir(uploadID), n) }
func compositeName(uploadID string, level, i int) string {
	return fmt.Sprintf("%sc%d-%05d", partsDir(uploadID), level, i)
}

// parseManifest returns the key and upload id a manifest name encodes.
func parseManifest(name string) (key, uploadID string, ok bool) {
	rest, ok := strings.CutPrefix(name, uploadsPrefix)
	if !ok || len(rest) < objstore.UploadIDLen+2 || rest[len(rest)-objstore.UploadIDLen-1] != '#' {
		return "", "", false
	}
	key, uploadID = rest[:len(rest)-objstore.UploadIDLen-1], rest[len(rest)-objstore.UploadIDLen:]
	return key, uploadID, objstore.IsUploadID(uploadID)
}

// checkUpload validates the key and upload id of a multipart call.
func (s *Store) checkUpload(op, key, uploadID string) error {
	if why := checkKey(key); why != "" {
		return s.refuse(op, key, why)
	}
	if !objstore.IsUploadID(uploadID) {
		return fmt.Errorf("gcs: %s %s: malformed upload id %q: %w", op, s.objURL(key), uploadID, objstore.ErrUploadNotFound)
	}
	return nil
}

func (s *Store) uploadNotFound(op, key, uploadID string) error {
	return fmt.Errorf("gcs: %s %s: upload %s is not open (never initiated, already completed or aborted): %w", op, s.objURL(key), uploadID, objstore.ErrUploadNotFound)
}

// uploadOpen reports whether the manifest of the upload exists.
func (s *Store) uploadOpen(ctx context.Context, op, key, uploadID string) (bool, error) {
	_, err := s.bucket.Object(manifestName(key, uploadID)).Attrs(ctx)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrObjectNotExist):
		return false, nil
	}
	return false, s.objErr(op+" (upload "+uploadID+")", key, err)
}

// InitiateMultipart writes the upload's manifest and returns its id.
func (s *Store) InitiateMultipart(ctx context.Context, key string) (string, error) {
	if why := checkKey(key); why != "" {
		return "", s.refuse("initiate multipart upload of", key, why)
	}
	id := objstore.NewUploadID()
	m := manifestName(key, id)
	if len(m) > maxNameLen {
		return "", s.refuse("initiate multipart upload of", key, fmt.Sprintf("key is %d bytes long; multipart uploads allow at most %d (write it in one piece instead)", len(key), maxNameLen-len(m)+len(key)))
	}
	if _, err := s.put(ctx, m, bytes.NewReader(nil), 0, nil, nil); err != nil {
		return "", fmt.Errorf("gcs: initiate multipart upload of %s: %w", s.objURL(key), err)
	}
	return id, nil
}

// UploadPart stores part p as a temporary object, its MD5 (when given)
// verified by the server. The ETag is the part's MD5 in hex.
func (s *Store) UploadPart(ctx context.Context, key, uploadID string, p objstore.Part, r io.Reader) (string, error) {
	op := fmt.Sprintf("upload part %d of", p.Number)
	if err := s.checkUpload(op, key, uploadID); err != nil {
		return "", err
	}
	if p.Number < 1 || p.Number > MaxParts {
		return "", fmt.Errorf("gcs: %s %s: part number must be 1 to %d", op, s.objURL(key), MaxParts)
	}
	if open, err := s.uploadOpen(ctx, op, key, uploadID); err != nil {
		return "", err
	} else if !open {
		return "", s.uploadNotFound(op, key, uploadID)
	}
	name := pieceName(uploadID, p.Number)
	a, err := s.put(ctx, name, r, p.Size, p.MD5, nil)
	if err != nil {
		return "", fmt.Errorf("gcs: %s %s (upload %s): %w", op, s.objURL(key), uploadID, err)
	}
	// A Complete or Abort may have run meanwhile and missed this piece:
	// then the manifest is gone, and the piece must go too.
	if open, err := s.uploadOpen(ctx, op, key, uploadID); err != nil {
		return "", err
	} else if !open {
		if derr := s.deleteRaw(ctx, name); derr != nil {
			return "", fmt.Errorf("%w (and removing the piece failed: %w)", s.uploadNotFound(op, key, uploadID), derr)
		}
		return "", s.uploadNotFound(op, key, uploadID)
	}
	switch {
	case len(a.MD5) > 0:
		return hex.EncodeToString(a.MD5), nil
	case p.MD5 != nil:
		return hex.EncodeToString(p.MD5), nil
	}
	return strconv.FormatInt(a.Generation, 10), nil
}

// composeStep composes srcs, in order, into dst.
type composeStep struct {
	dst  string
	srcs []string
}

// composePlan returns the compose calls that concatenate srcs into final,
// level by level (the calls of one level are independent): while more than
// 32 sources remain, each group of 32 becomes one intermediate object named
// by tmp(level, index); a last call composes the remaining ones into final.
func composePlan(srcs []string, final string, tmp func(level, i int) string) [][]composeStep {
	var levels [][]composeStep
	for level := 0; len(srcs) > maxComposeSrcs; level++ {
		var (
			steps []composeStep
			next  []string
		)
		for i := 0; i*maxComposeSrcs < len(srcs); i++ {
			group := srcs[i*maxComposeSrcs : min((i+1)*maxComposeSrcs, len(srcs))]
			if len(group) == 1 {
				next = append(next, group[0])
				continue
			}
			dst := tmp(level, i)
			steps = append(steps, composeStep{dst: dst, srcs: group})
			next = append(next, dst)
		}
		levels = append(levels, steps)
		srcs = next
	}
	return append(levels, []composeStep{{dst: final, srcs: srcs}})
}

// CompleteMultipart composes the parts (sorted by Number) into key and
// removes every temporary object of the upload. Completing an upload that
// already completed (its object carries the upload id) only cleans up.
// With no parts, key becomes an empty object.
func (s *Store) CompleteMultipart(ctx context.Context, key, uploadID string, parts []objstore.Part) error {
	const op = "complete multipart upload of"
	if err := s.checkUpload(op, key, uploadID); err != nil {
		return err
	}
	a, err := s.bucket.Object(key).Attrs(ctx)
	if err == nil && a.Metadata[uploadIDMeta] == uploadID {
		return s.finish(ctx, key, uploadID) // a repeated Complete
	}
	if err != nil && !errors.Is(err, storage.ErrObjectNotExist) {
		return s.objErr(op, key, err)
	}
	if open, err := s.uploadOpen(ctx, op, key, uploadID); err != nil {
		return err
	} else if !open {
		return s.uploadNotFound(op, key, uploadID)
	}

	srcs := make([]string, len(parts))
	for i, p := range parts {
		if p.Number < 1 || p.Number > MaxParts {
			return fmt.Errorf("gcs: %s %s: part number %d out of range 1 to %d", op, s.objURL(key), p.Number, MaxParts)
		}
		if i > 0 && parts[i-1].Number == p.Number {
			return fmt.Errorf("gcs: %s %s: part %d listed twice", op, s.objURL(key), p.Number)
		}
		srcs[i] = pieceName(uploadID, p.Number)
	}
	meta := map[string]string{uploadIDMeta: uploadID}
	if len(srcs) == 0 {
		if _, err := s.put(ctx, key, bytes.NewReader(nil), 0, nil, meta); err != nil {
			return fmt.Errorf("gcs: %s %s (no parts): %w", op, s.objURL(key), err)
		}
		return s.finish(ctx, key, uploadID)
	}
	plan := composePlan(srcs, key, func(level, i int) string { return compositeName(uploadID, level, i) })
	for li, steps := range plan {
		var final map[string]string
		if li == len(plan)-1 {
			final = meta
		}
		if err := s.composeAll(ctx, steps, final); err != nil {
			return fmt.Errorf("gcs: %s %s (upload %s, %d parts): %w", op, s.objURL(key), uploadID, len(srcs), err)
		}
	}
	return s.finish(ctx, key, uploadID)
}

// composeAll runs independent compose steps concurrently; meta, when set,
// becomes the custom metadata of every destination.
func (s *Store) composeAll(ctx context.Context, steps []composeStep, meta map[string]string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		sem   = make(chan struct{}, composeWorkers)
	)
	for _, st := range steps {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.compose(ctx, st, meta); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

func (s *Store) compose(ctx context.Context, st composeStep, meta map[string]string) error {
	srcs := make([]*storage.ObjectHandle, len(st.srcs))
	for i, n := range st.srcs {
		srcs[i] = s.bucket.Object(n)
	}
	c := s.bucket.Object(st.dst).ComposerFrom(srcs...)
	c.ContentType = "application/octet-stream"
	c.Metadata = meta
	_, err := c.Run(ctx)
	if err == nil {
		return nil
	}
	err = s.objErr(fmt.Sprintf("compose %d objects (%s .. %s) into", len(st.srcs), st.srcs[0], st.srcs[len(st.srcs)-1]), st.dst, err)
	if ctx.Err() != nil {
		return err
	}
	// Name the missing sources, if that is what went wrong (GCS answers
	// 404, fake-gcs-server 500). Retrying would not help then.
	if missing := s.missing(ctx, st.srcs); len(missing) > 0 {
		return fmt.Errorf("%s is missing (never uploaded, or removed): %v", missing, err)
	}
	return err
}

// missing describes which of the given objects do not exist ("" when all do).
func (s *Store) missing(ctx context.Context, names []string) string {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		miss []string
		sem  = make(chan struct{}, composeWorkers)
	)
	for _, n := range names {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := s.bucket.Object(n).Attrs(ctx); errors.Is(err, storage.ErrObjectNotExist) {
				mu.Lock()
				miss = append(miss, n)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(miss) == 0 {
		return ""
	}
	slices.Sort(miss)
	var parts []string
	for _, n := range miss {
		if i := strings.LastIndex(n, "/p"); i >= 0 {
			if num, err := strconv.Atoi(n[i+2:]); err == nil {
				parts = append(parts, strconv.Itoa(num))
				continue
			}
		}
		parts = append(parts, n)
	}
	if len(parts) == 1 {
		return "part " + parts[0]
	}
	return "parts " + strings.Join(parts, ", ")
}

// finish removes the temporary objects of a completed upload.
func (s *Store) finish(ctx context.Context, key, uploadID string) error {
	if err := s.cleanup(ctx, key, uploadID); err != nil {
		return fmt.Errorf("gcs: complete multipart upload of %s: the object is complete, but removing the temporary parts of upload %s failed (a repeated CompleteMultipart or AbortMultipart removes them): %w", s.objURL(key), uploadID, err)
	}
	return nil
}

// AbortMultipart removes every temporary object of the upload. Aborting an
// upload that does not exist (any more) is not an error.
func (s *Store) AbortMultipart(ctx context.Context, key, uploadID string) error {
	if err := s.checkUpload("abort multipart upload of", key, uploadID); err != nil {
		return err
	}
	if err := s.cleanup(ctx, key, uploadID); err != nil {
		return fmt.Errorf("gcs: abort multipart upload %s of %s: %w", uploadID, s.objURL(key), err)
	}
	return nil
}

// cleanup deletes the upload's pieces, then its manifest, then any piece
// that landed meanwhile (UploadPart deletes its own piece when it finds the
// manifest gone afterwards). Until the manifest is deleted, the upload stays
// listed, so a failure here leaves it visible to ListMultipartUploads.
func (s *Store) cleanup(ctx context.Context, key, uploadID string) error {
	if err := s.sweep(ctx, uploadID); err != nil {
		return err
	}
	if err := s.deleteRaw(ctx, manifestName(key, uploadID)); err != nil {
		return err
	}
	return s.sweep(ctx, uploadID)
}

// sweep deletes every object under the upload's parts folder.
func (s *Store) sweep(ctx context.Context, uploadID string) error {
	var names []string
	for a, err := range s.listRaw(ctx, &storage.Query{Prefix: partsDir(uploadID)}) {
		if err != nil {
			return s.bucketErr("list the temporary parts of upload "+uploadID+" in", err)
		}
		names = append(names, a.Name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		work  = make(chan string)
	)
	for range min(deleteWorkers, len(names)) {
		wg.Go(func() {
			for n := range work {
				if err := s.deleteRaw(ctx, n); err != nil {
					mu.Lock()
					if first == nil {
						first = err
						cancel()
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, n := range names {
		if ctx.Err() != nil {
			break
		}
		work <- n
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// ListMultipartUploads lists the open uploads of keys under prefix, by key.
func (s *Store) ListMultipartUploads(ctx context.Context, prefix string) ([]objstore.Upload, error) {
	if reserved(prefix) {
		return nil, nil
	}
	var ups []objstore.Upload
	for a, err := range s.listRaw(ctx, &storage.Query{Prefix: uploadsPrefix + prefix}) {
		if err != nil {
			return nil, s.bucketErr(fmt.Sprintf("list multipart uploads (prefix %q) in", prefix), err)
		}
		if key, id, ok := parseManifest(a.Name); ok && strings.HasPrefix(key, prefix) {
			ups = append(ups, objstore.Upload{Key: key, UploadID: id})
		}
	}
	return ups, nil
}
