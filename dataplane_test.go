package skyplane_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go"
)

// TestProvisionInsideAutoDeprovision: code written for the Python client
// calls Provision inside AutoDeprovision, which has provisioned already;
// that is a no-op, and the gateways are still torn down at the end.
func TestProvisionInsideAutoDeprovision(t *testing.T) {
	dir := t.TempDir()
	client := skyplane.NewClient(gatewayConfig(), skyplane.WithDir(dir))
	dp, err := client.Dataplane(skyplane.DataplaneOptions{Gateways: 1})
	if err != nil {
		t.Fatal(err)
	}
	src, dst := t.TempDir(), t.TempDir()
	tree(t, src, map[string]string{"a": "alpha"})
	ctx := context.Background()
	err = dp.AutoDeprovision(ctx, func(dp *skyplane.Dataplane) error {
		for range 2 {
			if err := dp.Provision(ctx); err != nil {
				return err
			}
		}
		if n := running(dir); n != 2 {
			t.Errorf("%d gateways after Provision inside AutoDeprovision, want 2", n)
		}
		if err := dp.QueueCopy(src, dst, skyplane.QueueCopyOptions{Recursive: true}); err != nil {
			return err
		}
		_, err := dp.Run(ctx, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	assertFiles(t, dst, map[string]string{"a": "alpha"})
	if n := running(dir); n != 0 {
		t.Errorf("%d gateways left after AutoDeprovision", n)
	}
}

// TestTrackerLoop: the documented loop (wait for State Finished, read the
// bytes left only once they are known) runs to the end of the transfer,
// the states only move forward, and the count is never "known" while the
// listing may still add to it.
func TestTrackerLoop(t *testing.T) {
	client := skyplane.NewClient(smallConfig(), skyplane.WithDir(t.TempDir()))
	dp, err := client.Dataplane(skyplane.DataplaneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := dp.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer dp.Deprovision(ctx)
	src, dst := t.TempDir(), t.TempDir()
	files := map[string]string{"big": strings.Repeat("x", 6<<20), "small": "s"}
	tree(t, src, files)
	if err := dp.QueueCopy(src, dst, skyplane.QueueCopyOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	tr := dp.RunAsync(ctx)
	deadline := time.Now().Add(2 * time.Minute)
	last := skyplane.NotStarted
	for st := tr.State(); st != skyplane.Finished; st = tr.State() {
		if st < last {
			t.Fatalf("state went back from %s to %s", last, st)
		}
		last = st
		left, known := tr.BytesRemaining()
		// The state may move on between the calls: judge by the state
		// before (known must hold from Transferring on) and after.
		if after := tr.State(); known && after < skyplane.Transferring || !known && st >= skyplane.Transferring {
			t.Errorf("bytes remaining known=%t between states %s and %s", known, st, after)
		}
		if known && left < 0 {
			t.Errorf("bytes remaining %d", left)
		}
		if time.Now().After(deadline) {
			t.Fatal("transfer did not finish")
		}
		time.Sleep(time.Millisecond)
	}
	res, err := tr.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if left, known := tr.BytesRemaining(); left != 0 || !known {
		t.Errorf("after the end: %d bytes left (known %t)", left, known)
	}
	if res.Objects != 2 {
		t.Errorf("objects = %d, want 2", res.Objects)
	}
	assertFiles(t, dst, files)
}
