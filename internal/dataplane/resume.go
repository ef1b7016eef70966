package dataplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// reuseUpload returns the upload an interrupted run opened for this object
// at destination i if it was reading the same source (identity) and the
// store still has it. An upload of another source version is aborted.
func (r *run) reuseUpload(js jobStores, i int, key string, id srcID) (*journalUpload, error) {
	if !js.resuming() {
		return nil, nil
	}
	u := js.journal.upload(i, key)
	if u == nil {
		return nil, nil
	}
	if u.Src != id {
		r.d.log.Info("the source changed since the interrupted run: its upload is aborted, the object sent afresh", "key", key)
		return nil, r.dropUpload(js, u)
	}
	ups, err := js.dsts[i].ListMultipartUploads(r.ctx, key)
	if err != nil {
		return nil, fmt.Errorf("list open uploads of %s: %w", key, err)
	}
	for _, up := range ups {
		if up.Key == key && up.UploadID == u.UploadID {
			js.journal.reuse(u)
			return u, nil
		}
	}
	return nil, js.journal.dropped(u) // gone from the store (expired, aborted elsewhere)
}

// dropUpload aborts an upload the interrupted run opened and this one will
// not continue. One that cannot be aborted stays in the journal.
func (r *run) dropUpload(js jobStores, u *journalUpload) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	if err := js.dsts[u.Dst].AbortMultipart(ctx, u.Key, u.UploadID); err != nil && !errors.Is(err, objstore.ErrUploadNotFound) {
		return fmt.Errorf("abort the interrupted run's upload of %s: %w", u.Key, err)
	}
	return js.journal.dropped(u)
}

// dropJournals aborts every upload an interrupted run opened that this run
// did not continue, then deletes the journals. A journal naming an upload
// that could not be aborted is kept for `skyplane deprovision`.
func (r *run) dropJournals(ctx context.Context, stores []jobStores) error {
	var errs []error
	for _, js := range stores {
		kept := false
		for _, u := range js.journal.unreused() {
			if err := r.dropUpload(js, u); err != nil {
				r.d.log.Error("abandoned upload left open: `skyplane deprovision` retries", "key", u.Key, "upload", u.UploadID, "err", err)
				errs = append(errs, err)
				kept = true
			}
		}
		if kept {
			js.journal.close()
			continue
		}
		if err := js.journal.remove(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sweepStale removes what gateways that died mid-write left at the
// destinations (local temp files), after success and failure alike.
func (r *run) sweepStale(ctx context.Context, stores []jobStores) {
	ctx = context.WithoutCancel(ctx)
	for _, js := range stores {
		for i, st := range js.dsts {
			// A recursive job's whole destination tree (a gateway killed in a
			// subfolder leaves its files there); a single object's folder only.
			prefix := destPrefix(js.job.Dsts[i].Key)
			if !js.job.Recursive && !js.job.Sync {
				key, err := chunk.NewMapping(js.job.Src.Key, js.job.Dsts[i].Key, false).Dest(js.job.Src.Key)
				if err != nil {
					continue
				}
				prefix = key
			}
			// Never the whole store's tree (a copy into a file system's root).
			if sw, ok := st.(objstore.Sweeper); ok && prefix != "" && prefix != "./" {
				if err := sw.SweepStale(ctx, prefix); err != nil {
					r.d.log.Warn("sweep stale temporary files", "dst", js.job.Dsts[i], "err", err)
				}
			}
		}
	}
}
