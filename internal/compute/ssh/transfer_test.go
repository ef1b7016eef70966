package ssh

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/hosts"
)

// TestChunkAcrossRegions: gateways provisioned over SSH move a chunk from
// a host of one region to a host of the other, over the lab's WAN (the
// destination's data port 40000 is DNATed through toxiproxy), driven only
// through the SSH control tunnels. Both ends use the local-disk store in
// their user's home: the hosts need no store credentials.
func TestChunkAcrossRegions(t *testing.T) {
	l := lab(t)
	bin := gatewayBinary(t)
	inv, err := hosts.Load(l.Inventory, "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	src, dst := l.Hosts["r1-h1"], l.Hosts["r2-h1"]
	in := filepath.Join(l.Home(src), "in")
	out := filepath.Join(l.Home(dst), "out", "f")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(in); os.RemoveAll(filepath.Dir(out)) })
	content := make([]byte, 1<<20)
	_, _ = rand.Read(content)
	if err := os.WriteFile(filepath.Join(in, "f"), content, 0o644); err != nil {
		t.Fatal(err)
	}

	p := New(inv, Options{Binary: bin, ClientID: "test-client", DataplaneID: "dp-transfer"})
	t.Cleanup(func() { _ = p.Deprovision(context.Background()) })
	boot := testBoot(t)
	insts, err := p.Provision(t.Context(), []compute.Spec{{ID: "src-0", Region: "aws:lab-r1"}, {ID: "dst-0", Region: "aws:lab-r2"}}, boot)
	if err != nil {
		t.Fatal(err)
	}
	srcC := control.NewClient("src-0", insts[0].Control, boot.Secret)
	dstC := control.NewClient("dst-0", insts[1].Control, boot.Secret)
	ctx := t.Context()
	base := control.Program{NumConnections: 2, Encrypt: true, VerifyChecksums: true}
	dp := base
	dp.Sinks = []string{"aws:lab-r2"}
	if err := dstC.SetProgram(ctx, dp); err != nil {
		t.Fatal(err)
	}
	sp := base
	sp.Source = true
	sp.Routes = map[string][]string{"aws:lab-r2": {insts[1].Data}}
	if err := srcC.SetProgram(ctx, sp); err != nil {
		t.Fatal(err)
	}
	ref := chunk.Bucket{URL: "file:///"}
	req := chunk.Request{ID: chunk.NewID(), Src: ref, SrcKey: strings.TrimPrefix(filepath.Join(in, "f"), "/"),
		Length: int64(len(content)), Run: "run-1", Dests: []chunk.Dest{{Group: "aws:lab-r2", Bucket: ref, Key: strings.TrimPrefix(out, "/")}}}
	// Gateways read and write only for a registered job.
	scope := control.Scope{Bucket: ref, Prefix: req.Dests[0].Key, Exact: true}
	for _, c := range []*control.Client{srcC, dstC} {
		if err := c.RegisterJobs(ctx, control.JobRegistration{Run: "run-1", Scopes: []control.Scope{scope}}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := srcC.PostChunks(ctx, []chunk.Request{req}); err != nil || n != 1 {
		t.Fatalf("accepted %d: %v", n, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	var since int64
	done := false
	for !done {
		if time.Now().After(deadline) {
			errs, _ := srcC.Errors(ctx)
			errd, _ := dstC.Errors(ctx)
			t.Fatalf("chunk not complete after 30 s; source errors %v, destination errors %v", errs, errd)
		}
		evs, err := dstC.Events(ctx, since, 500*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			since = e.Seq + 1
			if e.Chunk == req.ID && e.State == control.StateComplete {
				done = true
			}
			if e.Chunk == req.ID && e.State == control.StateFailed {
				t.Fatalf("chunk failed: %+v", e)
			}
		}
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, content) {
		t.Fatalf("destination file on %s: %d bytes, equal %v, err %v", dst.Name, len(got), bytes.Equal(got, content), err)
	}
	if err := p.Deprovision(ctx); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(boot.Dir, "dst-0.stats.json"))
	var st control.Stats
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil || st.ChunksWritten != 1 || st.RawBytesRecv != int64(len(content)) {
		t.Errorf("destination stats %+v (%v): want one chunk of %d bytes, collected at teardown", st, err, len(content))
	}
}
