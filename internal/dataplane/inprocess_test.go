package dataplane

import (
	"context"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	computelocal "github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/planner"
)

// testProviders are the two paths a transfer on this machine can take:
// gateways (goroutines of the test over real TCP) and the in-process path
// (the local provider, whose gateways would all run here, so none starts).
func testProviders() map[string]func() compute.Provider {
	return map[string]func() compute.Provider{
		"gateways":   func() compute.Provider { return &inproc{} },
		"in-process": func() compute.Provider { return computelocal.New("") },
	}
}

func newInProcessDataplane(t *testing.T, dsts int, hooks control.TestHooks) *Dataplane {
	t.Helper()
	var regions []string
	for range dsts {
		regions = append(regions, "local:dst")
	}
	plan, err := planner.Direct("local:src", regions, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(plan, Options{Config: testConfig(), Provider: computelocal.New(""), Dir: t.TempDir(), JournalDir: t.TempDir(), Log: quietLog(), Test: hooks})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Provision(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Deprovision(context.Background()) })
	if !d.InProcess() || len(d.Instances()) != 0 {
		t.Fatalf("in process %v with %d gateway instances: want the client alone", d.InProcess(), len(d.Instances()))
	}
	return d
}

func TestRunsInProcess(t *testing.T) {
	plan, err := planner.Direct("local:src", []string{"local:dst"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	forced := config.Default()
	forced.InProcess = false
	tests := []struct {
		name     string
		provider compute.Provider
		cfg      config.Config
		want     bool
	}{
		{"local gateways", computelocal.New(""), config.Default(), true},
		{"gateways forced", computelocal.New(""), forced, false},
		{"another provider's gateways", &inproc{}, config.Default(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := runsInProcess(plan, tt.provider, tt.cfg); got != tt.want {
				t.Errorf("runsInProcess = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestInProcessBroadcastRetriesCorruption: in process, each chunk is read
// once and written to both destinations; a chunk damaged after its checksum
// (the frame-fault hook, where frames would be) is refused by the store's
// check and sent again.
func TestInProcessBroadcastRetriesCorruption(t *testing.T) {
	src, dstA, dstB := t.TempDir(), t.TempDir(), t.TempDir()
	files := writeTree(t, src, 12, func(i int) int { return i * 300_000 }) // some striped (> 1 MiB)
	d := newInProcessDataplane(t, 2, control.TestHooks{CorruptFrames: 2})
	res, err := d.Run(context.Background(), resolved(d, Job{Src: loc(t, src), Dsts: []objstore.Location{loc(t, dstA), loc(t, dstB)}, Recursive: true}), nil)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dstA, files)
	checkTree(t, dstB, files)
	var raw int64
	for _, c := range files {
		raw += int64(len(c))
	}
	if res.Bytes != 2*raw || res.Objects != 12 || !res.InProcess || res.WireBytes != 0 {
		t.Errorf("result %+v, want %d bytes over 12 objects, in process, no wire bytes", res, 2*raw)
	}
	if res.Retries != 2 {
		t.Errorf("retries = %d, want 2 (two damaged chunks)", res.Retries)
	}
	if len(res.Stats) != 1 || res.Stats[0].ID != InProcessID {
		t.Fatalf("stats %+v, want the in-process gateway's alone", res.Stats)
	}
	// Every destination's copy of a chunk that landed was read once; the two
	// damaged reads landed nowhere and were read again.
	if s := res.Stats[0]; s.ChunksWritten != 2*(s.ChunksRead-2) {
		t.Errorf("read %d chunks, wrote %d: want each read once for both destinations", s.ChunksRead, s.ChunksWritten)
	}
}
