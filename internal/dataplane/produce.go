package dataplane

import (
	"fmt"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/wire"
)

// produce streams every job's objects into dispatch.
func (r *run) produce(stores []jobStores) error {
	for ji, js := range stores {
		for it, err := range r.checkKeys(js, r.items(js)) {
			if err != nil {
				return err
			}
			if !r.waitRoom() {
				return nil
			}
			if err := r.startObject(ji, js, it, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// maxObjectsInFlight bounds the objects a run tracks at once. Gateway
// queues alone would bound it too, but only loosely: completions that lag
// behind dispatch (a busy client) let the listing run ahead by thousands.
// An explicit window keeps memory flat however the work is spread.
const maxObjectsInFlight = 4096

// waitRoom blocks the listing until the run tracks fewer than
// maxObjectsInFlight objects; false when the run ended meanwhile.
func (r *run) waitRoom() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.outstanding >= maxObjectsInFlight && r.ctx.Err() == nil {
		r.room.Wait()
	}
	return r.ctx.Err() == nil
}

// startObject opens multipart uploads if the object is striped, registers
// its chunks and hands them to the dispatcher (blocking while gateways are
// full: that is the backpressure that keeps listings from running ahead).
// prev is the state of the same object when it starts again because its
// source was rewritten in flight.
func (r *run) startObject(ji int, js jobStores, it item, prev *objState) error {
	ranges := chunk.Split(it.obj.Size, r.params)
	if ranges[0].Length > wire.MaxChunk {
		return fmt.Errorf("%s is %d bytes: a single chunk carries at most %d; turn multipart on (config multipart_enabled) with parts of at most %d MiB (multipart_chunk_size_mb)", it.obj.Key, it.obj.Size, int64(wire.MaxChunk), wire.MaxChunk>>20)
	}
	id := identity(it.obj)
	o := &objState{srcKey: it.obj.Key, size: it.obj.Size, it: it, ji: ji, js: js}
	prevExp := map[int]*expEntry{}
	if prev != nil {
		o.restarts = prev.restarts + 1
		// A destination that already holds the old version whole keeps it:
		// each destination gets one version whole.
		for _, od := range prev.dests {
			if !od.done {
				prevExp[od.index] = od.exp
			}
		}
	}
	for i, key := range it.dstKeys {
		if prev == nil && js.resuming() && !js.job.Sync {
			// A copy skips only what the interrupted run itself finished,
			// from this very source version.
			if x, ok := js.journal.doneFrom(i, key, id); ok {
				exp, err := r.expected.add(ji, i, key, it.obj.Size)
				if err != nil {
					return err
				}
				r.expected.settle(exp, x.MD5, x.ETag)
				continue
			}
		}
		if prev != nil && prevExp[i] == nil {
			continue // whole there already, of the version listed then
		}
		od := &objDest{index: i, group: js.groups[i], store: js.dsts[i], ref: js.refs[i], key: key, left: len(ranges)}
		if ranges[0].Part > 0 {
			od.parts = make([]objstore.Part, len(ranges))
			u, err := r.reuseUpload(js, i, key, id)
			if err != nil {
				return err
			}
			if u != nil {
				od.uploadID = u.UploadID
				for _, rg := range ranges {
					if p, ok := u.Parts[rg.Part]; ok && p.Offset == rg.Offset && p.Size == rg.Length {
						od.parts[rg.Part-1] = p
					}
				}
			} else {
				uid, err := od.store.InitiateMultipart(r.ctx, key)
				if err != nil {
					return fmt.Errorf("start multipart upload of %s: %w", key, err)
				}
				od.uploadID = uid
				// Synced before any part is sent: an upload the store holds is
				// never missing from the journal.
				if err := js.journal.record(journalRecord{Type: "upload", Bucket: od.ref.URL, Dst: i, Key: key, UploadID: uid, Src: &id}, true); err != nil {
					r.abortDest(js, od)
					return err
				}
			}
			r.mu.Lock()
			r.open[od] = true
			r.mu.Unlock()
		}
		if od.exp = prevExp[i]; od.exp != nil {
			r.expected.resize(od.exp, it.obj.Size)
		} else {
			exp, err := r.expected.add(ji, i, key, it.obj.Size)
			if err != nil {
				return err
			}
			od.exp = exp
		}
		o.dests = append(o.dests, od)
	}
	o.destsLeft = len(o.dests)
	if len(o.dests) == 0 {
		// Every destination has it from the interrupted run. (Never a
		// restart: the chunk that reported the change had a destination
		// pending.)
		r.addAlreadyThere(1, it.obj.Size)
		return nil
	}
	var reqs []chunk.Request
	var landed int64
	sum := r.checksumFor(o)
	r.mu.Lock()
	for _, rg := range ranges {
		req := chunk.Request{ID: chunk.NewID(), Src: js.srcRef, SrcKey: it.obj.Key, SrcVersion: it.obj.Version,
			Offset: rg.Offset, Length: rg.Length, PartNumber: rg.Part, Checksum: sum, Run: r.id}
		cs := &chunkState{obj: o, pending: map[string]bool{}} // the clock starts when a gateway accepts it
		for _, od := range o.dests {
			if rg.Part > 0 && od.parts[rg.Part-1].ETag != "" {
				od.left-- // landed before the interruption
				landed += rg.Length
				continue
			}
			req.Dests = append(req.Dests, chunk.Dest{Group: od.group, Bucket: od.ref, Key: od.key, UploadID: od.uploadID})
			cs.pending[od.group] = true
		}
		if len(req.Dests) == 0 {
			continue
		}
		cs.req = req
		r.table.add(cs)
		reqs = append(reqs, req)
	}
	if prev == nil {
		r.outstanding++
		r.result.PeakInFlight = max(r.result.PeakInFlight, r.outstanding)
		r.prog.ObjectsTotal++
	}
	r.prog.BytesTotal += it.obj.Size*int64(len(o.dests)) - landed
	// Destinations whose every part landed before an interruption only
	// need their upload completed.
	for _, od := range o.dests {
		if od.left == 0 && od.uploadID != "" {
			r.complete(o, od)
		}
	}
	r.mu.Unlock()
	for _, req := range reqs {
		select {
		case r.dispatch <- req:
		case <-r.ctx.Done():
			return nil
		}
	}
	return nil
}
