package aws

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/skyplane-project/skyplane-go/internal/compute"
)

// Stage is how far one VM has come.
type Stage string

const (
	StageRequested Stage = "requested"
	StageRunning   Stage = "running"
	StageSSH       Stage = "ssh up"
	StageReady     Stage = "ready"
	StageFailed    Stage = "failed"
)

// Status is one progress line of one VM.
type Status struct {
	Gateway, Region, Zone, Instance string
	Stage                           Stage
	Elapsed                         time.Duration // since the VM was requested
	Err                             error
}

func (s Status) String() string {
	line := fmt.Sprintf("%-10s %-16s %-12s %-20s %-9s %3.0fs", s.Gateway, s.Region, s.Zone, s.Instance, s.Stage, s.Elapsed.Seconds())
	if s.Err != nil {
		line += ": " + s.Err.Error()
	}
	return line
}

// vm is one gateway's VM; fields fill in as it comes up.
type vm struct {
	spec    compute.Spec
	region  *region
	zone    string
	id      string
	public  netip.Addr
	private netip.Addr
	hostKey *keyPair
	start   time.Time
}

func (p *Provider) status(v *vm, st Stage, err error) {
	s := Status{Gateway: v.spec.ID, Region: v.spec.Region, Zone: v.zone, Instance: v.id, Stage: st, Elapsed: time.Since(v.start), Err: err}
	p.opt.Log.Info("gateway vm", "gateway", s.Gateway, "region", s.Region, "zone", s.Zone, "instance", s.Instance, "stage", string(st), "seconds", int(s.Elapsed.Seconds()))
	if p.opt.Status != nil {
		p.opt.Status(s)
	}
}

// startVMs brings up every VM, at most Parallel at once; the first failure
// cancels the others.
func (p *Provider) startVMs(ctx context.Context, specs []compute.Spec) ([]*vm, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	vms := make([]*vm, len(specs))
	errs := make([]error, len(specs))
	sem := make(chan struct{}, p.opt.Parallel)
	var wg sync.WaitGroup
	for i, s := range specs {
		v := &vm{spec: s}
		vms[i] = v
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("gateway %s: panic: %v", s.ID, r)
					cancel()
				}
			}()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			v.start = time.Now()
			if err := p.startVM(ctx, v); err != nil {
				p.status(v, StageFailed, err)
				errs[i] = fmt.Errorf("gateway %s (%s): %w", s.ID, s.Region, err)
				cancel()
			}
		})
	}
	wg.Wait()
	p.mu.Lock()
	p.vms = vms
	p.mu.Unlock()
	// The first failure is the cause; the others were cancelled by it.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return vms, nil
}

func (p *Provider) startVM(ctx context.Context, v *vm) error {
	rn, _ := regionOf(v.spec.Region)
	r, err := p.region(ctx, rn)
	if err != nil {
		return err
	}
	v.region = r
	profile, err := p.instanceProfile(ctx)
	if err != nil {
		return err
	}
	if v.hostKey, err = newKeyPair(); err != nil {
		return err
	}
	if err := p.runInstance(ctx, v, profile); err != nil {
		return err
	}
	p.status(v, StageRequested, nil)
	wctx, cancel := context.WithTimeout(ctx, p.opt.BootWait)
	defer cancel()
	if err := p.waitRunning(wctx, v); err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return fmt.Errorf("instance %s not running after %s", v.id, p.opt.BootWait)
		}
		return err
	}
	p.status(v, StageRunning, nil)
	return nil
}

// runInstance tries the region's zones in order, skipping those that
// reported no capacity for the class, and waits out IAM propagation.
func (p *Provider) runInstance(ctx context.Context, v *vm, profile string) error {
	r := v.region
	var capErrs []error
	for _, zone := range r.zones {
		r.mu.Lock()
		full := r.full[zone+"/"+p.opt.InstanceClass]
		r.mu.Unlock()
		if full {
			continue
		}
		v.zone = zone
		subnet, err := p.subnet(ctx, r, zone)
		if err != nil {
			return fmt.Errorf("subnet in %s: %w", zone, err)
		}
		err = p.runIn(ctx, v, profile, subnet)
		if err == nil {
			return nil
		}
		if !isCapacity(err) {
			return err
		}
		p.opt.Log.Info("no capacity in zone, trying the next", "zone", zone, "class", p.opt.InstanceClass, "err", err)
		r.mu.Lock()
		r.full[zone+"/"+p.opt.InstanceClass] = true
		r.mu.Unlock()
		capErrs = append(capErrs, err)
	}
	if len(capErrs) == 0 {
		return fmt.Errorf("no zone of %s has capacity for %s (every zone reported none to another VM of this dataplane)", r.name, p.opt.InstanceClass)
	}
	return fmt.Errorf("no zone of %s has capacity for %s: %w", r.name, p.opt.InstanceClass, errors.Join(capErrs...))
}

func (p *Provider) runIn(ctx context.Context, v *vm, profile, subnet string) error {
	r := v.region
	name := p.name(v.spec.ID)
	in := &ec2.RunInstancesInput{
		ImageId: &r.image, InstanceType: types.InstanceType(p.opt.InstanceClass), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		KeyName:                           aws.String(p.name("")),
		IamInstanceProfile:                &types.IamInstanceProfileSpecification{Name: &profile},
		InstanceInitiatedShutdownBehavior: types.ShutdownBehaviorTerminate,
		NetworkInterfaces: []types.InstanceNetworkInterfaceSpecification{{DeviceIndex: aws.Int32(0), SubnetId: &subnet,
			Groups: []string{r.sg}, AssociatePublicIpAddress: aws.Bool(true), DeleteOnTermination: aws.Bool(true)}},
		MetadataOptions:   &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateRequired},
		UserData:          aws.String(base64.StdEncoding.EncodeToString(userData(v.hostKey, p.opt.Shutdown))),
		TagSpecifications: append(p.tags(types.ResourceTypeInstance, RoleGateway, name), p.tags(types.ResourceTypeVolume, RoleGateway, name)...),
		ClientToken:       aws.String(clientToken(name + "-" + v.zone)),
	}
	if p.opt.Spot {
		in.InstanceMarketOptions = &types.InstanceMarketOptionsRequest{MarketType: types.MarketTypeSpot,
			SpotOptions: &types.SpotMarketOptions{SpotInstanceType: types.SpotInstanceTypeOneTime,
				InstanceInterruptionBehavior: types.InstanceInterruptionBehaviorTerminate}}
	}
	deadline := time.Now().Add(p.opt.IAMWait)
	for {
		out, err := r.c.RunInstances(ctx, in)
		if err == nil {
			if len(out.Instances) != 1 {
				return fmt.Errorf("run instances: %d instances in the answer, want 1", len(out.Instances))
			}
			v.id = aws.ToString(out.Instances[0].InstanceId)
			return p.record(Entry{Kind: KindInstance, Region: r.name, ID: v.id})
		}
		if isQuota(err) {
			return quotaError(r.name, p.opt.InstanceClass, p.opt.Spot, err)
		}
		if !isIAMPropagation(err) || time.Now().After(deadline) {
			return err
		}
		p.opt.Log.Debug("instance profile not visible to EC2 yet, retrying", "profile", profile)
		if err := sleep(ctx, p.opt.Poll); err != nil {
			return err
		}
	}
}

// clientToken makes RunInstances idempotent per VM and zone within the
// 64 characters EC2 allows.
func clientToken(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:16])
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitRunning polls until the VM runs with a public address.
func (p *Provider) waitRunning(ctx context.Context, v *vm) error {
	for {
		out, err := v.region.c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{v.id}})
		if err != nil && apiCode(err) != "InvalidInstanceID.NotFound" { // not visible yet: eventual consistency
			return err
		}
		if err == nil {
			for _, res := range out.Reservations {
				for _, in := range res.Instances {
					switch in.State.Name {
					case types.InstanceStateNameRunning:
						pub, perr := netip.ParseAddr(aws.ToString(in.PublicIpAddress))
						priv, qerr := netip.ParseAddr(aws.ToString(in.PrivateIpAddress))
						if perr == nil && qerr == nil {
							v.public, v.private = pub, priv
							return nil
						}
					case types.InstanceStateNameShuttingDown, types.InstanceStateNameTerminated, types.InstanceStateNameStopped:
						reason := ""
						if in.StateReason != nil {
							reason = ": " + aws.ToString(in.StateReason.Message)
						}
						return fmt.Errorf("instance %s went %s before running%s", v.id, in.State.Name, reason)
					}
				}
			}
		}
		if err := sleep(ctx, p.opt.Poll); err != nil {
			return err
		}
	}
}

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func isCapacity(err error) bool {
	switch apiCode(err) {
	case "InsufficientInstanceCapacity", "InsufficientHostCapacity", "Unsupported", "InsufficientCapacityOnHost":
		return true
	}
	return false
}

func isIAMPropagation(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "InvalidParameterValue" &&
		strings.Contains(strings.ToLower(ae.ErrorMessage()), "iaminstanceprofile")
}

func isQuota(err error) bool {
	switch apiCode(err) {
	case "VcpuLimitExceeded", "InstanceLimitExceeded", "MaxSpotInstanceCountExceeded":
		return true
	}
	return false
}
