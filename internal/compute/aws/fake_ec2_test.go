package aws

import (
	"fmt"
	"net/url"
	"strings"
)

// ec2Action serves one EC2 request under f.mu.
func (f *fakeCloud) ec2Action(c call) (string, *fault) {
	fm := c.Form
	switch c.Action {
	case "DescribeAvailabilityZones":
		var b strings.Builder
		for _, z := range f.zones {
			fmt.Fprintf(&b, "<item><zoneName>%s%s</zoneName><zoneState>available</zoneState><regionName>%s</regionName><zoneType>availability-zone</zoneType></item>", c.Region, z, c.Region)
		}
		return "<availabilityZoneInfo>" + b.String() + "</availabilityZoneInfo>", nil
	case "DescribeRegions":
		fl := items(fm, "Filter")
		if len(fl) != 1 || fl[0].Get("Name") != "opt-in-status" {
			return "", errf(400, "InvalidParameterValue", "filters %v", fl)
		}
		var b strings.Builder
		for _, r := range []string{"us-east-1", "eu-west-1", "ap-south-1"} {
			fmt.Fprintf(&b, "<item><regionName>%s</regionName><optInStatus>opt-in-not-required</optInStatus></item>", r)
		}
		return "<regionInfo>" + b.String() + "</regionInfo>", nil
	case "DescribeImages":
		if got := values(fm, "Owner"); len(got) != 1 || got[0] != canonicalOwner {
			return "", errf(400, "InvalidParameterValue", "owners %v", got)
		}
		return `<imagesSet><item><imageId>ami-old</imageId><name>ubuntu-old</name><creationDate>2025-01-01T00:00:00.000Z</creationDate></item>` +
			`<item><imageId>ami-noble</imageId><name>ubuntu-noble</name><creationDate>2026-10-01T00:00:00.000Z</creationDate></item></imagesSet>`, nil

	case "CreateVpc":
		r := &fres{Kind: "vpc", ID: f.newID("vpc"), Region: c.Region, CIDR: fm.Get("CidrBlock"), Tags: specTags(fm, "vpc")}
		f.res[r.ID] = r
		return fmt.Sprintf("<vpc><vpcId>%s</vpcId><cidrBlock>%s</cidrBlock><state>available</state>%s</vpc>", r.ID, r.CIDR, tagSet(r.Tags)), nil
	case "DescribeVpcs":
		rs, err := f.list(c, "vpc")
		return wrapItems("vpcSet", rs, func(r *fres) string {
			return fmt.Sprintf("<vpcId>%s</vpcId><cidrBlock>%s</cidrBlock>%s", r.ID, r.CIDR, tagSet(r.Tags))
		}), err
	case "DeleteVpc":
		r, err := f.get(c, "vpc", fm.Get("VpcId"), "InvalidVpcID.NotFound")
		if err != nil {
			return "", err
		}
		for _, o := range f.res {
			if (o.VPC == r.ID && o.State != "terminated") || o.Attached == r.ID {
				return "", errf(400, "DependencyViolation", "The vpc '%s' has dependencies (%s %s) and cannot be deleted.", r.ID, o.Kind, o.ID)
			}
		}
		delete(f.res, r.ID)
		return "<return>true</return>", nil

	case "CreateInternetGateway":
		r := &fres{Kind: "igw", ID: f.newID("igw"), Region: c.Region, Tags: specTags(fm, "internet-gateway")}
		f.res[r.ID] = r
		return fmt.Sprintf("<internetGateway><internetGatewayId>%s</internetGatewayId>%s</internetGateway>", r.ID, tagSet(r.Tags)), nil
	case "DescribeInternetGateways":
		rs, err := f.list(c, "igw")
		return wrapItems("internetGatewaySet", rs, func(r *fres) string {
			att := ""
			if r.Attached != "" {
				att = fmt.Sprintf("<item><vpcId>%s</vpcId><state>available</state></item>", r.Attached)
			}
			return fmt.Sprintf("<internetGatewayId>%s</internetGatewayId><attachmentSet>%s</attachmentSet>%s", r.ID, att, tagSet(r.Tags))
		}), err
	case "AttachInternetGateway":
		r, err := f.get(c, "igw", fm.Get("InternetGatewayId"), "InvalidInternetGatewayID.NotFound")
		if err != nil {
			return "", err
		}
		if _, err := f.get(c, "vpc", fm.Get("VpcId"), "InvalidVpcID.NotFound"); err != nil {
			return "", err
		}
		r.Attached = fm.Get("VpcId")
		return "<return>true</return>", nil
	case "DetachInternetGateway":
		r, err := f.get(c, "igw", fm.Get("InternetGatewayId"), "InvalidInternetGatewayID.NotFound")
		if err != nil {
			return "", err
		}
		if r.Attached != fm.Get("VpcId") {
			return "", errf(400, "Gateway.NotAttached", "not attached")
		}
		r.Attached = ""
		return "<return>true</return>", nil
	case "DeleteInternetGateway":
		r, err := f.get(c, "igw", fm.Get("InternetGatewayId"), "InvalidInternetGatewayID.NotFound")
		if err != nil {
			return "", err
		}
		if r.Attached != "" {
			return "", errf(400, "DependencyViolation", "The internetGateway '%s' has dependencies and cannot be deleted.", r.ID)
		}
		delete(f.res, r.ID)
		return "<return>true</return>", nil

	case "CreateRouteTable":
		if _, err := f.get(c, "vpc", fm.Get("VpcId"), "InvalidVpcID.NotFound"); err != nil {
			return "", err
		}
		r := &fres{Kind: "rtb", ID: f.newID("rtb"), Region: c.Region, VPC: fm.Get("VpcId"), Tags: specTags(fm, "route-table"),
			Routes: map[string]string{}, Assoc: map[string]string{}}
		f.res[r.ID] = r
		return fmt.Sprintf("<routeTable><routeTableId>%s</routeTableId><vpcId>%s</vpcId>%s</routeTable>", r.ID, r.VPC, tagSet(r.Tags)), nil
	case "DescribeRouteTables":
		rs, err := f.list(c, "rtb")
		return wrapItems("routeTableSet", rs, func(r *fres) string {
			var b strings.Builder
			for d, g := range r.Routes {
				fmt.Fprintf(&b, "<item><destinationCidrBlock>%s</destinationCidrBlock><gatewayId>%s</gatewayId></item>", d, g)
			}
			return fmt.Sprintf("<routeTableId>%s</routeTableId><vpcId>%s</vpcId><routeSet>%s</routeSet>%s", r.ID, r.VPC, b.String(), tagSet(r.Tags))
		}), err
	case "CreateRoute":
		r, err := f.get(c, "rtb", fm.Get("RouteTableId"), "InvalidRouteTableID.NotFound")
		if err != nil {
			return "", err
		}
		if _, err := f.get(c, "igw", fm.Get("GatewayId"), "InvalidInternetGatewayID.NotFound"); err != nil {
			return "", err
		}
		r.Routes[fm.Get("DestinationCidrBlock")] = fm.Get("GatewayId")
		return "<return>true</return>", nil
	case "DeleteRoute":
		r, err := f.get(c, "rtb", fm.Get("RouteTableId"), "InvalidRouteTableID.NotFound")
		if err != nil {
			return "", err
		}
		if _, ok := r.Routes[fm.Get("DestinationCidrBlock")]; !ok {
			return "", errf(400, "InvalidRoute.NotFound", "no route")
		}
		delete(r.Routes, fm.Get("DestinationCidrBlock"))
		return "<return>true</return>", nil
	case "AssociateRouteTable":
		r, err := f.get(c, "rtb", fm.Get("RouteTableId"), "InvalidRouteTableID.NotFound")
		if err != nil {
			return "", err
		}
		if _, err := f.get(c, "subnet", fm.Get("SubnetId"), "InvalidSubnetID.NotFound"); err != nil {
			return "", err
		}
		id := f.newID("rtbassoc")
		r.Assoc[id] = fm.Get("SubnetId")
		return fmt.Sprintf("<associationId>%s</associationId>", id), nil
	case "DisassociateRouteTable":
		for _, r := range f.res {
			if _, ok := r.Assoc[fm.Get("AssociationId")]; ok {
				delete(r.Assoc, fm.Get("AssociationId"))
				return "<return>true</return>", nil
			}
		}
		return "", errf(400, "InvalidAssociationID.NotFound", "no association")
	case "DeleteRouteTable":
		r, err := f.get(c, "rtb", fm.Get("RouteTableId"), "InvalidRouteTableID.NotFound")
		if err != nil {
			return "", err
		}
		if len(r.Assoc) > 0 {
			return "", errf(400, "DependencyViolation", "The routeTable '%s' has dependencies and cannot be deleted.", r.ID)
		}
		delete(f.res, r.ID)
		return "<return>true</return>", nil

	case "CreateSubnet":
		if _, err := f.get(c, "vpc", fm.Get("VpcId"), "InvalidVpcID.NotFound"); err != nil {
			return "", err
		}
		for _, o := range f.res {
			if o.Kind == "subnet" && o.VPC == fm.Get("VpcId") && o.CIDR == fm.Get("CidrBlock") {
				return "", errf(400, "InvalidSubnet.Conflict", "The CIDR '%s' conflicts with another subnet", o.CIDR)
			}
		}
		r := &fres{Kind: "subnet", ID: f.newID("subnet"), Region: c.Region, VPC: fm.Get("VpcId"), Zone: fm.Get("AvailabilityZone"),
			CIDR: fm.Get("CidrBlock"), Tags: specTags(fm, "subnet")}
		f.res[r.ID] = r
		return fmt.Sprintf("<subnet><subnetId>%s</subnetId><vpcId>%s</vpcId><availabilityZone>%s</availabilityZone>%s</subnet>", r.ID, r.VPC, r.Zone, tagSet(r.Tags)), nil
	case "DescribeSubnets":
		rs, err := f.list(c, "subnet")
		return wrapItems("subnetSet", rs, func(r *fres) string {
			return fmt.Sprintf("<subnetId>%s</subnetId><vpcId>%s</vpcId><availabilityZone>%s</availabilityZone><cidrBlock>%s</cidrBlock>%s", r.ID, r.VPC, r.Zone, r.CIDR, tagSet(r.Tags))
		}), err
	case "DeleteSubnet":
		r, err := f.get(c, "subnet", fm.Get("SubnetId"), "InvalidSubnetID.NotFound")
		if err != nil {
			return "", err
		}
		for _, o := range f.res {
			if o.Kind == "instance" && o.Subnet == r.ID && o.State != "terminated" {
				return "", errf(400, "DependencyViolation", "The subnet '%s' has dependencies and cannot be deleted.", r.ID)
			}
		}
		for _, o := range f.res { // as in EC2, the subnet's association goes with it
			for a, s := range o.Assoc {
				if s == r.ID {
					delete(o.Assoc, a)
				}
			}
		}
		delete(f.res, r.ID)
		return "<return>true</return>", nil

	case "ImportKeyPair":
		name := fm.Get("KeyName")
		for _, o := range f.res {
			if o.Kind == "key" && o.Region == c.Region && o.ID == name {
				return "", errf(400, "InvalidKeyPair.Duplicate", "The keypair already exists")
			}
		}
		if !strings.HasPrefix(fm.Get("PublicKeyMaterial"), "c3NoLWVkMjU1MTkg") { // base64 of "ssh-ed25519 "
			return "", errf(400, "InvalidKey.Format", "want an ed25519 key, got %.20q", fm.Get("PublicKeyMaterial"))
		}
		r := &fres{Kind: "key", ID: name, Region: c.Region, Tags: specTags(fm, "key-pair")}
		f.res[c.Region+"/key/"+name] = r
		return fmt.Sprintf("<keyName>%s</keyName><keyPairId>%s</keyPairId>%s", name, f.newID("key"), tagSet(r.Tags)), nil
	case "DescribeKeyPairs":
		rs, err := f.list(c, "key")
		return wrapItems("keySet", rs, func(r *fres) string {
			return fmt.Sprintf("<keyName>%s</keyName>%s", r.ID, tagSet(r.Tags))
		}), err
	case "DeleteKeyPair":
		delete(f.res, c.Region+"/key/"+fm.Get("KeyName")) // EC2 answers true for a missing key too
		return "<return>true</return>", nil

	case "CreateSecurityGroup":
		if _, err := f.get(c, "vpc", fm.Get("VpcId"), "InvalidVpcID.NotFound"); err != nil {
			return "", err
		}
		r := &fres{Kind: "sg", ID: f.newID("sg"), Region: c.Region, VPC: fm.Get("VpcId"), Tags: specTags(fm, "security-group"), Class: fm.Get("GroupName")}
		f.res[r.ID] = r
		return fmt.Sprintf("<groupId>%s</groupId>%s", r.ID, tagSet(r.Tags)), nil
	case "AuthorizeSecurityGroupIngress":
		r, err := f.get(c, "sg", fm.Get("GroupId"), "InvalidGroup.NotFound")
		if err != nil {
			return "", err
		}
		r.Perms = append(r.Perms, items(fm, "IpPermissions")...)
		return "<return>true</return>", nil
	case "DescribeSecurityGroups":
		rs, err := f.list(c, "sg")
		return wrapItems("securityGroupInfo", rs, func(r *fres) string {
			return fmt.Sprintf("<groupId>%s</groupId><groupName>%s</groupName><vpcId>%s</vpcId>%s", r.ID, r.Class, r.VPC, tagSet(r.Tags))
		}), err
	case "DeleteSecurityGroup":
		r, err := f.get(c, "sg", fm.Get("GroupId"), "InvalidGroup.NotFound")
		if err != nil {
			return "", err
		}
		for _, o := range f.res {
			if o.Kind == "instance" && o.State != "terminated" && contains(o.Groups, r.ID) {
				return "", errf(400, "DependencyViolation", "resource %s has a dependent object", r.ID)
			}
		}
		if f.lingerENI > 0 {
			f.lingerENI--
			return "", errf(400, "DependencyViolation", "resource %s has a dependent object (a network interface)", r.ID)
		}
		delete(f.res, r.ID)
		return "<return>true</return>", nil

	case "RunInstances":
		return f.runInstances(c)
	case "DescribeInstances":
		ids := values(fm, "InstanceId")
		for _, id := range ids {
			if r := f.res[id]; r == nil || r.Kind != "instance" {
				return "", errf(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
			}
		}
		rs, err := f.list(c, "instance")
		if err != nil {
			return "", err
		}
		var b strings.Builder
		b.WriteString("<reservationSet>")
		for _, r := range rs {
			if len(ids) > 0 && !contains(ids, r.ID) {
				continue
			}
			r.describes++
			switch {
			case r.State == "pending" && r.describes > f.bootPolls:
				r.State = "running"
			case r.State == "shutting-down":
				r.State = "terminated"
			}
			fmt.Fprintf(&b, "<item><reservationId>r-%s</reservationId><instancesSet><item>%s</item></instancesSet></item>", r.ID, instanceXML(r))
		}
		b.WriteString("</reservationSet>")
		return b.String(), nil
	case "TerminateInstances":
		var b strings.Builder
		for _, id := range values(fm, "InstanceId") {
			r, err := f.get(c, "instance", id, "InvalidInstanceID.NotFound")
			if err != nil {
				return "", err
			}
			if r.State != "terminated" {
				r.State = "shutting-down"
			}
			fmt.Fprintf(&b, "<item><instanceId>%s</instanceId><currentState><name>%s</name></currentState></item>", id, r.State)
		}
		return "<instancesSet>" + b.String() + "</instancesSet>", nil
	}
	return "", errf(400, "InvalidAction", "the fake does not serve %s", c.Action)
}

func (f *fakeCloud) runInstances(c call) (string, *fault) {
	fm := c.Form
	if tok := fm.Get("ClientToken"); tok != "" {
		for _, o := range f.res {
			if o.Kind == "instance" && o.Token == tok {
				return fmt.Sprintf("<reservationId>r-%s</reservationId><instancesSet><item>%s</item></instancesSet>", o.ID, instanceXML(o)), nil
			}
		}
	}
	nics := items(fm, "NetworkInterface")
	if len(nics) != 1 {
		return "", errf(400, "InvalidParameterCombination", "want one network interface")
	}
	sn, err := f.get(c, "subnet", nics[0].Get("SubnetId"), "InvalidSubnetID.NotFound")
	if err != nil {
		return "", err
	}
	groups := values(nics[0], "SecurityGroupId")
	for _, g := range groups {
		if _, err := f.get(c, "sg", g, "InvalidGroup.NotFound"); err != nil {
			return "", err
		}
	}
	if f.res[c.Region+"/key/"+fm.Get("KeyName")] == nil {
		return "", errf(400, "InvalidKeyPair.NotFound", "The key pair '%s' does not exist", fm.Get("KeyName"))
	}
	if f.res["profile/"+fm.Get("IamInstanceProfile.Name")] == nil || f.iamLag > 0 {
		if f.iamLag > 0 {
			f.iamLag--
		}
		return "", errf(400, "InvalidParameterValue", "Value (%s) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name", fm.Get("IamInstanceProfile.Name"))
	}
	class := fm.Get("InstanceType")
	if f.noCapacity[sn.Zone+"/"+class] {
		return "", errf(500, "InsufficientInstanceCapacity", "We currently do not have sufficient %s capacity in the Availability Zone you requested (%s).", class, sn.Zone)
	}
	spot := fm.Get("InstanceMarketOptions.MarketType") == "spot"
	limits, code := f.quota, "VcpuLimitExceeded"
	if spot {
		limits, code = f.spotQuota, "MaxSpotInstanceCountExceeded"
	}
	if limit, ok := limits[c.Region]; ok {
		used := classCPUs[class]
		for _, o := range f.res {
			if o.Kind == "instance" && o.Region == c.Region && o.Spot == spot && o.State != "terminated" {
				used += classCPUs[o.Class]
			}
		}
		if used > limit {
			return "", errf(400, code, "You have requested more vCPU capacity than your current vCPU limit of %d allows for the instance bucket that the specified instance type belongs to.", limit)
		}
	}
	f.ids++
	r := &fres{Kind: "instance", ID: fmt.Sprintf("i-%017x", f.ids), Region: c.Region, State: "pending", Class: class, Spot: spot,
		Token: fm.Get("ClientToken"), Groups: groups, Subnet: sn.ID, Zone: sn.Zone, VPC: sn.VPC, Tags: specTags(fm, "instance"),
		Public: fmt.Sprintf("198.51.100.%d", f.ids%250+1), Private: fmt.Sprintf("10.0.0.%d", f.ids%250+1)}
	r.Tags = specTags(fm, "instance")
	f.res[r.ID] = r
	return fmt.Sprintf("<reservationId>r-%s</reservationId><instancesSet><item>%s</item></instancesSet>", r.ID, instanceXML(r)), nil
}

func instanceXML(r *fres) string {
	ips := fmt.Sprintf("<privateIpAddress>%s</privateIpAddress>", r.Private)
	if r.State == "running" {
		ips += fmt.Sprintf("<ipAddress>%s</ipAddress>", r.Public)
	}
	return fmt.Sprintf("<instanceId>%s</instanceId><instanceType>%s</instanceType><instanceState><name>%s</name></instanceState>"+
		"<placement><availabilityZone>%s</availabilityZone></placement><subnetId>%s</subnetId>%s%s",
		r.ID, r.Class, r.State, r.Zone, r.Subnet, ips, tagSet(r.Tags))
}

func wrapItems(set string, rs []*fres, item func(*fres) string) string {
	var b strings.Builder
	b.WriteString("<" + set + ">")
	for _, r := range rs {
		b.WriteString("<item>" + item(r) + "</item>")
	}
	b.WriteString("</" + set + ">")
	return b.String()
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// permSources lists every source an ingress rule names: CIDRs and groups.
func permSources(p url.Values) []string {
	var out []string
	for _, r := range items(p, "IpRanges") {
		out = append(out, r.Get("CidrIp"))
	}
	for _, r := range items(p, "Ipv6Ranges") {
		out = append(out, r.Get("CidrIpv6"))
	}
	for _, g := range items(p, "Groups") {
		out = append(out, g.Get("GroupId"))
	}
	return out
}
