package aws

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// SweepOptions reach the APIs for teardown and sweeps.
type SweepOptions struct {
	Config                   aws.Config
	EC2Endpoint, IAMEndpoint string
	Poll                     time.Duration // between state checks (default 5 s)
	// Wait bounds waiting for instances to terminate and for a group's
	// network interfaces to go (default 10 min).
	Wait time.Duration
	Log  *slog.Logger
}

// cleaner deletes resources of every kind, treating "already gone" as done.
type cleaner struct {
	o SweepOptions
}

func newCleaner(o SweepOptions) *cleaner {
	if o.Poll <= 0 {
		o.Poll = 5 * time.Second
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Minute
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &cleaner{o: o}
}

func (c *cleaner) ec2(region string) *ec2.Client {
	return ec2.NewFromConfig(c.o.Config, func(o *ec2.Options) {
		o.Region = region
		if c.o.EC2Endpoint != "" {
			o.BaseEndpoint = aws.String(c.o.EC2Endpoint)
		}
	})
}

func (c *cleaner) iam() *iam.Client {
	return iam.NewFromConfig(c.o.Config, func(o *iam.Options) {
		o.Region = "us-east-1"
		if c.o.IAMEndpoint != "" {
			o.BaseEndpoint = aws.String(c.o.IAMEndpoint)
		}
	})
}

// gone says an error means the resource no longer exists.
func gone(err error) bool {
	code := apiCode(err)
	return strings.HasSuffix(code, ".NotFound") || code == "NoSuchEntity" || code == "Gateway.NotAttached"
}

func ignoreGone(err error) error {
	if err == nil || gone(err) {
		return nil
	}
	return err
}

// terminate terminates instances and waits until none of them is left
// running or shutting down: until then its group cannot be deleted.
func (c *cleaner) terminate(ctx context.Context, region string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	cl := c.ec2(region)
	if _, err := cl.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids}); ignoreGone(err) != nil {
		return fmt.Errorf("aws %s: terminate %v: %w", region, ids, err)
	}
	deadline := time.Now().Add(c.o.Wait)
	for {
		out, err := cl.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
			filter("instance-id", ids...), filter("instance-state-name", "pending", "running", "stopping", "stopped", "shutting-down")}})
		if err != nil {
			return fmt.Errorf("aws %s: wait for termination: %w", region, err)
		}
		if len(out.Reservations) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("aws %s: instances %v still not terminated after %s", region, ids, c.o.Wait)
		}
		if err := sleep(ctx, c.o.Poll); err != nil {
			return err
		}
	}
}

// terminateAll terminates VMs region by region and names the regions where
// that failed: nothing else there can be deleted while they run.
func (c *cleaner) terminateAll(ctx context.Context, vms []Entry) (map[string]bool, error) {
	byRegion := map[string][]string{}
	var regions []string
	for _, e := range vms {
		if byRegion[e.Region] == nil {
			regions = append(regions, e.Region)
		}
		byRegion[e.Region] = append(byRegion[e.Region], e.ID)
	}
	failed := map[string]bool{}
	var errs []error
	for _, r := range regions {
		if err := c.terminate(ctx, r, byRegion[r]); err != nil {
			errs = append(errs, err)
			failed[r] = true
		}
	}
	return failed, errors.Join(errs...)
}

// retryDependency retries a delete that fails while something still uses
// the resource (a terminated VM's interface lingers for a while).
func (c *cleaner) retryDependency(ctx context.Context, del func() error) error {
	deadline := time.Now().Add(c.o.Wait)
	for {
		err := ignoreGone(del())
		if err == nil || apiCode(err) != "DependencyViolation" || time.Now().After(deadline) {
			return err
		}
		if err := sleep(ctx, c.o.Poll); err != nil {
			return err
		}
	}
}

// delete removes one resource other than an instance.
func (c *cleaner) delete(ctx context.Context, e Entry) error {
	var err error
	switch e.Kind {
	case KindSecurityGroup:
		cl := c.ec2(e.Region)
		err = c.retryDependency(ctx, func() error {
			_, err := cl.DeleteSecurityGroup(ctx, &ec2.DeleteSecurityGroupInput{GroupId: &e.ID})
			return err
		})
	case KindKeyPair:
		_, err = c.ec2(e.Region).DeleteKeyPair(ctx, &ec2.DeleteKeyPairInput{KeyName: &e.ID})
	case KindRTAssociation:
		_, err = c.ec2(e.Region).DisassociateRouteTable(ctx, &ec2.DisassociateRouteTableInput{AssociationId: &e.ID})
	case KindSubnet:
		cl := c.ec2(e.Region)
		err = c.retryDependency(ctx, func() error {
			_, err := cl.DeleteSubnet(ctx, &ec2.DeleteSubnetInput{SubnetId: &e.ID})
			return err
		})
	case KindRoute:
		_, err = c.ec2(e.Region).DeleteRoute(ctx, &ec2.DeleteRouteInput{RouteTableId: &e.Parent, DestinationCidrBlock: &e.ID})
	case KindRouteTable:
		_, err = c.ec2(e.Region).DeleteRouteTable(ctx, &ec2.DeleteRouteTableInput{RouteTableId: &e.ID})
	case KindIGWAttachment:
		_, err = c.ec2(e.Region).DetachInternetGateway(ctx, &ec2.DetachInternetGatewayInput{InternetGatewayId: &e.ID, VpcId: &e.Parent})
	case KindInternetGateway:
		_, err = c.ec2(e.Region).DeleteInternetGateway(ctx, &ec2.DeleteInternetGatewayInput{InternetGatewayId: &e.ID})
	case KindVPC:
		err = c.deleteVPC(ctx, e.Region, e.ID)
	case KindProfileRole:
		_, err = c.iam().RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: &e.Parent, RoleName: &e.ID})
	case KindInstanceProfile:
		err = c.deleteProfile(ctx, e.ID)
	case KindRolePolicy:
		_, err = c.iam().DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &e.Parent, PolicyName: &e.ID})
	case KindRole:
		err = c.deleteRole(ctx, e.ID)
	default:
		return fmt.Errorf("unknown resource kind %q", e.Kind)
	}
	if err = ignoreGone(err); err != nil {
		return fmt.Errorf("delete %s %s %s: %w", e.Region, e.Kind, e.ID, err)
	}
	return nil
}

// deleteVPC deletes a VPC skyplane created with whatever is still in it:
// a network whose creation was cancelled mid-request can hold an attached
// gateway, a subnet or a route table the ledger never heard of.
func (c *cleaner) deleteVPC(ctx context.Context, region, id string) error {
	cl := c.ec2(region)
	igws, err := cl.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: []types.Filter{filter("attachment.vpc-id", id)}})
	if err != nil {
		return ignoreGone(err)
	}
	for _, g := range igws.InternetGateways {
		if err := c.delete(ctx, Entry{Kind: KindIGWAttachment, Region: region, ID: aws.ToString(g.InternetGatewayId), Parent: id}); err != nil {
			return err
		}
		if err := c.delete(ctx, Entry{Kind: KindInternetGateway, Region: region, ID: aws.ToString(g.InternetGatewayId)}); err != nil {
			return err
		}
	}
	sns, err := cl.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("vpc-id", id)}})
	if err != nil {
		return err
	}
	for _, sn := range sns.Subnets {
		if err := c.delete(ctx, Entry{Kind: KindSubnet, Region: region, ID: aws.ToString(sn.SubnetId)}); err != nil {
			return err
		}
	}
	rts, err := cl.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{filter("vpc-id", id), filter("tag:"+TagRole, RoleNetwork)}})
	if err != nil {
		return err
	}
	for _, rt := range rts.RouteTables {
		if err := c.delete(ctx, Entry{Kind: KindRouteTable, Region: region, ID: aws.ToString(rt.RouteTableId)}); err != nil {
			return err
		}
	}
	return c.retryDependency(ctx, func() error {
		_, err := cl.DeleteVpc(ctx, &ec2.DeleteVpcInput{VpcId: &id})
		return err
	})
}

// deleteProfile removes the profile's roles first: a cancelled
// AddRoleToInstanceProfile may have added one the ledger never heard of.
func (c *cleaner) deleteProfile(ctx context.Context, name string) error {
	cl := c.iam()
	out, err := cl.GetInstanceProfile(ctx, &iam.GetInstanceProfileInput{InstanceProfileName: &name})
	if err != nil {
		return err
	}
	for _, r := range out.InstanceProfile.Roles {
		if _, err := cl.RemoveRoleFromInstanceProfile(ctx, &iam.RemoveRoleFromInstanceProfileInput{InstanceProfileName: &name, RoleName: r.RoleName}); ignoreGone(err) != nil {
			return err
		}
	}
	_, err = cl.DeleteInstanceProfile(ctx, &iam.DeleteInstanceProfileInput{InstanceProfileName: &name})
	return err
}

// deleteRole deletes the role's inline policies first, for the same reason.
func (c *cleaner) deleteRole(ctx context.Context, name string) error {
	cl := c.iam()
	pols, err := cl.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &name})
	if err != nil {
		return err
	}
	for _, pn := range pols.PolicyNames {
		if _, err := cl.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: &name, PolicyName: &pn}); ignoreGone(err) != nil {
			return err
		}
	}
	_, err = cl.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: &name})
	return err
}

// TeardownLedger deletes what a ledger holds live: every instance first
// (terminated and waited for), then the rest in reverse creation order.
// Each deletion is recorded, so an interrupted teardown resumes where it
// stopped. It is what `deprovision` runs on a ledger a dead client left.
func TeardownLedger(ctx context.Context, o SweepOptions, l *Ledger) error {
	c := newCleaner(o)
	live := l.Live()
	var vms []Entry
	for _, e := range live {
		if e.Kind == KindInstance {
			vms = append(vms, e)
		}
	}
	failed, err := c.terminateAll(ctx, vms)
	errs := []error{err}
	for _, e := range vms {
		if !failed[e.Region] {
			errs = append(errs, l.Deleted(e))
		}
	}
	for _, e := range slices.Backward(live) {
		if e.Kind == KindInstance || (failed[e.Region] && e.Region != "") {
			continue // a group with VMs still on it cannot go either
		}
		if err := c.delete(ctx, e); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, l.Deleted(e))
	}
	return errors.Join(errs...)
}

// TeardownLedgers tears down every ledger in dir that no running client
// holds (what clients that died left in the state directory), removing
// each emptied ledger and its key. It returns how many it tore down and
// how many it left to their running clients.
func TeardownLedgers(ctx context.Context, o SweepOptions, dir string) (done, running int, err error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.ledger"))
	if err != nil {
		return 0, 0, err
	}
	var errs []error
	for _, path := range paths {
		l, err := OpenLedger(path)
		if errors.Is(err, ErrLedgerLocked) {
			running++
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		terr := TeardownLedger(ctx, o, l)
		if terr == nil {
			terr = os.Remove(keyFile(path))
			if errors.Is(terr, fs.ErrNotExist) {
				terr = nil
			}
		}
		errs = append(errs, terr, l.Close())
		if terr == nil {
			done++
		}
	}
	return done, running, errors.Join(errs...)
}

func (p *Provider) teardownLedger(ctx context.Context) error {
	p.mu.Lock()
	p.key = nil
	p.mu.Unlock()
	err := TeardownLedger(ctx, p.sweepOptions(), p.ledger)
	if rerr := os.Remove(p.keyPath()); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}
