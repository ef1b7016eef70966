package dataplane

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// track long-polls one gateway's chunk status log.
func (r *run) track(c *gatewayRef) {
	since := r.d.cursor(c.ID)
	defer func() { r.d.setCursor(c.ID, since) }()
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

func (r *run) handle(e control.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.State {
	case control.StateComplete:
		// Only the current attempt counts: a superseded one may have read
		// another version of the source, or raced the attempt that replaced it.
		if cs := r.table.landed(e.Chunk, e.Attempt, e.Group); cs != nil {
			r.landedLocked(cs, e)
		}
	case control.StateFailed:
		cs := r.table.current(e.Chunk, e.Attempt, e.Group)
		switch {
		case cs == nil: // about an attempt already superseded, or finished
		case e.Changed:
			r.restartLocked(cs.obj, e.Err)
		case !e.Retryable:
			r.fail(fmt.Errorf("transfer of %s failed on gateway %s: %s", cs.obj.srcKey, e.Gateway, e.Err))
		default:
			r.retryLocked(cs, fmt.Sprintf("gateway %s: %s", e.Gateway, e.Err), true, e.Transport)
		}
	case control.StateSent:
		r.table.sent(e.Chunk, e.Attempt, e.Group, e.Hop)
	}
}

// landedLocked books a chunk that landed at one destination group: its
// part (journaled), its object's progress, and the object once whole there.
func (r *run) landedLocked(cs *chunkState, e control.Event) {
	r.prog.BytesDone += cs.req.Length
	r.result.Bytes += cs.req.Length
	for _, od := range cs.obj.dests {
		if od.group != e.Group {
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
}

// retryLocked sends a chunk's pending destinations again, after a backoff
// for a reported failure (at once for a timeout or a lost gateway). A chunk
// out of attempts of either kind fails the transfer, naming the last reason.
func (r *run) retryLocked(cs *chunkState, reason string, backoff, transport bool) {
	retry, ok := r.table.retry(cs, transport, time.Now())
	if !ok {
		r.fail(fmt.Errorf("transfer of %s failed after %d attempts: %s", cs.obj.srcKey, cs.req.Attempt+1, reason))
		return
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
func (r *run) gatewayLost(c *gatewayRef, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	held, first := r.table.lose(c.ID, r.d.hopOwner)
	if !first {
		return
	}
	group := r.d.groupOf(c.ID)
	alive := 0
	for _, m := range r.d.groups[group] {
		if !r.table.isLost(m.ID) {
			alive++
		}
	}
	r.d.log.Warn("gateway lost", "gateway", c.ID, "group", group, "survivors", alive, "err", err)
	if alive == 0 {
		r.fail(fmt.Errorf("every gateway of %s stopped answering (last: %s: %v)", group, c.ID, err))
		return
	}
	r.lostGateways++
	for _, cs := range held {
		r.retryLocked(cs, "gateway "+c.ID+" lost", false, true)
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
		for _, cs := range r.table.overdue(time.Now(), timeout) {
			r.retryLocked(cs, fmt.Sprintf("not done after %s", timeout), false, true)
		}
		r.mu.Unlock()
	}
}
