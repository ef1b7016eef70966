package dataplane

import (
	"context"
	"sync"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/objstore"
	"github.com/skyplane-project/skyplane-go/internal/objstore/local"
)

// TestJobOpensSourceOnce: a job is located and previewed, resolved again
// by the same Resolver (as the CLI's preview, plan and run are), preflighted
// and run, and the client opens its source bucket once. The gateways (in
// this process) open it by its bucket URL, which names no key: they are not
// counted.
func TestJobOpensSourceOnce(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	files := writeTree(t, src, 12, func(i int) int { return 100 + i })
	var mu sync.Mutex
	opens := map[string]int{}
	objstore.Register(objstore.SchemeLocal, func(_ context.Context, l objstore.Location, _ objstore.Options) (objstore.Store, error) {
		mu.Lock()
		opens[l.Key]++
		mu.Unlock()
		return local.New("/"), nil
	})
	t.Cleanup(restoreLocal)
	d := newTestDataplane(t, 1, 1)
	srcLoc, dstLoc := loc(t, src), loc(t, dst)
	job := Job{Src: srcLoc, Dsts: []objstore.Location{dstLoc}, Recursive: true}
	rv := NewResolver(d.opts.Config, objstore.Options{})
	rj := rv.Resolve(job)
	ctx := context.Background()
	if s, ds := rj.Regions(ctx); s != "local:src" || len(ds) != 1 || ds[0] != "local:dst" {
		t.Fatalf("regions %s %v", s, ds)
	}
	p, err := PreviewJobs(ctx, []*Resolved{rj}, 3, nil)
	if err != nil || p.Objects != 12 {
		t.Fatalf("preview: %d objects, %v", p.Objects, err)
	}
	rj = rv.Resolve(job)
	if err := Preflight(ctx, []*Resolved{rj}); err != nil {
		t.Fatal(err)
	}
	res, err := d.Run(ctx, []*Resolved{rj}, nil)
	if err != nil || res.Objects != 12 {
		t.Fatalf("run: %v, %v", res, err)
	}
	checkTree(t, dst, files)
	mu.Lock()
	defer mu.Unlock()
	if opens[srcLoc.Key] != 1 || opens[dstLoc.Key] != 1 {
		t.Errorf("opened the source %d times and the destination %d times, want once each (%v)", opens[srcLoc.Key], opens[dstLoc.Key], opens)
	}
}
