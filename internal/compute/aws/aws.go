// Package aws provisions gateways on EC2 VMs and deploys onto them over SSH
// exactly as onto the user's own hosts (internal/compute/ssh).
//
// Per region it reuses or creates one network shared by every dataplane
// (a VPC, an internet gateway, a route table with the default route, one
// subnet per zone tried, all tagged skyplane=network) and creates, per
// dataplane: a security group admitting SSH only from the client's address
// and the data ports only from the dataplane's own gateways, an ed25519 key
// pair, and the VMs; once, globally, an IAM role with storage access and
// its instance profile. Everything is tagged skyplane, skyplane:client and
// skyplane:dataplane and named skyplane-<client>-<dataplane>[-<gateway>].
//
// Every resource is recorded in a ledger file (fsynced) before the call that
// created it returns; teardown walks the ledger backwards on success,
// failure, cancellation and panic, then sweeps the regions by tag for what a
// cancelled request created without the client hearing back. VMs terminate
// themselves when shut down and carry a boot-time shutdown timer.
package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/skyplane-project/skyplane-go/internal/compute"
)

// Options configure a Provider. Library code reads no environment: the
// caller loads Config from the standard AWS chain and passes the rest.
type Options struct {
	Config aws.Config // credentials and retryer; Region is set per call
	// EC2Endpoint and IAMEndpoint override the services' endpoints (tests).
	EC2Endpoint, IAMEndpoint string

	ClientID, DataplaneID string
	// ClientAddr is the client's public address: the only source SSH is
	// admitted from.
	ClientAddr netip.Addr
	// LedgerDir holds <dataplane>.ledger (the state directory's "clouds").
	LedgerDir string

	InstanceClass string // e.g. m5.8xlarge (aws_instance_class)
	Spot          bool   // aws_use_spot_instances
	// ImageID pins the AMI; empty looks up the newest Ubuntu 24.04 amd64
	// image published by Canonical (owner 099720109477) in each region.
	ImageID string
	// Shutdown is the boot-time timer after which a VM powers off (and,
	// shutdown behaviour terminate, is deleted) whatever the client does.
	Shutdown time.Duration
	// DataPorts is the port range gateways listen on for data; the
	// security group opens exactly these.
	DataPorts [2]int32

	Deployer Deployer // what runs gateways on the VMs once they run
	// Parallel bounds the VMs being provisioned at once (default 8).
	Parallel int
	// Poll is the interval between state checks (default 5 s); IAMWait
	// bounds retries while a new instance profile propagates (default 2 min).
	Poll, IAMWait time.Duration
	// BootWait bounds how long a VM may take from requested to running
	// (default 10 min).
	BootWait time.Duration
	// TeardownWait bounds waiting for VMs to terminate and for a group's
	// interfaces to go during teardown (default 10 min).
	TeardownWait time.Duration
	// Status receives each VM's progress: requested, running, ssh up, ready.
	Status func(Status)
	Log    *slog.Logger
}

// Tag keys every resource carries.
const (
	TagRole      = "skyplane" // "gateway" for per-dataplane resources, "network" for the shared network
	TagClient    = "skyplane:client"
	TagDataplane = "skyplane:dataplane"
	RoleGateway  = "gateway"
	RoleNetwork  = "network"
)

var idRE = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// Provider provisions gateways on EC2.
type Provider struct {
	opt    Options
	ledger *Ledger

	mu      sync.Mutex
	regions map[string]*region // by AWS region name
	iamOnce sync.Once
	profile string // instance profile name, once created
	iamErr  error
	key     *keyPair
	vms     []*vm                    // this provision's VMs, for the usage summary
	usage   map[string]time.Duration // instance class → VM time of torn-down VMs
	ready   time.Duration            // from Provision's start to the last gateway ready
}

// New checks the options and opens the dataplane's ledger.
func New(opt Options) (*Provider, error) {
	if !idRE.MatchString(opt.ClientID) || !idRE.MatchString(opt.DataplaneID) {
		return nil, fmt.Errorf("aws provider: client id %q and dataplane id %q must be 1-20 lowercase letters or digits", opt.ClientID, opt.DataplaneID)
	}
	if err := checkClientAddr(opt.ClientAddr); err != nil {
		return nil, err
	}
	opt.ClientAddr = opt.ClientAddr.Unmap()
	if opt.InstanceClass == "" {
		return nil, errors.New("aws provider: no instance class (set aws_instance_class)")
	}
	if opt.Deployer == nil {
		return nil, errors.New("aws provider: no deployer")
	}
	if opt.LedgerDir == "" {
		return nil, errors.New("aws provider: no ledger directory")
	}
	if opt.DataPorts == [2]int32{} {
		opt.DataPorts = [2]int32{40000, 40015}
	}
	if opt.DataPorts[0] < 1024 || opt.DataPorts[1] < opt.DataPorts[0] || opt.DataPorts[1] > 65535 {
		return nil, fmt.Errorf("aws provider: data ports %d-%d: want LOW-HIGH within 1024..65535", opt.DataPorts[0], opt.DataPorts[1])
	}
	if opt.Shutdown <= 0 {
		opt.Shutdown = 12 * time.Hour
	}
	if opt.Parallel <= 0 {
		opt.Parallel = 8
	}
	if opt.Poll <= 0 {
		opt.Poll = 5 * time.Second
	}
	if opt.BootWait <= 0 {
		opt.BootWait = 10 * time.Minute
	}
	if opt.IAMWait <= 0 {
		opt.IAMWait = 2 * time.Minute
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	l, err := OpenLedger(LedgerPath(opt.LedgerDir, opt.DataplaneID))
	if err != nil {
		return nil, err
	}
	return &Provider{opt: opt, ledger: l, regions: map[string]*region{}, usage: map[string]time.Duration{}}, nil
}

// LedgerPath is where the ledger of a dataplane lives.
func LedgerPath(dir, dataplaneID string) string {
	return filepath.Join(dir, dataplaneID+".ledger")
}

// checkClientAddr refuses anything but one routable address: SSH must
// never be open to the world.
func checkClientAddr(a netip.Addr) error {
	if !a.Unmap().Is4() || a.IsUnspecified() {
		return fmt.Errorf("aws provider: client address %q: want the client's public IPv4 address (SSH is admitted from it alone; the VMs have IPv4 only)", a)
	}
	return nil
}

func (p *Provider) Name() string { return "aws" }

func (p *Provider) name(suffix string) string {
	n := "skyplane-" + p.opt.ClientID + "-" + p.opt.DataplaneID
	if suffix != "" {
		n += "-" + suffix
	}
	return n
}

// ec2 and iam are the teardown's clients: one way to reach each API.
func (p *Provider) ec2(r string) *ec2.Client { return newCleaner(p.sweepOptions()).ec2(r) }
func (p *Provider) iam() *iam.Client         { return newCleaner(p.sweepOptions()).iam() }

// Provision starts one VM per spec (region tags "aws:<region>"), deploys a
// gateway onto each, and returns them once all are ready. On any error,
// cancellation or panic, everything it created is gone before it returns.
func (p *Provider) Provision(ctx context.Context, specs []compute.Spec, shared compute.Shared) (out []compute.Instance, err error) {
	defer func() {
		if r := recover(); r != nil {
			p.teardownAfter(ctx)
			panic(r)
		}
		if err != nil {
			if terr := p.teardownAfter(ctx); terr != nil {
				err = errors.Join(err, terr)
			}
		}
	}()
	if len(specs) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the network is built through a cancellation, so never start one after it
	}
	start := time.Now()
	for _, s := range specs {
		if _, err := regionOf(s.Region); err != nil {
			return nil, fmt.Errorf("gateway %s: %w", s.ID, err)
		}
	}
	vms, err := p.startVMs(ctx, specs)
	if err != nil {
		return nil, err
	}
	if err := p.admitPeers(ctx, vms); err != nil {
		return nil, err
	}
	out, err = p.deploy(ctx, vms, shared)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.ready = time.Since(start)
	p.mu.Unlock()
	p.opt.Log.Info("aws gateways ready", "vms", len(vms), "class", p.opt.InstanceClass, "spot", p.opt.Spot, "seconds", int(p.ready.Seconds()))
	return out, nil
}

// TimeToReady is how long the last Provision took until every gateway was
// ready.
func (p *Provider) TimeToReady() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// Usage is the VM time per instance class of the VMs torn down so far,
// counted from each request to its teardown: what the summary reports
// until prices are known.
func (p *Provider) Usage() map[string]time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.usage)
}

// teardownAfter tears down with a context that outlives the caller's
// cancellation, bounded so a dead API cannot hang the client forever.
func (p *Provider) teardownAfter(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Minute)
	defer cancel()
	return p.Deprovision(tctx)
}

// Deprovision stops the gateways, then deletes every live ledger resource
// in reverse creation order and sweeps the touched regions by tag. Safe to
// call more than once.
func (p *Provider) Deprovision(ctx context.Context) error {
	var errs []error
	if err := p.opt.Deployer.Teardown(ctx); err != nil {
		errs = append(errs, err)
	}
	p.mu.Lock()
	var regions []string
	for r := range p.regions {
		regions = append(regions, r)
	}
	for _, v := range p.vms {
		if v.id != "" {
			p.usage[p.opt.InstanceClass] += time.Since(v.start)
		}
	}
	p.vms = nil
	p.mu.Unlock()
	if len(regions) == 0 { // no region was touched, so neither was IAM: the ledger is empty
		return p.ledger.Close()
	}
	f := Filter{ClientID: p.opt.ClientID, DataplaneID: p.opt.DataplaneID}
	// A VM whose RunInstances was cancelled in flight runs unrecorded and
	// holds its security group: adopt it so it terminates first.
	if err := p.adoptInstances(ctx, regions, f); err != nil {
		errs = append(errs, err)
	}
	first := p.teardownLedger(ctx)
	// What a request cancelled mid-flight created, the ledger never heard
	// of; such a request can even land after the adoption above, so what
	// the first pass could not delete (a group held by that VM) goes in a
	// second pass once the sweep has terminated it.
	if _, err := Sweep(ctx, p.sweepOptions(), regions, f); err != nil {
		errs = append(errs, err)
	}
	if first != nil {
		p.opt.Log.Info("aws teardown: retrying after the sweep", "err", first)
		errs = append(errs, p.teardownLedger(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("aws teardown (ledger %s): %w", p.ledger.Path(), err)
	}
	return p.ledger.Close()
}

func (p *Provider) adoptInstances(ctx context.Context, regions []string, f Filter) error {
	c := newCleaner(p.sweepOptions())
	var errs []error
	for _, r := range regions {
		found, err := c.listInstances(ctx, r, f)
		if err != nil {
			errs = append(errs, fmt.Errorf("aws %s: %w", r, err))
		}
		for _, x := range found {
			errs = append(errs, p.ledger.Created(Entry{Kind: KindInstance, Region: r, ID: x.ID}))
		}
	}
	return errors.Join(errs...)
}

func (p *Provider) sweepOptions() SweepOptions {
	return SweepOptions{Config: p.opt.Config, EC2Endpoint: p.opt.EC2Endpoint, IAMEndpoint: p.opt.IAMEndpoint, Poll: p.opt.Poll, Wait: p.opt.TeardownWait, Log: p.opt.Log}
}
