package aws

import (
	"context"
	"slices"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/compute"
)

// killed provisions and then forgets the provider, as a client killed with
// SIGKILL would: nothing is torn down.
func killed(t *testing.T, f *fakeCloud, client, dp string) *Provider {
	t.Helper()
	p, _ := newTestProvider(t, f, func(o *Options) { o.ClientID, o.DataplaneID = client, dp })
	if _, err := p.Provision(context.Background(), specs("src-0", "aws:us-east-1", "dst-0", "aws:eu-west-1"), compute.Shared{}); err != nil {
		t.Fatal(err)
	}
	return p
}

func owned(f *fakeCloud, client, dp string) int {
	n := 0
	for _, r := range f.skyplane() {
		if r.Tags[TagClient] == client && r.Tags[TagDataplane] == dp && r.Tags[TagRole] == RoleGateway {
			n++
		}
	}
	return n
}

func TestSweepAfterKill(t *testing.T) {
	f := newFakeCloud(t)
	killed(t, f, "c1", "dp1")
	killed(t, f, "c1", "dp2")
	killed(t, f, "c2", "dp3")
	ctx := context.Background()
	regions, err := Regions(ctx, f.sweepOptions(), "us-east-1")
	if err != nil || !slices.Equal(regions, []string{"ap-south-1", "eu-west-1", "us-east-1"}) {
		t.Fatalf("regions %v %v", regions, err)
	}

	found, err := List(ctx, f.sweepOptions(), regions, Filter{ClientID: "c1", DataplaneID: "dp1"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []Kind
	for _, x := range found {
		kinds = append(kinds, x.Kind)
	}
	// Per region: 1 VM, its group, its key; in IAM: the profile's role,
	// the profile, the policy, the role.
	want := []Kind{KindInstance, KindSecurityGroup, KindKeyPair, KindInstance, KindSecurityGroup, KindKeyPair,
		KindProfileRole, KindInstanceProfile, KindRolePolicy, KindRole}
	if !slices.Equal(kinds, want) {
		t.Errorf("leak check lists %v, want %v", kinds, want)
	}

	if _, err := Sweep(ctx, f.sweepOptions(), regions, Filter{ClientID: "c1", DataplaneID: "dp1"}); err != nil {
		t.Fatal(err)
	}
	if n := owned(f, "c1", "dp1"); n != 0 {
		t.Errorf("%d resources of dp1 left", n)
	}
	if owned(f, "c1", "dp2") == 0 || owned(f, "c2", "dp3") == 0 {
		t.Error("the sweep of dp1 removed another dataplane's resources")
	}
	for _, r := range f.skyplane() {
		if r.Kind == "role" && r.ID == "skyplane-c1-dp1" {
			t.Error("role of dp1 left")
		}
	}

	// By client: dp2 goes, c2's dataplane stays.
	if _, err := Sweep(ctx, f.sweepOptions(), regions, Filter{ClientID: "c1"}); err != nil {
		t.Fatal(err)
	}
	if owned(f, "c1", "dp2") != 0 || owned(f, "c2", "dp3") == 0 {
		t.Errorf("client sweep: dp2 %d left, dp3 %d left", owned(f, "c1", "dp2"), owned(f, "c2", "dp3"))
	}

	// --all: everything, the network too.
	if _, err := Sweep(ctx, f.sweepOptions(), regions, Filter{All: true}); err != nil {
		t.Fatal(err)
	}
	if left := f.skyplane(); len(left) != 0 {
		for _, r := range left {
			t.Errorf("left after --all: %s %s %s", r.Region, r.Kind, r.ID)
		}
	}
	if found, err := List(ctx, f.sweepOptions(), regions, Filter{All: true}); err != nil || len(found) != 0 {
		t.Errorf("leak check after --all: %v %v", found, err)
	}
}

func TestTeardownLedgersOfDeadClients(t *testing.T) {
	f := newFakeCloud(t)
	dir := t.TempDir()
	ctx := context.Background()
	var dead []*Provider
	for _, dp := range []string{"dp1", "dp2"} {
		p, _ := newTestProvider(t, f, func(o *Options) { o.DataplaneID, o.LedgerDir = dp, dir })
		if _, err := p.Provision(ctx, specs("src-0", "aws:us-east-1", "dst-0", "aws:eu-west-1"), compute.Shared{}); err != nil {
			t.Fatal(err)
		}
		p.ledger.f.Close() // the process dies: its descriptors close, its lock goes
		dead = append(dead, p)
	}
	live, _ := newTestProvider(t, f, func(o *Options) { o.DataplaneID, o.LedgerDir = "dp3", dir })
	if _, err := live.Provision(ctx, specs("src-0", "aws:us-east-1"), compute.Shared{}); err != nil {
		t.Fatal(err)
	}
	done, running, err := TeardownLedgers(ctx, f.sweepOptions(), dir)
	if err != nil || done != 2 || running != 1 {
		t.Fatalf("TeardownLedgers = %d done, %d running, %v; want 2, 1", done, running, err)
	}
	for _, p := range dead {
		fileGone(t, p.ledger.Path())
		fileGone(t, p.keyPath())
		if n := owned(f, "c1", p.opt.DataplaneID); n != 0 {
			t.Errorf("%s: %d resources left", p.opt.DataplaneID, n)
		}
	}
	if owned(f, "c1", "dp3") == 0 {
		t.Fatal("the running client's dataplane was torn down")
	}
	if err := live.Deprovision(ctx); err != nil {
		t.Fatal(err)
	}
	assertNoGatewayLeft(t, f)
}
