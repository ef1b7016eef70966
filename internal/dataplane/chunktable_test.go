package dataplane

import (
	"slices"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
)

// tableChunk adds a chunk with attempt 0 pending at the given groups.
func tableChunk(t *chunkTable, groups ...string) *chunkState {
	cs := &chunkState{obj: &objState{srcKey: "k"}, pending: map[string]bool{}}
	cs.req = chunk.Request{ID: chunk.NewID(), Length: 1}
	for _, g := range groups {
		cs.pending[g] = true
		cs.req.Dests = append(cs.req.Dests, chunk.Dest{Group: g, Key: "k"})
	}
	t.add(cs)
	return cs
}

// TestChunkTable drives the table through the events of a transfer, no
// gateway involved: each step is an event and what the table must answer.
func TestChunkTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name string
		run  func(t *testing.T, tab *chunkTable)
	}{
		{"posted then landed everywhere leaves the table", func(t *testing.T, tab *chunkTable) {
			cs := tableChunk(tab, "a", "b")
			if resend := tab.posted("src-0", []chunk.Request{cs.req}, t0); resend != nil {
				t.Fatalf("a live gateway's post asks for resends: %d", len(resend))
			}
			if cs.src != "src-0" || !cs.since.Equal(t0) {
				t.Fatalf("post not recorded: src %q since %v", cs.src, cs.since)
			}
			if tab.landed(cs.req.ID, 0, "a") != cs || tab.chunks[cs.req.ID] == nil {
				t.Fatal("landing at a: want the chunk back and still tracked for b")
			}
			if tab.landed(cs.req.ID, 0, "a") != nil {
				t.Fatal("a second landing at the same group counted")
			}
			if tab.landed(cs.req.ID, 0, "b") != cs || tab.chunks[cs.req.ID] != nil {
				t.Fatal("landing at every group: want the chunk back and gone from the table")
			}
		}},
		{"sent records the hop of the current attempt only", func(t *testing.T, tab *chunkTable) {
			cs := tableChunk(tab, "a")
			tab.sent(cs.req.ID, 1, "a", "old")
			tab.sent(cs.req.ID, 0, "b", "other")
			if cs.hops != nil {
				t.Fatalf("hops of a superseded attempt or unknown group recorded: %v", cs.hops)
			}
			tab.sent(cs.req.ID, 0, "a", "h1")
			if cs.hops["a"] != "h1" {
				t.Fatalf("hops %v, want a→h1", cs.hops)
			}
		}},
		{"retry starts a new attempt for pending groups only", func(t *testing.T, tab *chunkTable) {
			cs := tableChunk(tab, "a", "b")
			tab.posted("src-0", []chunk.Request{cs.req}, t0)
			tab.sent(cs.req.ID, 0, "a", "h1")
			tab.landed(cs.req.ID, 0, "a")
			req, ok := tab.retry(cs, false, t0.Add(time.Second))
			if !ok || req.Attempt != 1 || len(req.Dests) != 1 || req.Dests[0].Group != "b" {
				t.Fatalf("retry = %+v, %v; want attempt 1 to b only", req, ok)
			}
			if cs.src != "" || cs.hops != nil || !cs.since.Equal(t0.Add(time.Second)) {
				t.Fatalf("the new attempt kept the old one's whereabouts: src %q hops %v", cs.src, cs.hops)
			}
			if len(cs.req.Dests) != 2 {
				t.Fatal("retry changed the chunk's own destinations")
			}
		}},
		{"failures run out after maxFailures", func(t *testing.T, tab *chunkTable) {
			cs := tableChunk(tab, "a")
			for i := 1; i < tab.maxFailures; i++ {
				if _, ok := tab.retry(cs, false, t0); !ok {
					t.Fatalf("failure %d already fatal", i)
				}
			}
			if _, ok := tab.retry(cs, false, t0); ok {
				t.Fatalf("failure %d still retried", tab.maxFailures)
			}
		}},
		{"transport losses have their own budget", func(t *testing.T, tab *chunkTable) {
			cs := tableChunk(tab, "a")
			for i := 1; i < tab.maxFailures+2; i++ {
				if _, ok := tab.retry(cs, true, t0); !ok {
					t.Fatalf("loss %d fatal: losses must not use up the failure budget", i)
				}
			}
			if _, ok := tab.retry(cs, false, t0); !ok {
				t.Fatal("one failure after losses fatal")
			}
			cs.resends = tab.maxResends - 1
			if _, ok := tab.retry(cs, true, t0); ok {
				t.Fatalf("loss %d still resent", tab.maxResends)
			}
		}},
		{"events of a superseded attempt are ignored", func(t *testing.T, tab *chunkTable) {
			cs := tableChunk(tab, "a")
			tab.retry(cs, true, t0)
			if tab.current(cs.req.ID, 0, "a") != nil {
				t.Fatal("a failure of attempt 0 counts after attempt 1 started")
			}
			if tab.landed(cs.req.ID, 0, "a") != nil || !cs.pending["a"] {
				t.Fatal("a completion of attempt 0 counted after attempt 1 started")
			}
			if tab.current(cs.req.ID, -1, "") != cs {
				t.Fatal("a failure naming no attempt or group must reach the chunk")
			}
			if tab.landed(cs.req.ID, 1, "a") != cs {
				t.Fatal("the current attempt's completion did not count")
			}
		}},
		{"a lost gateway returns exactly its chunks", func(t *testing.T, tab *chunkTable) {
			onSrc := tableChunk(tab, "a")
			onHop := tableChunk(tab, "a")
			hopLanded := tableChunk(tab, "a", "b")
			elsewhere := tableChunk(tab, "a")
			tab.posted("src-0", []chunk.Request{onSrc.req}, t0)
			tab.posted("src-1", []chunk.Request{onHop.req, hopLanded.req, elsewhere.req}, t0)
			tab.sent(onHop.req.ID, 0, "a", "10.0.0.1:1")
			tab.sent(hopLanded.req.ID, 0, "a", "10.0.0.1:1")
			tab.sent(hopLanded.req.ID, 0, "b", "10.0.0.2:1")
			tab.landed(hopLanded.req.ID, 0, "a")
			tab.sent(elsewhere.req.ID, 0, "a", "10.0.0.3:1")
			owners := map[string]string{"10.0.0.1:1": "lost", "10.0.0.2:1": "dst1", "10.0.0.3:1": "dst2"}
			// "lost" was both a source (src-0 is renamed for the check) and a hop.
			tab.chunks[onSrc.req.ID].src = "lost"
			held, first := tab.lose("lost", owners)
			if !first {
				t.Fatal("first loss reported as a repeat")
			}
			got := map[*chunkState]bool{}
			for _, cs := range held {
				got[cs] = true
			}
			if len(held) != 2 || !got[onSrc] || !got[onHop] {
				t.Fatalf("lost gateway held %d chunks (src %v hop %v), want exactly those two", len(held), got[onSrc], got[onHop])
			}
			if again, first := tab.lose("lost", owners); first || again != nil {
				t.Fatal("losing a gateway twice returned its chunks again")
			}
			if !tab.isLost("lost") || tab.isLost("src-1") {
				t.Fatal("isLost wrong")
			}
			// A post that raced the loss is handed back for resending.
			late := tableChunk(tab, "a")
			if resend := tab.posted("lost", []chunk.Request{late.req}, t0); !slices.Equal(resend, []*chunkState{late}) {
				t.Fatalf("post to a lost gateway: resend %v", resend)
			}
		}},
		{"timeout sweep finds accepted attempts that did not land", func(t *testing.T, tab *chunkTable) {
			old := tableChunk(tab, "a")
			fresh := tableChunk(tab, "a")
			queued := tableChunk(tab, "a") // never accepted: its clock has not started
			tab.posted("src-0", []chunk.Request{old.req}, t0)
			tab.posted("src-0", []chunk.Request{fresh.req}, t0.Add(50*time.Second))
			got := tab.overdue(t0.Add(61*time.Second), time.Minute)
			if !slices.Equal(got, []*chunkState{old}) {
				t.Fatalf("overdue %d chunks, want only the old one (queued tracked: %v)", len(got), tab.chunks[queued.req.ID] != nil)
			}
			tab.retry(old, true, t0.Add(61*time.Second))
			if got := tab.overdue(t0.Add(62*time.Second), time.Minute); len(got) != 0 {
				t.Fatalf("a resent chunk is overdue at once: %d", len(got))
			}
		}},
		{"forget drops an object's chunks", func(t *testing.T, tab *chunkTable) {
			a := tableChunk(tab, "a")
			b := tableChunk(tab, "a")
			tab.forget(a.obj)
			if tab.chunks[a.req.ID] != nil || tab.chunks[b.req.ID] == nil {
				t.Fatal("forget dropped the wrong chunks")
			}
			if tab.landed(a.req.ID, 0, "a") != nil {
				t.Fatal("a forgotten chunk's completion counted")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newChunkTable(maxAttempts, maxResends))
		})
	}
}
