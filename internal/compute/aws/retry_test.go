package aws

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute"
)

func TestZoneWithoutCapacityFallsToTheNext(t *testing.T) {
	f := newFakeCloud(t)
	f.noCapacity["us-east-1a/m5.xlarge"] = true
	p, _ := newTestProvider(t, f, nil)
	if _, err := p.Provision(context.Background(), specs("src-0", "aws:us-east-1", "src-1", "aws:us-east-1"), compute.Shared{}); err != nil {
		t.Fatal(err)
	}
	zones := map[string]int{}
	runs := 0
	for _, c := range f.recorded() {
		if c.Action == "RunInstances" {
			runs++
		}
	}
	for _, r := range f.skyplane() {
		if r.Kind == "instance" {
			zones[r.Zone]++
		}
	}
	if zones["us-east-1b"] != 2 || len(zones) != 1 {
		t.Errorf("instances by zone %v, want both in us-east-1b", zones)
	}
	// The SDK tries the 500 three times in zone a (both VMs may be there at
	// once), then each VM needs one in b.
	if runs > 2*3+2 {
		t.Errorf("%d RunInstances, want at most 8", runs)
	}
	if err := p.Deprovision(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertNoGatewayLeft(t, f)
}

func TestNoZoneWithCapacity(t *testing.T) {
	f := newFakeCloud(t)
	for _, z := range []string{"a", "b", "c"} {
		f.noCapacity["us-east-1"+z+"/m5.xlarge"] = true
	}
	p, _ := newTestProvider(t, f, func(o *Options) { o.Parallel = 1 })
	_, err := p.Provision(context.Background(), specs("src-0", "aws:us-east-1", "src-1", "aws:us-east-1"), compute.Shared{})
	if err == nil || !strings.Contains(err.Error(), "no zone of us-east-1 has capacity for m5.xlarge: ") || strings.Contains(err.Error(), "%!") {
		t.Fatalf("provision: %v", err)
	}
	assertNoGatewayLeft(t, f)
}

func TestCancelledBeforeStartCreatesNothing(t *testing.T) {
	f := newFakeCloud(t)
	p, _ := newTestProvider(t, f, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Provision(ctx, specs("src-0", "aws:us-east-1"), compute.Shared{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("provision: %v", err)
	}
	if m := f.mutations(); len(m) != 0 {
		t.Errorf("requests after cancellation: %v", m)
	}
}

func TestInstanceProfilePropagationIsWaitedFor(t *testing.T) {
	f := newFakeCloud(t)
	f.iamLag = 3
	p, _ := newTestProvider(t, f, nil)
	if _, err := p.Provision(context.Background(), specs("src-0", "aws:us-east-1"), compute.Shared{}); err != nil {
		t.Fatal(err)
	}
	if got := project(f.mutations(), "us-east-1"); slices.Index(got, "RunInstances") < 0 || len(got)-slices.Index(got, "RunInstances") != 4 {
		t.Errorf("mutations %v: want 4 RunInstances (3 refused while the profile propagates)", got)
	}
	if err := p.Deprovision(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertNoGatewayLeft(t, f)
}

func TestQuotaErrorNamesQuotaRegionAndConsole(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spot  bool
		class string
		code  string
		quota string
	}{
		{"on-demand", false, "m5.2xlarge", "L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"},
		{"spot", true, "m5.2xlarge", "L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeCloud(t)
			f.quota["eu-west-1"] = 8 // one m5.2xlarge
			f.spotQuota["eu-west-1"] = 8
			p, _ := newTestProvider(t, f, func(o *Options) { o.Spot = tc.spot; o.InstanceClass = tc.class })
			_, err := p.Provision(context.Background(), specs("dst-0", "aws:eu-west-1", "dst-1", "aws:eu-west-1"), compute.Shared{})
			var qe *QuotaError
			if !errors.As(err, &qe) {
				t.Fatalf("provision: %v, want a QuotaError", err)
			}
			if qe.Region != "eu-west-1" || qe.QuotaCode != tc.code || qe.Quota != tc.quota ||
				qe.Console != "https://eu-west-1.console.aws.amazon.com/servicequotas/home/services/ec2/quotas/"+tc.code {
				t.Errorf("quota error %+v", qe)
			}
			for _, want := range []string{"eu-west-1", tc.code, tc.quota, qe.Console} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q lacks %q", err, want)
				}
			}
			assertNoGatewayLeft(t, f)
		})
	}
}

func TestQuotaCodesPerFamily(t *testing.T) {
	for _, tc := range []struct {
		class string
		spot  bool
		code  string
	}{
		{"m5.8xlarge", false, "L-1216C47A"}, {"c6i.large", true, "L-34B43A08"}, {"g5.xlarge", false, "L-DB2E81BA"},
		{"p4d.24xlarge", true, "L-7212CCBC"}, {"x2idn.16xlarge", false, "L-7295265B"}, {"inf2.xlarge", false, "L-1945791B"},
	} {
		if got := quotaError("us-west-2", tc.class, tc.spot, errors.New("x")).QuotaCode; got != tc.code {
			t.Errorf("%s spot=%v: %s, want %s", tc.class, tc.spot, got, tc.code)
		}
	}
}

func TestPanicTearsDown(t *testing.T) {
	t.Run("in a VM's provisioning", func(t *testing.T) {
		f := newFakeCloud(t)
		p, _ := newTestProvider(t, f, func(o *Options) {
			o.Status = func(s Status) {
				if s.Stage == StageRunning {
					panic("status printer bug")
				}
			}
		})
		_, err := p.Provision(context.Background(), specs("src-0", "aws:us-east-1", "dst-0", "aws:eu-west-1"), compute.Shared{})
		if err == nil || !strings.Contains(err.Error(), "panic: status printer bug") {
			t.Fatalf("provision: %v", err)
		}
		assertNoGatewayLeft(t, f)
	})
	t.Run("in the deploy step", func(t *testing.T) {
		f := newFakeCloud(t)
		p, d := newTestProvider(t, f, nil)
		d.panicking = true
		func() {
			defer func() {
				if r := recover(); r != "deployer bug" {
					t.Errorf("recovered %v, want the deployer's panic", r)
				}
			}()
			_, _ = p.Provision(context.Background(), specs("src-0", "aws:us-east-1"), compute.Shared{})
		}()
		assertNoGatewayLeft(t, f)
	})
}

func TestLingeringInterfaceIsWaitedOut(t *testing.T) {
	f := newFakeCloud(t)
	f.lingerENI = 3
	p, _ := newTestProvider(t, f, nil)
	if _, err := p.Provision(context.Background(), specs("src-0", "aws:us-east-1"), compute.Shared{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Deprovision(context.Background()); err != nil {
		t.Fatal(err)
	}
	assertNoGatewayLeft(t, f)
}

func TestBadOptionsAreRefused(t *testing.T) {
	f := newFakeCloud(t)
	for _, tc := range []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no client address", func(o *Options) { o.ClientAddr = netip.Addr{} }, "client's public IPv4"},
		{"unspecified client address", func(o *Options) { o.ClientAddr = netip.MustParseAddr("0.0.0.0") }, "client's public IPv4"},
		{"IPv6 client address", func(o *Options) { o.ClientAddr = netip.MustParseAddr("2001:db8::7") }, "IPv4 only"},
		{"bad ids", func(o *Options) { o.DataplaneID = "DP-1" }, "lowercase letters or digits"},
		{"no class", func(o *Options) { o.InstanceClass = "" }, "aws_instance_class"},
		{"bad ports", func(o *Options) { o.DataPorts = [2]int32{80, 90} }, "1024..65535"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opt := Options{Config: testConfig(), EC2Endpoint: f.ec2.URL, ClientID: "c1", DataplaneID: "dp1", ClientAddr: clientAddr,
				LedgerDir: t.TempDir(), InstanceClass: "m5.xlarge", Deployer: &fakeDeployer{}}
			tc.mod(&opt)
			if _, err := New(opt); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want %q", err, tc.want)
			}
		})
	}
	p, _ := newTestProvider(t, f, nil)
	if _, err := p.Provision(context.Background(), specs("src-0", "gcp:us-central1"), compute.Shared{}); err == nil || !strings.Contains(err.Error(), "aws:<region>") {
		t.Errorf("non-AWS region: %v", err)
	}
	if calls := f.recorded(); len(calls) != 0 {
		t.Errorf("a refused provision made %d requests (first %s)", len(calls), calls[0].Action)
	}
	fileGone(t, p.ledger.Path())
}

func TestIngressRefusesWideSources(t *testing.T) {
	for _, tc := range []struct {
		cidr string
		ok   bool
	}{
		{"203.0.113.7/32", true}, {"2001:db8::1/128", true}, {"0.0.0.0/0", false}, {"::/0", false},
		{"10.0.0.0/8", false}, {"203.0.113.0/24", false}, {"nonsense", false},
	} {
		if err := checkSource(tc.cidr); (err == nil) != tc.ok {
			t.Errorf("checkSource(%q) = %v, want ok=%v", tc.cidr, err, tc.ok)
		}
	}
}

func TestBanner(t *testing.T) {
	for _, tc := range []struct {
		greet string
		ok    bool
	}{{"SSH-2.0-OpenSSH_9.6\r\n", true}, {"HTTP/1.1 400 Bad Request\r\n", false}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			c, err := ln.Accept()
			if err == nil {
				_, _ = c.Write([]byte(tc.greet))
				c.Close()
			}
		}()
		err = banner(context.Background(), ln.Addr().String())
		ln.Close()
		if (err == nil) != tc.ok {
			t.Errorf("banner after %q: %v", tc.greet, err)
		}
	}
}

func TestUserDataCarriesHostKeyAndTimer(t *testing.T) {
	k, err := newKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	ud := string(userData(k, 90*60e9))
	for _, want := range []string{"#cloud-config\n", "ed25519_private: |\n    -----BEGIN OPENSSH PRIVATE KEY-----", "ed25519_public: " + k.authorized, `[shutdown, -P, "+90"]`, "ssh_genkeytypes: []"} {
		if !strings.Contains(ud, want) {
			t.Errorf("user data lacks %q:\n%s", want, ud)
		}
	}
}

func TestSubnetsTakeFreeBlocks(t *testing.T) {
	f := newFakeCloud(t)
	f.zones = []string{"b", "c"} // zone a is unavailable at first
	ctx := context.Background()
	p, _ := newTestProvider(t, f, nil)
	if _, err := p.Provision(ctx, specs("src-0", "aws:us-east-1"), compute.Shared{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Deprovision(ctx); err != nil {
		t.Fatal(err)
	}
	f.zones = []string{"a", "b", "c"}
	p2, _ := newTestProvider(t, f, func(o *Options) { o.DataplaneID = "dp2" })
	if _, err := p2.Provision(ctx, specs("src-0", "aws:us-east-1"), compute.Shared{}); err != nil {
		t.Fatal(err)
	}
	if err := p2.Deprovision(ctx); err != nil {
		t.Fatal(err)
	}
	cidrs := map[string]string{}
	for _, r := range f.skyplane() {
		if r.Kind == "subnet" {
			cidrs[r.Zone] = r.CIDR
		}
	}
	// b took the first block when a was away; a, now first, gets the next.
	if cidrs["us-east-1a"] != "10.0.16.0/20" || cidrs["us-east-1b"] != "10.0.0.0/20" || len(cidrs) != 2 {
		t.Errorf("subnets %v", cidrs)
	}
	assertNoGatewayLeft(t, f)
}

func TestVMThatNeverRunsIsBounded(t *testing.T) {
	f := newFakeCloud(t)
	f.bootPolls = 1 << 30
	p, _ := newTestProvider(t, f, func(o *Options) { o.BootWait = 50 * time.Millisecond })
	_, err := p.Provision(context.Background(), specs("src-0", "aws:us-east-1"), compute.Shared{})
	if err == nil || !strings.Contains(err.Error(), "not running after 50ms") {
		t.Fatalf("provision: %v", err)
	}
	assertNoGatewayLeft(t, f)
}

func TestStatusLine(t *testing.T) {
	for _, tc := range []struct {
		s    Status
		want []string
	}{
		{Status{Gateway: "src-0", Region: "aws:us-east-1", Zone: "us-east-1a", Instance: "i-1", Stage: StageSSH, Elapsed: 42 * time.Second},
			[]string{"src-0", "aws:us-east-1", "us-east-1a", "i-1", "ssh up", " 42s"}},
		{Status{Gateway: "dst-0", Stage: StageFailed, Elapsed: 3 * time.Second, Err: errors.New("no zone")},
			[]string{"dst-0", "failed", "3s: no zone"}},
	} {
		line := tc.s.String()
		for _, w := range tc.want {
			if !strings.Contains(line, w) {
				t.Errorf("%q lacks %q", line, w)
			}
		}
	}
}
