package skyplane_test

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skyplane-project/skyplane-go"
)

// A run is priced by the bytes its destination gateways received on the
// wire and its gateways' time, at the planner data file's prices.
func TestCostAfterRun(t *testing.T) {
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.csv")
	if err := os.WriteFile(prices, []byte("egress,local:src,local:dst,0.5,test\nvm,local:*,*,36,test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig()
	cfg.PlannerDataFile = prices
	cfg.InProcess = false // priced gateways, not the client's own copy
	client := skyplane.NewClient(cfg, skyplane.WithDir(filepath.Join(dir, "dp")))
	dp, err := client.Dataplane(skyplane.DataplaneOptions{Gateways: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src, dst := t.TempDir(), t.TempDir()
	tree(t, src, map[string]string{"f": strings.Repeat("skyplane ", 2<<20/9+1)[:2<<20], "g": "small"})
	var res *skyplane.Result
	err = dp.AutoDeprovision(ctx, func(dp *skyplane.Dataplane) error {
		if err := dp.QueueCopy(src, dst+"/out", skyplane.QueueCopyOptions{Recursive: true}); err != nil {
			return err
		}
		res, err = dp.Run(ctx, nil)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c := res.Cost
	if c == nil || len(c.Edges) != 1 {
		t.Fatalf("cost %+v (%s)", c, res.CostUnknown)
	}
	if c.Edges[0].Bytes != res.WireBytes || res.WireBytes <= 0 {
		t.Errorf("the hop's bytes %d, the run's wire bytes %d", c.Edges[0].Bytes, res.WireBytes)
	}
	wantEgress := float64(res.WireBytes) / (1 << 30) * 0.5
	wantVM := 4 * 36.0 / 3600 * res.Duration.Seconds()
	if math.Abs(c.EgressUSD-wantEgress) > 1e-12 || math.Abs(c.VMUSD-wantVM) > 1e-12 || math.Abs(c.TotalUSD-wantEgress-wantVM) > 1e-12 {
		t.Errorf("cost %+v, want egress %v and VMs %v", c, wantEgress, wantVM)
	}
	// Repeated text compresses: most of the egress fees are saved.
	if c.CompressionSavedPct < 50 || math.Abs(c.UncompressedEgressUSD-float64(res.Bytes)/(1<<30)*0.5) > 1e-12 {
		t.Errorf("saved %.1f %%, uncompressed $%v for %d bytes", c.CompressionSavedPct, c.UncompressedEgressUSD, res.Bytes)
	}
	if res.Estimate == nil || !res.Estimate.VMUnknown {
		t.Errorf("estimate %+v: without a throughput figure the VM time is unknown", res.Estimate)
	}
}

// TestCostAfterInProcess: a copy the client makes itself starts no gateway,
// so the cost after charges no VM time however priced the regions are.
func TestCostAfterInProcess(t *testing.T) {
	dir := t.TempDir()
	prices := filepath.Join(dir, "prices.csv")
	if err := os.WriteFile(prices, []byte("egress,local:src,local:dst,0.5,test\nvm,local:*,*,36,test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := smallConfig()
	cfg.PlannerDataFile = prices
	src, dst := t.TempDir(), t.TempDir()
	tree(t, src, map[string]string{"f": "some bytes"})
	res, err := skyplane.NewClient(cfg, skyplane.WithDir(filepath.Join(dir, "dp"))).Copy(context.Background(), src, dst+"/out", skyplane.CopyOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.InProcess || res.Cost == nil || res.Cost.VMUSD != 0 {
		t.Fatalf("in process %v, cost %+v (%s): want no VM time", res.InProcess, res.Cost, res.CostUnknown)
	}
}
