package dataplane

import (
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
)

// chunkState is one chunk in flight: its current attempt, the destination
// groups still to land, where the attempt is and how often it went wrong.
type chunkState struct {
	req     chunk.Request
	obj     *objState
	pending map[string]bool // destination groups still to land
	// Where the current attempt is, so a lost gateway's chunks can be sent
	// again: the source gateway it was posted to, the next hop (data
	// address) it was sent to per destination group, and when it was posted.
	src   string
	hops  map[string]string
	since time.Time
	// failures counts attempts the chunk failed itself; resends, attempts
	// lost in transport. Each has its own limit.
	failures, resends int
}

// chunkTable holds every chunk in flight and decides what an event about
// one means: whether it is about the current attempt, whether a chunk has
// attempts left, which chunks a lost gateway held, which ones are overdue.
// It knows nothing of gateways, stores or journals, so its rules are tested
// alone. It is not safe for concurrent use: the run calls it under its lock.
type chunkTable struct {
	chunks      map[chunk.ID]*chunkState
	lost        map[string]bool // gateways declared lost
	maxFailures int             // failures of a chunk itself before it fails the transfer
	maxResends  int             // losses in transport before it fails the transfer
}

func newChunkTable(maxFailures, maxResends int) *chunkTable {
	return &chunkTable{chunks: map[chunk.ID]*chunkState{}, lost: map[string]bool{}, maxFailures: maxFailures, maxResends: maxResends}
}

// add registers a chunk; the timeout clock starts when a gateway accepts it.
func (t *chunkTable) add(cs *chunkState) { t.chunks[cs.req.ID] = cs }

// current is the chunk an event is about when the event is about its
// current attempt and, if it names a group, one still pending. A failure
// without an attempt (-1) or a group is about whatever is current.
func (t *chunkTable) current(id chunk.ID, attempt int, group string) *chunkState {
	cs := t.chunks[id]
	if cs == nil || (attempt >= 0 && attempt != cs.req.Attempt) || (group != "" && !cs.pending[group]) {
		return nil
	}
	return cs
}

// posted records that gateway gw accepted these requests, and returns the
// chunks to resend because gw was declared lost meanwhile.
func (t *chunkTable) posted(gw string, reqs []chunk.Request, now time.Time) []*chunkState {
	for _, req := range reqs {
		if cs := t.chunks[req.ID]; cs != nil && cs.req.Attempt == req.Attempt {
			cs.src, cs.since = gw, now
		}
	}
	if !t.lost[gw] {
		return nil
	}
	var out []*chunkState
	for _, req := range reqs {
		if cs := t.chunks[req.ID]; cs != nil && cs.src == gw {
			out = append(out, cs)
		}
	}
	return out
}

// sent records the next hop a source gateway sent the current attempt to.
func (t *chunkTable) sent(id chunk.ID, attempt int, group, hop string) {
	cs := t.current(id, attempt, group)
	if cs == nil || attempt < 0 || group == "" {
		return
	}
	if cs.hops == nil {
		cs.hops = map[string]string{}
	}
	cs.hops[group] = hop
}

// landed records that the current attempt reached group. It returns the
// chunk (nil for a superseded attempt or a group already landed); a chunk
// with nothing left pending leaves the table.
func (t *chunkTable) landed(id chunk.ID, attempt int, group string) *chunkState {
	cs := t.current(id, attempt, group)
	if cs == nil || attempt < 0 || group == "" {
		return nil
	}
	delete(cs.pending, group)
	if len(cs.pending) == 0 {
		delete(t.chunks, id)
	}
	return cs
}

// retry counts one more failure (or, with transport, one more loss on the
// way) and starts a new attempt for the pending destinations. ok is false
// once the chunk is out of attempts of that kind: the transfer fails.
func (t *chunkTable) retry(cs *chunkState, transport bool, now time.Time) (req chunk.Request, ok bool) {
	if transport {
		cs.resends++
	} else {
		cs.failures++
	}
	if cs.failures >= t.maxFailures || cs.resends >= t.maxResends {
		return chunk.Request{}, false
	}
	cs.req.Attempt++
	cs.src, cs.hops, cs.since = "", nil, now
	req = cs.req
	req.Dests = nil
	for _, dst := range cs.req.Dests {
		if cs.pending[dst.Group] {
			req.Dests = append(req.Dests, dst)
		}
	}
	return req, true
}

// lose declares gateway gw lost and returns exactly the chunks whose current
// attempt it holds: posted to it as a source, or sent to it as the next hop
// of a pending group (hopOwner names the gateway behind a data address).
// false: it was lost already.
func (t *chunkTable) lose(gw string, hopOwner map[string]string) ([]*chunkState, bool) {
	if t.lost[gw] {
		return nil, false
	}
	t.lost[gw] = true
	var out []*chunkState
	for _, cs := range t.chunks {
		on := cs.src == gw
		for group, hop := range cs.hops {
			on = on || cs.pending[group] && hopOwner[hop] == gw
		}
		if on {
			out = append(out, cs)
		}
	}
	return out, true
}

// isLost says whether gw was declared lost.
func (t *chunkTable) isLost(gw string) bool { return t.lost[gw] }

// overdue returns the chunks whose current attempt was accepted by a
// gateway longer than timeout ago and has not landed.
func (t *chunkTable) overdue(now time.Time, timeout time.Duration) []*chunkState {
	var out []*chunkState
	for _, cs := range t.chunks {
		if !cs.since.IsZero() && now.Sub(cs.since) > timeout {
			out = append(out, cs)
		}
	}
	return out
}

// forget drops every chunk of o (restarted from a new source version):
// later events about them are ignored.
func (t *chunkTable) forget(o *objState) {
	for id, cs := range t.chunks {
		if cs.obj == o {
			delete(t.chunks, id)
		}
	}
}
