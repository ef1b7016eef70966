package aws

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/compute"
)

var _ compute.Provider = (*Provider)(nil)

// project keeps the mutations made in one place ("us-east-1", "iam").
func project(muts []string, where string) []string {
	var out []string
	for _, m := range muts {
		if w, a, _ := strings.Cut(m, " "); w == where {
			out = append(out, a)
		}
	}
	return out
}

func TestProvisionSequenceTagsAndFirewall(t *testing.T) {
	f := newFakeCloud(t)
	var st stages
	p, d := newTestProvider(t, f, func(o *Options) { o.Status = st.add })
	ctx := context.Background()
	shared := compute.Shared{Dir: t.TempDir()}
	insts, err := p.Provision(ctx, specs("src-0", "aws:us-east-1", "src-1", "aws:us-east-1", "dst-0", "aws:eu-west-1"), shared)
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 3 || len(d.vms) != 3 {
		t.Fatalf("instances %v, deployed %v", insts, d.vms)
	}
	for _, gw := range []string{"src-0", "src-1", "dst-0"} {
		want := []Stage{StageRequested, StageRunning, StageSSH, StageReady}
		if !slices.Equal(st.got[gw], want) {
			t.Errorf("%s stages %v, want %v", gw, st.got[gw], want)
		}
	}
	provision := f.mutations()
	wantRegion := []string{"CreateVpc", "CreateInternetGateway", "AttachInternetGateway", "CreateRouteTable", "CreateRoute",
		"ImportKeyPair", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "CreateSubnet", "AssociateRouteTable"}
	wantIAM := []string{"CreateRole", "PutRolePolicy", "CreateInstanceProfile", "AddRoleToInstanceProfile"}
	for region, vms := range map[string]int{"us-east-1": 2, "eu-west-1": 1} {
		want := slices.Clone(wantRegion)
		for range vms {
			want = append(want, "RunInstances")
		}
		want = append(want, "AuthorizeSecurityGroupIngress") // the other region's gateways
		if got := project(provision, region); !slices.Equal(got, want) {
			t.Errorf("%s provisioning:\n got %v\nwant %v", region, got, want)
		}
	}
	if got := project(provision, "iam"); !slices.Equal(got, wantIAM) {
		t.Errorf("iam provisioning: got %v want %v", got, wantIAM)
	}

	// Tags: every create names skyplane, the client and the dataplane.
	for _, c := range f.recorded() {
		if !strings.HasPrefix(c.Action, "Create") && c.Action != "ImportKeyPair" && c.Action != "RunInstances" {
			continue
		}
		if c.Action == "CreateRoute" || c.Action == "PutRolePolicy" {
			continue
		}
		prefix := "TagSpecification.1.Tag"
		if c.Service == "iam" {
			prefix = "Tags.member"
		}
		tags := map[string]string{}
		for _, tg := range items(c.Form, prefix) {
			tags[tg.Get("Key")] = tg.Get("Value")
		}
		if tags[TagClient] != "c1" || tags[TagDataplane] != "dp1" || (tags[TagRole] != RoleGateway && tags[TagRole] != RoleNetwork) {
			t.Errorf("%s %s: tags %v", c.Region, c.Action, tags)
		}
		if c.Action == "RunInstances" {
			if c.Form.Get("InstanceInitiatedShutdownBehavior") != "terminate" || c.Form.Get("InstanceType") != "m5.xlarge" ||
				c.Form.Get("ImageId") != "ami-noble" || c.Form.Get("MetadataOptions.HttpTokens") != "required" {
				t.Errorf("RunInstances: %v", c.Form)
			}
			if !strings.HasPrefix(tags["Name"], "skyplane-c1-dp1-") {
				t.Errorf("instance name %q", tags["Name"])
			}
		}
	}

	// Firewall: SSH from the client alone, data ports from the group and
	// from the other region's gateways' public addresses.
	var rules [][]string
	for _, c := range f.recorded() {
		if c.Action == "AuthorizeSecurityGroupIngress" && c.Region == "us-east-1" {
			for _, pm := range items(c.Form, "IpPermissions") {
				rules = append(rules, append([]string{pm.Get("FromPort") + "-" + pm.Get("ToPort")}, permSources(pm)...))
			}
		}
	}
	var sg, euIP string
	for _, r := range f.skyplane() {
		if r.Kind == "sg" && r.Region == "us-east-1" {
			sg = r.ID
		}
		if r.Kind == "instance" && r.Region == "eu-west-1" {
			euIP = r.Public
		}
	}
	wantRules := [][]string{{"22-22", "203.0.113.7/32"}, {"40000-40015", sg}, {"40000-40015", euIP + "/32"}}
	if !slices.EqualFunc(rules, wantRules, slices.Equal) {
		t.Errorf("us-east-1 rules %v, want %v", rules, wantRules)
	}

	if err := p.Deprovision(ctx); err != nil {
		t.Fatal(err)
	}
	teardown := f.mutations()[len(provision):]
	if got, want := project(teardown, "us-east-1"), []string{"TerminateInstances", "DeleteSecurityGroup", "DeleteKeyPair"}; !slices.Equal(got, want) {
		t.Errorf("us-east-1 teardown %v, want %v", got, want)
	}
	if got, want := project(teardown, "iam"), []string{"RemoveRoleFromInstanceProfile", "DeleteInstanceProfile", "DeleteRolePolicy", "DeleteRole"}; !slices.Equal(got, want) {
		t.Errorf("iam teardown %v, want %v", got, want)
	}
	if p.TimeToReady() <= 0 || p.Usage()["m5.xlarge"] <= 0 || len(p.Usage()) != 1 {
		t.Errorf("time to ready %v, usage %v", p.TimeToReady(), p.Usage())
	}
	if d.teardowns != 1 {
		t.Errorf("deployer torn down %d times", d.teardowns)
	}
	assertNoGatewayLeft(t, f)
	if n := len(f.skyplane()); n != 8 { // per region: vpc, igw, route table, one subnet
		t.Errorf("%d network resources left, want 8", n)
	}
	fileGone(t, p.ledger.Path())
	fileGone(t, strings.TrimSuffix(p.ledger.Path(), ".ledger")+".ed25519")
	if err := p.Deprovision(ctx); err != nil {
		t.Errorf("second deprovision: %v", err)
	}

	// The next dataplane reuses the network.
	before := len(f.mutations())
	p2, _ := newTestProvider(t, f, func(o *Options) { o.DataplaneID = "dp2" })
	if _, err := p2.Provision(ctx, specs("src-0", "aws:us-east-1"), shared); err != nil {
		t.Fatal(err)
	}
	got := project(f.mutations()[before:], "us-east-1")
	if want := []string{"ImportKeyPair", "CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RunInstances"}; !slices.Equal(got, want) {
		t.Errorf("second dataplane %v, want %v", got, want)
	}
	if err := p2.Deprovision(ctx); err != nil {
		t.Fatal(err)
	}
	assertNoGatewayLeft(t, f)
}

type step struct {
	action string
	n      int
}

// provisioningSteps runs a successful provision and lists every request it
// made (action and occurrence), for the failure and cancel tables.
func provisioningSteps(t *testing.T, spot bool) []step {
	f := newFakeCloud(t)
	p, _ := newTestProvider(t, f, func(o *Options) { o.Spot = spot })
	if _, err := p.Provision(context.Background(), specs("src-0", "aws:us-east-1", "src-1", "aws:us-east-1", "dst-0", "aws:eu-west-1"), compute.Shared{}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var out []step
	for _, c := range f.recorded() {
		seen[c.Action]++
		out = append(out, step{c.Action, seen[c.Action]})
	}
	if err := p.Deprovision(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFailureAtEachStepLeavesNothing(t *testing.T) {
	steps := provisioningSteps(t, false)
	if len(steps) < 30 {
		t.Fatalf("only %d provisioning requests: %v", len(steps), steps)
	}
	for _, s := range steps {
		t.Run(fmt.Sprintf("%s#%d", s.action, s.n), func(t *testing.T) {
			f := newFakeCloud(t)
			f.failAt(s.action, s.n, "UnauthorizedOperation")
			p, d := newTestProvider(t, f, nil)
			_, err := p.Provision(context.Background(), specs("src-0", "aws:us-east-1", "src-1", "aws:us-east-1", "dst-0", "aws:eu-west-1"), compute.Shared{})
			if err == nil || !strings.Contains(err.Error(), "injected failure") || strings.Contains(err.Error(), "teardown") {
				t.Fatalf("provision: %v, want the injected failure", err)
			}
			assertNoGatewayLeft(t, f)
			if _, serr := os.Stat(p.ledger.Path()); serr == nil {
				b, _ := os.ReadFile(p.ledger.Path())
				t.Errorf("ledger left after: %v:\n%s", err, b)
			}
			if d.teardowns == 0 {
				t.Error("deployer not torn down")
			}
		})
	}
}

func TestCancelAtEachStepLeavesNothing(t *testing.T) {
	for _, s := range provisioningSteps(t, true) {
		t.Run(fmt.Sprintf("%s#%d", s.action, s.n), func(t *testing.T) {
			f := newFakeCloud(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			seen := 0
			f.onCall = func(c call) {
				if c.Action == s.action {
					if seen++; seen == s.n {
						cancel() // Ctrl-C while the request is in flight: the fake still serves it
					}
				}
			}
			p, _ := newTestProvider(t, f, func(o *Options) { o.Spot = true })
			_, err := p.Provision(ctx, specs("src-0", "aws:us-east-1", "src-1", "aws:us-east-1", "dst-0", "aws:eu-west-1"), compute.Shared{})
			if err == nil {
				// The cancel came after the last request that could notice it.
				if err := p.Deprovision(context.Background()); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, context.Canceled) {
				t.Fatalf("provision: %v, want context.Canceled", err)
			}
			f.onCall = nil
			for _, r := range f.skyplane() {
				if r.Tags[TagRole] != RoleNetwork {
					t.Errorf("left behind: %s %s (%s)", r.Kind, r.ID, r.Region)
				}
			}
		})
	}
}
