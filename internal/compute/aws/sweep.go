package aws

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// Filter chooses what a sweep removes. Empty ids match any; All also
// removes the shared network (otherwise kept for the next dataplane).
type Filter struct {
	ClientID, DataplaneID string
	All                   bool
}

// Found is one tagged resource.
type Found struct {
	Kind   Kind
	Region string // "" for IAM
	ID     string
	Parent string
}

func (f Filter) ec2Filters(role string) []types.Filter {
	fs := []types.Filter{filter("tag:"+TagRole, role)}
	if f.ClientID != "" {
		fs = append(fs, filter("tag:"+TagClient, f.ClientID))
	}
	if f.DataplaneID != "" && role == RoleGateway {
		fs = append(fs, filter("tag:"+TagDataplane, f.DataplaneID))
	}
	return fs
}

// matchName tells whether an IAM name skyplane-<client>-<dataplane> is
// the filter's.
func (f Filter) matchName(name string) bool {
	parts := strings.Split(name, "-")
	if len(parts) != 3 || parts[0] != "skyplane" {
		return false
	}
	return (f.ClientID == "" || parts[1] == f.ClientID) && (f.DataplaneID == "" || parts[2] == f.DataplaneID)
}

// Regions lists the regions enabled for the account (opted in or not
// requiring it): where a sweep must look when the caller does not know.
func Regions(ctx context.Context, o SweepOptions, home string) ([]string, error) {
	out, err := newCleaner(o).ec2(home).DescribeRegions(ctx, &ec2.DescribeRegionsInput{
		Filters: []types.Filter{filter("opt-in-status", "opt-in-not-required", "opted-in")}})
	if err != nil {
		return nil, fmt.Errorf("aws: list regions: %w", err)
	}
	var rs []string
	for _, r := range out.Regions {
		rs = append(rs, aws.ToString(r.RegionName))
	}
	slices.Sort(rs)
	return rs, nil
}

// List finds what skyplane created and still exists in regions (and in
// IAM), in the order Sweep deletes it: the leak check.
func List(ctx context.Context, o SweepOptions, regions []string, f Filter) ([]Found, error) {
	c := newCleaner(o)
	var out []Found
	var errs []error
	for _, r := range regions {
		fs, err := c.listRegion(ctx, r, f)
		out = append(out, fs...)
		if err != nil {
			errs = append(errs, fmt.Errorf("aws %s: %w", r, err))
		}
	}
	fs, err := c.listIAM(ctx, f)
	out = append(out, fs...)
	if err != nil {
		errs = append(errs, fmt.Errorf("aws iam: %w", err))
	}
	return out, errors.Join(errs...)
}

func (c *cleaner) listRegion(ctx context.Context, region string, f Filter) ([]Found, error) {
	cl := c.ec2(region)
	out, err := c.listInstances(ctx, region, f)
	if err != nil {
		return nil, err
	}
	sgs, err := cl.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: f.ec2Filters(RoleGateway)})
	if err != nil {
		return out, err
	}
	for _, g := range sgs.SecurityGroups {
		out = append(out, Found{Kind: KindSecurityGroup, Region: region, ID: aws.ToString(g.GroupId)})
	}
	keys, err := cl.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: f.ec2Filters(RoleGateway)})
	if err != nil {
		return out, err
	}
	for _, k := range keys.KeyPairs {
		out = append(out, Found{Kind: KindKeyPair, Region: region, ID: aws.ToString(k.KeyName)})
	}
	if !f.All {
		return out, nil
	}
	net := f.ec2Filters(RoleNetwork)
	sns, err := cl.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: net})
	if err != nil {
		return out, err
	}
	for _, s := range sns.Subnets {
		out = append(out, Found{Kind: KindSubnet, Region: region, ID: aws.ToString(s.SubnetId)})
	}
	rts, err := cl.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: net})
	if err != nil {
		return out, err
	}
	for _, t := range rts.RouteTables {
		out = append(out, Found{Kind: KindRouteTable, Region: region, ID: aws.ToString(t.RouteTableId)})
	}
	igws, err := cl.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: net})
	if err != nil {
		return out, err
	}
	for _, g := range igws.InternetGateways {
		for _, a := range g.Attachments {
			out = append(out, Found{Kind: KindIGWAttachment, Region: region, ID: aws.ToString(g.InternetGatewayId), Parent: aws.ToString(a.VpcId)})
		}
		out = append(out, Found{Kind: KindInternetGateway, Region: region, ID: aws.ToString(g.InternetGatewayId)})
	}
	vpcs, err := cl.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: net})
	if err != nil {
		return out, err
	}
	for _, id := range vpcIDs(vpcs.Vpcs) {
		out = append(out, Found{Kind: KindVPC, Region: region, ID: id})
	}
	return out, nil
}

// listInstances finds the filter's VMs that are not terminated yet.
func (c *cleaner) listInstances(ctx context.Context, region string, f Filter) ([]Found, error) {
	var out []Found
	pg := ec2.NewDescribeInstancesPaginator(c.ec2(region), &ec2.DescribeInstancesInput{Filters: append(f.ec2Filters(RoleGateway),
		filter("instance-state-name", "pending", "running", "stopping", "stopped", "shutting-down"))})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, res := range page.Reservations {
			for _, in := range res.Instances {
				out = append(out, Found{Kind: KindInstance, Region: region, ID: aws.ToString(in.InstanceId)})
			}
		}
	}
	return out, nil
}

func (c *cleaner) listIAM(ctx context.Context, f Filter) ([]Found, error) {
	cl := c.iam()
	var out []Found
	pp := iam.NewListInstanceProfilesPaginator(cl, &iam.ListInstanceProfilesInput{PathPrefix: aws.String(iamPath)})
	for pp.HasMorePages() {
		page, err := pp.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, ip := range page.InstanceProfiles {
			name := aws.ToString(ip.InstanceProfileName)
			if !f.matchName(name) {
				continue
			}
			for _, r := range ip.Roles {
				out = append(out, Found{Kind: KindProfileRole, ID: aws.ToString(r.RoleName), Parent: name})
			}
			out = append(out, Found{Kind: KindInstanceProfile, ID: name})
		}
	}
	rp := iam.NewListRolesPaginator(cl, &iam.ListRolesInput{PathPrefix: aws.String(iamPath)})
	for rp.HasMorePages() {
		page, err := rp.NextPage(ctx)
		if err != nil {
			return out, err
		}
		for _, r := range page.Roles {
			name := aws.ToString(r.RoleName)
			if !f.matchName(name) {
				continue
			}
			pols, err := cl.ListRolePolicies(ctx, &iam.ListRolePoliciesInput{RoleName: &name})
			if err != nil {
				return out, err
			}
			for _, pn := range pols.PolicyNames {
				out = append(out, Found{Kind: KindRolePolicy, ID: pn, Parent: name})
			}
			out = append(out, Found{Kind: KindRole, ID: name})
		}
	}
	return out, nil
}

// Sweep deletes what List finds: `skyplane deprovision` for AWS, which
// needs no ledger (a client killed outright leaves only its tags). It
// returns what it deleted; what it could not delete is in the error.
func Sweep(ctx context.Context, o SweepOptions, regions []string, f Filter) ([]Found, error) {
	c := newCleaner(o)
	found, err := List(ctx, o, regions, f)
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	var done []Found
	var vms []Entry
	for _, x := range found {
		if x.Kind == KindInstance {
			vms = append(vms, Entry{Kind: x.Kind, Region: x.Region, ID: x.ID})
		}
	}
	failed, err := c.terminateAll(ctx, vms)
	errs = append(errs, err)
	for _, x := range found {
		if x.Kind == KindInstance {
			if !failed[x.Region] {
				done = append(done, x)
			}
			continue
		}
		if failed[x.Region] && x.Region != "" {
			continue
		}
		if err := c.delete(ctx, Entry{Kind: x.Kind, Region: x.Region, ID: x.ID, Parent: x.Parent}); err != nil {
			errs = append(errs, err)
			continue
		}
		done = append(done, x)
	}
	return done, errors.Join(errs...)
}
