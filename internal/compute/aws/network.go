package aws

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

const (
	vpcCIDR = "10.0.0.0/16"
	// canonicalOwner publishes the Ubuntu images; the name pattern picks
	// 24.04 LTS for amd64 on gp3, the newest creation date wins.
	canonicalOwner = "099720109477"
	ubuntuImages   = "ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-*"
)

// region is what one AWS region holds for this dataplane; setup runs once.
type region struct {
	name string
	c    *ec2.Client

	once  sync.Once
	err   error
	vpc   string
	rt    string
	sg    string
	image string
	zones []string

	mu      sync.Mutex
	subnets map[string]string // zone → subnet
	full    map[string]bool   // zone+class that reported no capacity
}

// regionOf turns a region tag into an AWS region name.
func regionOf(tag string) (string, error) {
	r, ok := strings.CutPrefix(tag, "aws:")
	if !ok || r == "" {
		return "", fmt.Errorf("region %q is not an AWS region tag (want aws:<region>, e.g. aws:us-east-1)", tag)
	}
	return r, nil
}

func (p *Provider) region(ctx context.Context, name string) (*region, error) {
	p.mu.Lock()
	r := p.regions[name]
	if r == nil {
		r = &region{name: name, c: p.ec2(name), subnets: map[string]string{}, full: map[string]bool{}}
		p.regions[name] = r
	}
	p.mu.Unlock()
	r.once.Do(func() { r.err = p.setupRegion(ctx, r) })
	return r, r.err
}

func (p *Provider) tags(kind types.ResourceType, role, name string) []types.TagSpecification {
	return []types.TagSpecification{{ResourceType: kind, Tags: []types.Tag{
		{Key: aws.String(TagRole), Value: aws.String(role)},
		{Key: aws.String(TagClient), Value: aws.String(p.opt.ClientID)},
		{Key: aws.String(TagDataplane), Value: aws.String(p.opt.DataplaneID)},
		{Key: aws.String("Name"), Value: aws.String(name)},
	}}}
}

func filter(name string, values ...string) types.Filter {
	return types.Filter{Name: aws.String(name), Values: values}
}

// record notes a created resource; when the ledger cannot be written the
// resource is still returned to teardown through the error path's sweep.
func (p *Provider) record(e Entry) error {
	if err := p.ledger.Created(e); err != nil {
		return fmt.Errorf("created %s %s but could not record it: %w", e.Kind, e.ID, err)
	}
	return nil
}

// networkTimeout bounds building the network, which a cancellation does
// not interrupt: a network half-built by a cancelled request would hold
// pieces the ledger never heard of, while a whole one serves the next run.
const networkTimeout = 2 * time.Minute

func (p *Provider) setupRegion(ctx context.Context, r *region) error {
	nctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), networkTimeout)
	defer cancel()
	if err := p.ensureNetwork(nctx, r); err != nil {
		return fmt.Errorf("aws %s: network: %w", r.name, err)
	}
	az, err := r.c.DescribeAvailabilityZones(ctx, &ec2.DescribeAvailabilityZonesInput{
		Filters: []types.Filter{filter("state", "available"), filter("zone-type", "availability-zone")}})
	if err != nil {
		return fmt.Errorf("aws %s: zones: %w", r.name, err)
	}
	for _, z := range az.AvailabilityZones {
		r.zones = append(r.zones, aws.ToString(z.ZoneName))
	}
	slices.Sort(r.zones)
	if len(r.zones) == 0 {
		return fmt.Errorf("aws %s: no available zone", r.name)
	}
	if r.image, err = p.lookupImage(ctx, r); err != nil {
		return fmt.Errorf("aws %s: image: %w", r.name, err)
	}
	if err := p.importKey(ctx, r); err != nil {
		return fmt.Errorf("aws %s: key pair: %w", r.name, err)
	}
	if err := p.createGroup(ctx, r); err != nil {
		return fmt.Errorf("aws %s: security group: %w", r.name, err)
	}
	return nil
}

// ensureNetwork finds the shared skyplane network or creates what is
// missing of it. What it creates is live (torn down on failure) until the
// network is whole, then kept for later dataplanes.
func (p *Provider) ensureNetwork(ctx context.Context, r *region) error {
	var made []Entry
	add := func(e Entry) error { made = append(made, e); return p.record(e) }
	netName := "skyplane-network"

	vpcs, err := r.c.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: []types.Filter{filter("tag:"+TagRole, RoleNetwork)}})
	if err != nil {
		return err
	}
	if ids := vpcIDs(vpcs.Vpcs); len(ids) > 0 {
		r.vpc = ids[0]
	} else {
		out, err := r.c.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String(vpcCIDR), TagSpecifications: p.tags(types.ResourceTypeVpc, RoleNetwork, netName)})
		if err != nil {
			return err
		}
		r.vpc = aws.ToString(out.Vpc.VpcId)
		if err := add(Entry{Kind: KindVPC, Region: r.name, ID: r.vpc}); err != nil {
			return err
		}
	}

	igws, err := r.c.DescribeInternetGateways(ctx, &ec2.DescribeInternetGatewaysInput{Filters: []types.Filter{filter("attachment.vpc-id", r.vpc)}})
	if err != nil {
		return err
	}
	var igw string
	if len(igws.InternetGateways) > 0 {
		igw = aws.ToString(igws.InternetGateways[0].InternetGatewayId)
	} else {
		out, err := r.c.CreateInternetGateway(ctx, &ec2.CreateInternetGatewayInput{TagSpecifications: p.tags(types.ResourceTypeInternetGateway, RoleNetwork, netName)})
		if err != nil {
			return err
		}
		igw = aws.ToString(out.InternetGateway.InternetGatewayId)
		if err := add(Entry{Kind: KindInternetGateway, Region: r.name, ID: igw}); err != nil {
			return err
		}
		if _, err := r.c.AttachInternetGateway(ctx, &ec2.AttachInternetGatewayInput{InternetGatewayId: &igw, VpcId: &r.vpc}); err != nil {
			return err
		}
		if err := add(Entry{Kind: KindIGWAttachment, Region: r.name, ID: igw, Parent: r.vpc}); err != nil {
			return err
		}
	}

	rts, err := r.c.DescribeRouteTables(ctx, &ec2.DescribeRouteTablesInput{Filters: []types.Filter{filter("vpc-id", r.vpc), filter("tag:"+TagRole, RoleNetwork)}})
	if err != nil {
		return err
	}
	hasRoute := false
	if len(rts.RouteTables) > 0 {
		r.rt = aws.ToString(rts.RouteTables[0].RouteTableId)
		for _, rt := range rts.RouteTables[0].Routes {
			hasRoute = hasRoute || aws.ToString(rt.DestinationCidrBlock) == "0.0.0.0/0"
		}
	} else {
		out, err := r.c.CreateRouteTable(ctx, &ec2.CreateRouteTableInput{VpcId: &r.vpc, TagSpecifications: p.tags(types.ResourceTypeRouteTable, RoleNetwork, netName)})
		if err != nil {
			return err
		}
		r.rt = aws.ToString(out.RouteTable.RouteTableId)
		if err := add(Entry{Kind: KindRouteTable, Region: r.name, ID: r.rt}); err != nil {
			return err
		}
	}
	if !hasRoute {
		// The default route lets VMs reach their stores and the client;
		// what may reach the VMs is the security group's business.
		if _, err := r.c.CreateRoute(ctx, &ec2.CreateRouteInput{RouteTableId: &r.rt, DestinationCidrBlock: aws.String("0.0.0.0/0"), GatewayId: &igw}); err != nil {
			return err
		}
		if err := add(Entry{Kind: KindRoute, Region: r.name, ID: "0.0.0.0/0", Parent: r.rt}); err != nil {
			return err
		}
	}
	return p.keep(made)
}

func (p *Provider) keep(es []Entry) error {
	for _, e := range es {
		if err := p.ledger.Keep(e); err != nil {
			return err
		}
	}
	return nil
}

func vpcIDs(vs []types.Vpc) []string {
	var ids []string
	for _, v := range vs {
		ids = append(ids, aws.ToString(v.VpcId))
	}
	slices.Sort(ids)
	return ids
}

// subnet returns the network's subnet in zone, creating it (and its route
// table association) the first time a VM goes there.
func (p *Provider) subnet(ctx context.Context, r *region, zone string) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), networkTimeout)
	defer cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	if id := r.subnets[zone]; id != "" {
		return id, nil
	}
	out, err := r.c.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{Filters: []types.Filter{filter("vpc-id", r.vpc)}})
	if err != nil {
		return "", err
	}
	used := map[string]bool{}
	for _, sn := range out.Subnets {
		if aws.ToString(sn.AvailabilityZone) == zone {
			r.subnets[zone] = aws.ToString(sn.SubnetId)
			return r.subnets[zone], nil
		}
		used[aws.ToString(sn.CidrBlock)] = true
	}
	// The first free /20 of the VPC: zones come and go, so a zone's
	// position does not name its block.
	cidr := ""
	for k := 0; k < 16 && cidr == ""; k++ {
		if c := fmt.Sprintf("10.0.%d.0/20", 16*k); !used[c] {
			cidr = c
		}
	}
	if cidr == "" {
		return "", fmt.Errorf("network %s has no free /20 for a subnet in %s", r.vpc, zone)
	}
	sn, err := r.c.CreateSubnet(ctx, &ec2.CreateSubnetInput{VpcId: &r.vpc, AvailabilityZone: &zone, CidrBlock: &cidr,
		TagSpecifications: p.tags(types.ResourceTypeSubnet, RoleNetwork, "skyplane-network-"+zone)})
	if err != nil {
		return "", err
	}
	id := aws.ToString(sn.Subnet.SubnetId)
	made := []Entry{{Kind: KindSubnet, Region: r.name, ID: id}}
	if err := p.record(made[0]); err != nil {
		return "", err
	}
	as, err := r.c.AssociateRouteTable(ctx, &ec2.AssociateRouteTableInput{RouteTableId: &r.rt, SubnetId: &id})
	if err != nil {
		return "", err
	}
	made = append(made, Entry{Kind: KindRTAssociation, Region: r.name, ID: aws.ToString(as.AssociationId), Parent: id})
	if err := p.record(made[1]); err != nil {
		return "", err
	}
	if err := p.keep(made); err != nil {
		return "", err
	}
	r.subnets[zone] = id
	return id, nil
}

func (p *Provider) lookupImage(ctx context.Context, r *region) (string, error) {
	if p.opt.ImageID != "" {
		return p.opt.ImageID, nil
	}
	out, err := r.c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{canonicalOwner},
		Filters: []types.Filter{filter("name", ubuntuImages), filter("state", "available")}})
	if err != nil {
		return "", err
	}
	var best types.Image
	for _, im := range out.Images {
		if aws.ToString(im.CreationDate) > aws.ToString(best.CreationDate) {
			best = im
		}
	}
	if best.ImageId == nil {
		return "", fmt.Errorf("no image named %s from owner %s (set the AMI explicitly)", ubuntuImages, canonicalOwner)
	}
	return aws.ToString(best.ImageId), nil
}
