package aws

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/skyplane-project/skyplane-go/internal/compute"
)

var clientAddr = netip.MustParseAddr("203.0.113.7")

// fakeDeployer stands in for SSH: it returns an instance per VM at once.
type fakeDeployer struct {
	mu        sync.Mutex
	vms       []VM
	fail      error
	panicking bool
	teardowns int
}

func (d *fakeDeployer) Deploy(ctx context.Context, vms []VM, _ compute.Shared, status func(string, Stage)) ([]compute.Instance, error) {
	if d.panicking {
		panic("deployer bug")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if d.fail != nil {
		return nil, d.fail
	}
	d.mu.Lock()
	d.vms = append(d.vms, vms...)
	d.mu.Unlock()
	out := make([]compute.Instance, len(vms))
	for i, v := range vms {
		status(v.Spec.ID, StageSSH)
		status(v.Spec.ID, StageReady)
		out[i] = compute.Instance{ID: v.Spec.ID, Region: v.Spec.Region, Data: v.Private.String() + ":40000"}
	}
	return out, nil
}

func (d *fakeDeployer) Teardown(context.Context) error {
	d.mu.Lock()
	d.teardowns++
	d.mu.Unlock()
	return nil
}

func testConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
}

// newTestProvider is a provider on the fake with quick polls; mod adjusts
// the options.
func newTestProvider(t *testing.T, f *fakeCloud, mod func(*Options)) (*Provider, *fakeDeployer) {
	t.Helper()
	d := &fakeDeployer{}
	opt := Options{Config: testConfig(), EC2Endpoint: f.ec2.URL, IAMEndpoint: f.iam.URL,
		ClientID: "c1", DataplaneID: "dp1", ClientAddr: clientAddr, LedgerDir: t.TempDir(),
		InstanceClass: "m5.xlarge", Deployer: d, Poll: time.Millisecond, IAMWait: 2 * time.Second, TeardownWait: time.Second, Log: slog.New(slog.DiscardHandler)}
	if mod != nil {
		mod(&opt)
	}
	p, err := New(opt)
	if err != nil {
		t.Fatal(err)
	}
	return p, d
}

func specs(pairs ...string) []compute.Spec {
	var out []compute.Spec
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, compute.Spec{ID: pairs[i], Region: pairs[i+1]})
	}
	return out
}

func (f *fakeCloud) sweepOptions() SweepOptions {
	return SweepOptions{Config: testConfig(), EC2Endpoint: f.ec2.URL, IAMEndpoint: f.iam.URL, Poll: time.Millisecond, Wait: time.Second, Log: slog.New(slog.DiscardHandler)}
}

// assertNoGatewayLeft fails if anything but the shared network is left;
// the network must be whole or absent (a half-built one was rolled back).
func assertNoGatewayLeft(t *testing.T, f *fakeCloud) {
	t.Helper()
	var net []string
	for _, r := range f.skyplane() {
		if r.Tags[TagRole] != RoleNetwork {
			t.Errorf("left behind: %s %s (%s) tags %v", r.Kind, r.ID, r.Region, r.Tags)
			continue
		}
		net = append(net, r.Region+" "+r.Kind)
	}
	regions := map[string][]string{}
	for _, n := range net {
		reg, kind, _ := strings.Cut(n, " ")
		regions[reg] = append(regions[reg], kind)
	}
	for reg, kinds := range regions {
		for _, want := range []string{"vpc", "igw", "rtb"} {
			if !slices.Contains(kinds, want) {
				t.Errorf("%s: partial network left (%v): no %s", reg, kinds, want)
			}
		}
	}
}

// assertNothingOpenToWorld checks every rule any request asked for: each
// source is one address or a group, never 0.0.0.0/0 or ::/0.
func assertNothingOpenToWorld(t testing.TB, f *fakeCloud) {
	t.Helper()
	for _, c := range f.recorded() {
		for k, vs := range c.Form {
			for _, v := range vs {
				if strings.Contains(k, "Cidr") && (strings.HasSuffix(v, "/0") || !isSingle(v)) && c.Action != "CreateVpc" &&
					c.Action != "CreateSubnet" && c.Action != "CreateRoute" && c.Action != "DeleteRoute" {
					t.Errorf("%s %s: %s=%s opens more than one address", c.Region, c.Action, k, v)
				}
			}
		}
		if c.Action == "AuthorizeSecurityGroupIngress" {
			for _, pm := range items(c.Form, "IpPermissions") {
				if len(permSources(pm)) == 0 {
					t.Errorf("%s: ingress rule without a source: %v", c.Region, pm)
				}
			}
		}
	}
}

func isSingle(cidr string) bool {
	p, err := netip.ParsePrefix(cidr)
	return err == nil && p.IsSingleIP()
}

func fileGone(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s still there (err %v)", path, err)
	}
}

// stages collects the status lines per gateway.
type stages struct {
	mu  sync.Mutex
	got map[string][]Stage
}

func (s *stages) add(st Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got == nil {
		s.got = map[string][]Stage{}
	}
	s.got[st.Gateway] = append(s.got[st.Gateway], st.Stage)
}

func (s *stages) String() string { return fmt.Sprint(s.got) }
