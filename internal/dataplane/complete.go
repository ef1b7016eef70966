package dataplane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// complete finishes a multipart upload off the tracking path.
func (r *run) complete(o *objState, od *objDest) {
	r.completeWG.Add(1)
	go func() {
		defer r.completeWG.Done()
		select {
		case r.completeSem <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		defer func() { <-r.completeSem }()
		var err error
		for attempt := range maxAttempts {
			if err = od.store.CompleteMultipart(r.ctx, od.key, od.uploadID, od.parts); err == nil || !objstore.IsRetryable(err) {
				break
			}
			time.Sleep(time.Duration(attempt+1) * 200 * time.Millisecond)
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if o.gone {
			return // restarted meanwhile: the restart aborted or overwrites it
		}
		if err != nil {
			r.fail(fmt.Errorf("complete multipart upload of %s: %w", od.key, err))
			return
		}
		delete(r.open, od)
		r.destDoneLocked(o, od)
	}()
}

// destDoneLocked: the object is whole at one destination. The journal
// learns it (with the source identity it was read from), so a resumed copy
// skips it only while the source is unchanged.
func (r *run) destDoneLocked(o *objState, od *objDest) {
	if o.gone {
		return
	}
	od.done = true
	x := expected{MD5: od.md5}
	if od.uploadID != "" {
		x = expected{ETag: multipartETag(od.parts)}
	}
	r.expected.settle(od.exp, x.MD5, x.ETag)
	id := identity(o.it.obj)
	if err := o.js.journal.record(journalRecord{Type: "done", Dst: od.index, Key: od.key, UploadID: od.uploadID, Src: &id, Expected: x.checksum()}, false); err != nil {
		r.fail(err)
		return
	}
	o.destsLeft--
	if o.destsLeft > 0 {
		return
	}
	r.outstanding--
	r.room.Signal()
	r.prog.ObjectsDone++
	r.result.Objects++
	r.checkFinishedLocked()
}

func (r *run) checkFinishedLocked() {
	if r.listingDone && r.outstanding == 0 {
		select {
		case <-r.finished:
		default:
			close(r.finished)
		}
	}
}

// restartLocked starts an object again whose source was rewritten while its
// chunks were in flight (a gateway's pinned read failed): its chunks are
// forgotten, its uploads aborted, and it is sent again from the version the
// source holds now, so the destination gets one version whole. An object
// that keeps changing fails with objstore.ErrChanged.
func (r *run) restartLocked(o *objState, reason string) {
	if o.gone {
		return
	}
	o.gone = true
	r.table.forget(o)
	var open []*objDest
	for _, od := range o.dests {
		if r.open[od] {
			delete(r.open, od)
			open = append(open, od)
		}
	}
	if o.restarts+1 > maxRestarts {
		for _, od := range open {
			r.open[od] = true // abortOpen aborts them
		}
		r.fail(fmt.Errorf("%s: %w: rewritten %d times while being copied (%s); rerun once it is stable", o.srcKey, objstore.ErrChanged, o.restarts+1, reason))
		return
	}
	r.result.Restarted++
	r.d.log.Warn("source rewritten during the transfer: starting the object again", "key", o.srcKey, "reason", reason)
	r.completeWG.Add(1)
	go func() {
		defer r.completeWG.Done()
		for _, od := range open {
			r.abortDest(o.js, od)
		}
		obj, err := o.js.src.Head(r.ctx, o.srcKey)
		if err != nil {
			r.fail(fmt.Errorf("%s: %w, and reading it again failed: %w", o.srcKey, objstore.ErrChanged, err))
			return
		}
		it := o.it
		it.obj = obj
		if err := r.startObject(o.ji, o.js, it, o); err != nil {
			r.fail(err)
		}
	}()
}

// abortDest aborts an upload this run opened and tells the journal.
func (r *run) abortDest(js jobStores, od *objDest) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	if err := od.store.AbortMultipart(ctx, od.key, od.uploadID); err != nil && !errors.Is(err, objstore.ErrUploadNotFound) {
		r.d.log.Error("abort multipart upload", "key", od.key, "upload", od.uploadID, "err", err)
		return // stays in the journal for a resume or `skyplane deprovision`
	}
	if err := js.journal.aborted(od.index, od.key, od.uploadID); err != nil {
		r.fail(err)
	}
}

// abortOpen aborts every multipart upload the failed run left open, so no
// staged part lingers (or is billed) at the destination.
func (r *run) abortOpen() {
	r.mu.Lock()
	open := make([]*objDest, 0, len(r.open))
	for od := range r.open {
		open = append(open, od)
	}
	r.open = map[*objDest]bool{}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), 30*time.Second)
	defer cancel()
	for _, od := range open {
		if err := od.store.AbortMultipart(ctx, od.key, od.uploadID); err != nil {
			r.d.log.Error("abort multipart upload", "key", od.key, "upload", od.uploadID, "err", err)
		}
	}
}
