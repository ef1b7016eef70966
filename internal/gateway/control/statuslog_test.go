package control

import (
	"context"
	"testing"
	"time"
)

func TestStatusLogTrimsAcknowledged(t *testing.T) {
	l := NewStatusLog()
	for i := range 10 {
		l.Add(Event{Bytes: int64(i)})
	}
	ctx := context.Background()
	if got := l.Since(ctx, 0, 0); len(got) != 10 || got[9].Seq != 9 {
		t.Fatalf("since 0: %+v", got)
	}
	if got := l.Since(ctx, 7, 0); len(got) != 3 || got[0].Seq != 7 {
		t.Fatalf("since 7: %+v", got)
	}
	if len(l.events) != 3 {
		t.Errorf("acknowledged events kept: %d", len(l.events))
	}
	done := make(chan []Event)
	go func() { done <- l.Since(ctx, 10, 5*time.Second) }()
	time.Sleep(20 * time.Millisecond)
	l.Add(Event{Bytes: 10})
	if got := <-done; len(got) != 1 || got[0].Seq != 10 {
		t.Errorf("long poll got %+v", got)
	}
	if got := l.Since(ctx, 11, 10*time.Millisecond); got != nil {
		t.Errorf("empty poll got %+v", got)
	}
}

// TestStatusLogFromBeforeBase: a reader asking from before what earlier
// readers acknowledged (a new run on a reused dataplane starting at zero)
// gets the log from its first event, not nothing forever.
func TestStatusLogFromBeforeBase(t *testing.T) {
	l := NewStatusLog()
	for range 3 {
		l.Add(Event{State: StateSent})
	}
	if got := l.Since(context.Background(), 2, 0); len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("since(2) = %+v", got)
	}
	l.Add(Event{State: StateComplete})
	got := l.Since(context.Background(), 0, time.Second)
	if len(got) != 2 || got[0].Seq != 2 || got[1].Seq != 3 {
		t.Fatalf("since(0) after the log moved on = %+v; want events 2 and 3", got)
	}
}
