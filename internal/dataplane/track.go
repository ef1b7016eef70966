package dataplane

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/gateway"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// dispatcher batches chunk requests and spreads them over the source
// gateways; a gateway with a full queue accepts part of a batch and the
// rest goes to the next one.
func (r *run) dispatcher() {
	all := r.d.clients("source")
	next := 0
	var batch []chunk.Request
	for {
		if len(batch) == 0 {
			batch = r.takeRetries(batch)
		}
		if len(batch) == 0 {
			select {
			case <-r.ctx.Done():
				return
			case req := <-r.dispatch:
				batch = append(batch, req)
			case <-r.retrySig:
				continue
			}
		}
	fill:
		for len(batch) < dispatchBatch {
			select {
			case req := <-r.dispatch:
				batch = append(batch, req)
			default:
				break fill
			}
		}
		// Each live source gateway gets an equal share of the batch; what a
		// full queue refuses goes round again.
		backoff := 5 * time.Millisecond
		for len(batch) > 0 {
			srcs := r.alive(all)
			share := (len(batch) + len(srcs) - 1) / len(srcs)
			var rest []chunk.Request
			progressed := false
			for i := range srcs {
				lo := min(i*share, len(batch))
				hi := min(lo+share, len(batch))
				if lo == hi {
					break
				}
				part := batch[lo:hi]
				c := srcs[(next+i)%len(srcs)]
				n, err := c.PostChunks(r.ctx, part)
				if err != nil && r.ctx.Err() == nil {
					r.d.log.Warn("post chunk requests", "gateway", c.ID, "err", err)
				}
				if n > 0 {
					r.posted(c.ID, part[:n])
					progressed = true
				}
				rest = append(rest, part[n:]...)
			}
			next++
			batch = rest
			if len(batch) == 0 {
				break
			}
			if !progressed {
				select {
				case <-r.ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(2*backoff, 200*time.Millisecond)
			}
		}
		batch = batch[:0]
	}
}

// alive is the gateways of list not lost (all of them if every one is:
// the transfer is failing then anyway).
func (r *run) alive(list []*gateway.Client) []*gateway.Client {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*gateway.Client
	for _, c := range list {
		if !r.lost[c.ID] {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return list
	}
	return out
}

// posted records which source gateway holds each chunk's current attempt.
func (r *run) posted(gw string, reqs []chunk.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	for _, req := range reqs {
		if cs := r.chunks[req.ID]; cs != nil && cs.req.Attempt == req.Attempt {
			cs.src, cs.since = gw, now
		}
	}
	// A request posted to a gateway that was lost meanwhile is resent.
	if r.lost[gw] {
		for _, req := range reqs {
			if cs := r.chunks[req.ID]; cs != nil && cs.src == gw {
				r.retryLocked(cs, "gateway "+gw+" lost", false, true)
			}
		}
	}
}

func (r *run) takeRetries(batch []chunk.Request) []chunk.Request {
	r.retryMu.Lock()
	defer r.retryMu.Unlock()
	batch = append(batch, r.retries...)
	r.retries = r.retries[:0]
	return batch
}

func (r *run) retryLater(req chunk.Request) {
	delay := time.Duration(1<<min(req.Attempt, 6)) * 50 * time.Millisecond
	time.AfterFunc(delay, func() { r.retryNow(req) })
}

func (r *run) retryNow(req chunk.Request) {
	r.retryMu.Lock()
	r.retries = append(r.retries, req)
	r.retryMu.Unlock()
	select {
	case r.retrySig <- struct{}{}:
	default:
	}
}

// track long-polls one gateway's chunk status log.
func (r *run) track(c *gateway.Client) {
	var since int64
	failures := 0
	for r.ctx.Err() == nil {
		evs, err := c.Events(r.ctx, since, pollWait)
		if err != nil {
			if r.ctx.Err() != nil {
				return
			}
			failures++
			if failures >= maxPollFailures {
				r.gatewayLost(c, err)
				return
			}
			time.Sleep(time.Duration(failures) * 100 * time.Millisecond)
			continue
		}
		failures = 0
		for _, e := range evs {
			r.handle(e)
			since = e.Seq + 1
		}
	}
}

func (r *run) handle(e gateway.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cs := r.chunks[e.Chunk]
	if cs == nil {
		return // finished already; a late duplicate
	}
	switch e.State {
	case gateway.StateComplete:
		// Only the current attempt counts: a superseded one may have read
		// another version of the source, or raced the attempt that replaced it.
		if e.Attempt != cs.req.Attempt || !cs.pending[e.Region] {
			return
		}
		delete(cs.pending, e.Region)
		if len(cs.pending) == 0 {
			delete(r.chunks, e.Chunk)
		}
		r.prog.BytesDone += cs.req.Length
		r.result.Bytes += cs.req.Length
		for _, od := range cs.obj.dests {
			if od.group != e.Region {
				continue
			}
			if od.uploadID != "" {
				sum, _ := hex.DecodeString(e.MD5)
				od.parts[cs.req.PartNumber-1] = objstore.Part{Number: cs.req.PartNumber, Offset: cs.req.Offset, Size: cs.req.Length, ETag: e.ETag, MD5: sum}
				// Journaled only once landed; synced in batches.
				if err := cs.obj.js.journal.record(journalRecord{Type: "part", Dst: od.index, Key: od.key, UploadID: od.uploadID,
					Part: cs.req.PartNumber, Offset: cs.req.Offset, Size: cs.req.Length, ETag: e.ETag, MD5: e.MD5}, false); err != nil {
					r.fail(err)
					return
				}
			} else {
				od.md5 = e.MD5
			}
			od.left--
			if od.left == 0 {
				if od.uploadID != "" {
					r.complete(cs.obj, od)
				} else {
					r.destDoneLocked(cs.obj, od)
				}
			}
		}
	case gateway.StateFailed:
		if e.Attempt >= 0 && e.Attempt != cs.req.Attempt {
			return // about an attempt already superseded
		}
		if e.Region != "" && !cs.pending[e.Region] {
			return
		}
		if e.Changed {
			r.restartLocked(cs.obj, e.Err)
			return
		}
		if !e.Retryable {
			r.fail(fmt.Errorf("transfer of %s failed on gateway %s: %s", cs.obj.srcKey, e.Gateway, e.Err))
			return
		}
		r.retryLocked(cs, fmt.Sprintf("gateway %s: %s", e.Gateway, e.Err), true, e.Transport)
	case gateway.StateSent:
		if e.Attempt == cs.req.Attempt && cs.pending[e.Region] {
			if cs.hops == nil {
				cs.hops = map[string]string{}
			}
			cs.hops[e.Region] = e.Hop
		}
	}
}

// retryLocked sends a chunk's pending destinations again, after a backoff
// for a reported failure (at once for a timeout or a lost gateway). A chunk
// out of attempts of either kind fails the transfer, naming the last reason.
func (r *run) retryLocked(cs *chunkState, reason string, backoff, transport bool) {
	if transport {
		cs.resends++
	} else {
		cs.failures++
	}
	if cs.failures >= maxAttempts || cs.resends >= maxResends {
		r.fail(fmt.Errorf("transfer of %s failed after %d attempts: %s", cs.obj.srcKey, cs.req.Attempt+1, reason))
		return
	}
	cs.req.Attempt++
	cs.src, cs.hops, cs.since = "", nil, time.Now()
	retry := cs.req
	retry.Dests = nil
	for _, dst := range cs.req.Dests {
		if cs.pending[dst.Region] {
			retry.Dests = append(retry.Dests, dst)
		}
	}
	r.prog.Retries++
	r.d.log.Info("retrying chunk", "key", cs.obj.srcKey, "part", cs.req.PartNumber, "attempt", cs.req.Attempt, "reason", reason)
	if backoff {
		r.retryLater(retry)
	} else {
		r.retryNow(retry)
	}
}

// gatewayLost takes a gateway that stopped answering out of the transfer
// and sends its unfinished chunks again through the survivors of its group.
func (r *run) gatewayLost(c *gateway.Client, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost[c.ID] {
		return
	}
	r.lost[c.ID] = true
	group := r.d.groupOf(c.ID)
	alive := 0
	for _, m := range r.d.groups[group] {
		if !r.lost[m.ID] {
			alive++
		}
	}
	r.d.log.Warn("gateway lost", "gateway", c.ID, "group", group, "survivors", alive, "err", err)
	if alive == 0 {
		r.fail(fmt.Errorf("every gateway of %s stopped answering (last: %s: %v)", group, c.ID, err))
		return
	}
	r.lostGateways++
	for _, cs := range r.chunks {
		on := cs.src == c.ID
		for region, hop := range cs.hops {
			on = on || cs.pending[region] && r.d.hopOwner[hop] == c.ID
		}
		if on {
			r.retryLocked(cs, "gateway "+c.ID+" lost", false, true)
		}
	}
}

// sweep resends chunks whose current attempt has not landed within the
// chunk timeout: a stalled link or a gateway that hangs without failing.
func (r *run) sweep(timeout time.Duration) {
	t := time.NewTicker(min(timeout/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		now := time.Now()
		for _, cs := range r.chunks {
			if !cs.since.IsZero() && now.Sub(cs.since) > timeout {
				r.retryLocked(cs, fmt.Sprintf("not done after %s", timeout), false, true)
			}
		}
		r.mu.Unlock()
	}
}

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
	for id, cs := range r.chunks {
		if cs.obj == o {
			delete(r.chunks, id)
		}
	}
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
