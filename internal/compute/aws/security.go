package aws

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	gossh "golang.org/x/crypto/ssh"
)

// keyPair is an ed25519 key: the dataplane's login key, or a VM's host key
// (generated here and handed to cloud-init, so the client pins it instead
// of trusting the first key a new VM shows).
type keyPair struct {
	priv       ed25519.PrivateKey
	privPEM    []byte
	authorized string // "ssh-ed25519 AAAA..."
}

func newKeyPair() (*keyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	sp, err := gossh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	blk, err := gossh.MarshalPrivateKey(priv, "skyplane")
	if err != nil {
		return nil, err
	}
	return &keyPair{priv: priv, privPEM: pem.EncodeToMemory(blk), authorized: strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sp)))}, nil
}

// loginKey generates the dataplane's SSH key once; its private half is
// written 0600 beside the ledger for the SSH deployer.
func (p *Provider) loginKey() (*keyPair, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	path := p.keyPath()
	if p.key != nil {
		return p.key, path, nil
	}
	k, err := newKeyPair()
	if err != nil {
		return nil, "", err
	}
	if err := os.WriteFile(path, k.privPEM, 0o600); err != nil {
		return nil, "", fmt.Errorf("ssh key: %w", err)
	}
	p.key = k
	return k, path, nil
}

func (p *Provider) keyPath() string { return keyFile(p.ledger.Path()) }

// keyFile is where a dataplane's private key lives: beside its ledger.
func keyFile(ledger string) string { return strings.TrimSuffix(ledger, ".ledger") + ".ed25519" }

func (p *Provider) importKey(ctx context.Context, r *region) error {
	k, _, err := p.loginKey()
	if err != nil {
		return err
	}
	name := p.name("")
	if _, err := r.c.ImportKeyPair(ctx, &ec2.ImportKeyPairInput{KeyName: &name, PublicKeyMaterial: []byte(k.authorized),
		TagSpecifications: p.tags(types.ResourceTypeKeyPair, RoleGateway, name)}); err != nil {
		return err
	}
	return p.record(Entry{Kind: KindKeyPair, Region: r.name, ID: name})
}

// ingress is the only way rules are added: it refuses any source wider
// than one address, so no port is ever open to the world.
func ingress(ctx context.Context, c *ec2.Client, group string, perms []types.IpPermission) error {
	for _, pm := range perms {
		for _, ir := range pm.IpRanges {
			if err := checkSource(aws.ToString(ir.CidrIp)); err != nil {
				return err
			}
		}
	}
	_, err := c.AuthorizeSecurityGroupIngress(ctx, &ec2.AuthorizeSecurityGroupIngressInput{GroupId: &group, IpPermissions: perms})
	return err
}

func checkSource(cidr string) error {
	pf, err := netip.ParsePrefix(cidr)
	if err != nil || !pf.IsSingleIP() {
		return fmt.Errorf("refusing firewall source %q: only single addresses are admitted", cidr)
	}
	return nil
}

func hostPrefix(a netip.Addr) string { return netip.PrefixFrom(a, a.BitLen()).String() }

func sourceRange(a netip.Addr, desc string) types.IpPermission {
	return types.IpPermission{IpRanges: []types.IpRange{{CidrIp: aws.String(hostPrefix(a)), Description: &desc}}}
}

// createGroup makes the dataplane's security group: SSH from the client,
// data ports from the group itself (gateways of this region by private
// address); peers of other regions are admitted by admitPeers.
func (p *Provider) createGroup(ctx context.Context, r *region) error {
	name := p.name("")
	out, err := r.c.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{GroupName: &name, VpcId: &r.vpc,
		Description:       aws.String("skyplane gateways of dataplane " + p.opt.DataplaneID),
		TagSpecifications: p.tags(types.ResourceTypeSecurityGroup, RoleGateway, name)})
	if err != nil {
		return err
	}
	r.sg = aws.ToString(out.GroupId)
	if err := p.record(Entry{Kind: KindSecurityGroup, Region: r.name, ID: r.sg}); err != nil {
		return err
	}
	ssh := sourceRange(p.opt.ClientAddr, "skyplane client")
	ssh.IpProtocol, ssh.FromPort, ssh.ToPort = aws.String("tcp"), aws.Int32(22), aws.Int32(22)
	data := types.IpPermission{IpProtocol: aws.String("tcp"), FromPort: aws.Int32(p.opt.DataPorts[0]), ToPort: aws.Int32(p.opt.DataPorts[1]),
		UserIdGroupPairs: []types.UserIdGroupPair{{GroupId: &r.sg, Description: aws.String("skyplane gateways of this dataplane")}}}
	return ingress(ctx, r.c, r.sg, []types.IpPermission{ssh, data})
}

// admitPeers opens each region's data ports to the public addresses of the
// dataplane's gateways in the other regions (a group reference only covers
// private addresses in the same VPC).
func (p *Provider) admitPeers(ctx context.Context, vms []*vm) error {
	byRegion := map[string][]netip.Addr{}
	var regions []string
	for _, v := range vms {
		if _, ok := byRegion[v.region.name]; !ok {
			regions = append(regions, v.region.name)
		}
		byRegion[v.region.name] = append(byRegion[v.region.name], v.public)
	}
	slices.Sort(regions)
	var errs []error
	for _, rn := range regions {
		var perms []types.IpPermission
		for _, other := range regions {
			if other == rn {
				continue
			}
			for _, a := range byRegion[other] {
				pm := sourceRange(a, "skyplane gateway in "+other)
				pm.IpProtocol, pm.FromPort, pm.ToPort = aws.String("tcp"), aws.Int32(p.opt.DataPorts[0]), aws.Int32(p.opt.DataPorts[1])
				perms = append(perms, pm)
			}
		}
		if len(perms) == 0 {
			continue
		}
		p.mu.Lock()
		r := p.regions[rn]
		p.mu.Unlock()
		if err := ingress(ctx, r.c, r.sg, perms); err != nil {
			errs = append(errs, fmt.Errorf("aws %s: admit peers: %w", rn, err))
		}
	}
	return errors.Join(errs...)
}
