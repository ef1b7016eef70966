package aws

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/compute/ssh"
	"github.com/skyplane-project/skyplane-go/internal/hosts"
)

// VM is a running VM as a deployer sees it.
type VM struct {
	Spec            compute.Spec
	Instance        string
	Public, Private netip.Addr
	User            string // the image's login user
	IdentityFile    string // the dataplane's private key (0600)
	HostKey         string // the host key the VM was given, authorized_keys format
	SSHPort         int    // 0: 22
	DataPorts       [2]int32
}

func (v VM) port() int {
	if v.SSHPort == 0 {
		return 22
	}
	return v.SSHPort
}

// Deployer runs gateways on running VMs: over SSH in production
// (SSHDeployer); tests without hosts stop at "running" with their own.
type Deployer interface {
	// Deploy starts one gateway per VM and reports each VM's ssh up and
	// ready stages through status.
	Deploy(ctx context.Context, vms []VM, shared compute.Shared, status func(gateway string, st Stage)) ([]compute.Instance, error)
	// Teardown stops what Deploy started; safe after a failed Deploy and
	// more than once.
	Teardown(ctx context.Context) error
}

// loginUser is the Ubuntu images' default user.
const loginUser = "ubuntu"

func (p *Provider) deploy(ctx context.Context, vms []*vm, shared compute.Shared) ([]compute.Instance, error) {
	_, keyPath, err := p.loginKey()
	if err != nil {
		return nil, err
	}
	in := make([]VM, len(vms))
	byGW := map[string]*vm{}
	for i, v := range vms {
		in[i] = VM{Spec: v.spec, Instance: v.id, Public: v.public, Private: v.private, User: loginUser,
			IdentityFile: keyPath, HostKey: v.hostKey.authorized, DataPorts: p.opt.DataPorts}
		byGW[v.spec.ID] = v
	}
	return p.opt.Deployer.Deploy(ctx, in, shared, func(gw string, st Stage) {
		if v := byGW[gw]; v != nil {
			p.status(v, st, nil)
		}
	})
}

// SSHDeployer deploys with the SSH provider: each VM becomes an inventory
// host whose host key is pinned to the one cloud-init installed.
type SSHDeployer struct {
	Options ssh.Options   // Binary, ClientID, DataplaneID, keep-alive…
	SSHWait time.Duration // how long a new VM may take to answer SSH (default 5 min)

	mu sync.Mutex
	p  *ssh.Provider
}

func (d *SSHDeployer) Deploy(ctx context.Context, vms []VM, shared compute.Shared, status func(string, Stage)) ([]compute.Instance, error) {
	inv := &hosts.Inventory{Path: "(aws vms)", Regions: map[string][]hosts.Host{}}
	specs := make([]compute.Spec, len(vms))
	errs := make([]error, len(vms))
	var wg sync.WaitGroup
	for i, v := range vms {
		specs[i] = v.Spec
		inv.Regions[v.Spec.Region] = append(inv.Regions[v.Spec.Region], hosts.Host{
			Name: v.Spec.ID, Region: v.Spec.Region, Address: v.Public.String(), Port: v.port(), User: v.User,
			IdentityFile: v.IdentityFile, HostKey: v.HostKey, DataAddress: v.Private.String(),
			DataPorts: hosts.PortRange{Lo: int(v.DataPorts[0]), Hi: int(v.DataPorts[1])},
		})
		wg.Go(func() {
			if errs[i] = d.waitSSH(ctx, v); errs[i] == nil {
				status(v.Spec.ID, StageSSH)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	p := ssh.New(inv, d.Options)
	d.mu.Lock()
	d.p = p
	d.mu.Unlock()
	out, err := p.Provision(ctx, specs, shared)
	if err != nil {
		return nil, err
	}
	for _, s := range specs {
		status(s.ID, StageReady)
	}
	return out, nil
}

func (d *SSHDeployer) Teardown(ctx context.Context) error {
	d.mu.Lock()
	p := d.p
	d.p = nil
	d.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Deprovision(ctx)
}

// waitSSH waits until the VM's sshd sends its banner: the VM is up and
// cloud-init has installed the host key the deployer will pin.
func (d *SSHDeployer) waitSSH(ctx context.Context, v VM) error {
	wait := d.SSHWait
	if wait <= 0 {
		wait = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	addr := net.JoinHostPort(v.Public.String(), strconv.Itoa(v.port()))
	var last error
	for {
		last = banner(ctx, addr)
		if last == nil {
			return nil
		}
		if err := sleep(ctx, 2*time.Second); err != nil {
			return fmt.Errorf("gateway %s: %s did not answer SSH within %s: %w", v.Spec.ID, addr, wait, last)
		}
	}
}

func banner(ctx context.Context, addr string) error {
	var dl net.Dialer
	c, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "SSH-") {
		return fmt.Errorf("%s answered %q, not an SSH banner", addr, strings.TrimSpace(line))
	}
	return nil
}
