package skyplane

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/compute/ssh"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/hosts"
	"github.com/skyplane-project/skyplane-go/internal/planner"
	"github.com/skyplane-project/skyplane-go/internal/usage"
)

// hostOptions are how the client reaches the hosts of Config.HostsFile.
type hostOptions struct {
	agent    string
	idle     time.Duration
	progress func(host, step string)
}

// WithSSHAgent authenticates to inventory hosts marked agent: true through
// the ssh-agent listening on socket (the CLI passes $SSH_AUTH_SOCK).
func WithSSHAgent(socket string) Option { return func(c *Client) { c.hosts.agent = socket } }

// WithIdleShutdown ends a gateway on an inventory host once its client has
// been silent for d, in place of Config.AutoshutdownMinutes (finer than a
// minute; 0 keeps the config's).
func WithIdleShutdown(d time.Duration) Option { return func(c *Client) { c.hosts.idle = d } }

// WithProvisionProgress calls fn for each provisioning step on each
// inventory host (connected, binary uploaded, gateway running), from
// several goroutines at once.
func WithProvisionProgress(fn func(host, step string)) Option {
	return func(c *Client) { c.hosts.progress = fn }
}

// inventory loads Config.HostsFile (nil when unset).
func (c *Client) inventory() (*hosts.Inventory, error) {
	if c.cfg.HostsFile == "" {
		return nil, nil
	}
	home, _ := os.UserHomeDir()
	inv, err := hosts.Load(c.cfg.HostsFile, home)
	if err != nil {
		return nil, fmt.Errorf("%w: hosts_file: %w", ErrInvalidInput, err)
	}
	return inv, nil
}

// sshOptions are the SSH provider's options for this client (Binary empty
// when none is found: checkHosts reports it before a provision needs it).
func (c *Client) sshOptions(stateDir string) ssh.Options {
	bin, _ := local.ResolveBinary(c.cfg.GatewayBinary)
	idle := c.hosts.idle
	if idle == 0 {
		idle = time.Duration(c.cfg.AutoshutdownMinutes) * time.Minute
	}
	return ssh.Options{
		Binary: bin, BinaryFor: newCrossBuilder(bin, stateDir).binaryFor,
		ClientID: usage.ClientID(stateDir), AgentSocket: c.hosts.agent,
		PerHost: c.cfg.GatewaysPerHost, IdleShutdown: idle,
		Stores: control.CredentialsOf(c.stores), Progress: c.hosts.progress, Log: c.log,
	}
}

// gatewayProvider runs the gateways of regions the inventory lists on its
// hosts over SSH, and every other region's locally. checkHosts has already
// reported a broken inventory or binary to the caller.
func (c *Client) gatewayProvider() compute.Provider {
	loc := local.New(c.cfg.GatewayBinary)
	inv, err := c.inventory()
	if err != nil || inv == nil {
		return loc
	}
	sp := ssh.New(inv, c.sshOptions(c.stateDir))
	by := map[string]compute.Provider{}
	for _, tag := range inv.RegionTags() {
		by[tag] = sp
	}
	return &compute.Routed{ByRegion: by, Fallback: loc}
}

// checkHosts fails a plan the inventory cannot hold before anything
// starts: an unreadable inventory, no binary to deploy, or a region asked
// for more gateways than its hosts × gateways_per_host.
func (c *Client) checkHosts(plan *planner.Plan) error {
	inv, err := c.inventory()
	if err != nil || inv == nil {
		return err
	}
	var specs []compute.Spec
	for _, g := range plan.Groups {
		if len(inv.Hosts(g.Region)) == 0 {
			continue
		}
		for i := range g.Gateways {
			specs = append(specs, compute.Spec{ID: fmt.Sprintf("%s-%d", g.Key, i), Region: g.Region})
		}
	}
	if len(specs) == 0 {
		return nil
	}
	if _, err := local.ResolveBinary(c.cfg.GatewayBinary); err != nil {
		return fmt.Errorf("gateways on inventory hosts: %w", err)
	}
	if err := ssh.New(inv, c.sshOptions(c.stateDir)).Fits(specs); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	return nil
}

// HostGateway is a gateway found on an inventory host.
type HostGateway struct {
	Region, Host, Gateway, Dataplane string
	Started                          time.Time
}

// sweepHosts stops and removes every gateway this client's id left on the
// inventory's hosts (a client killed before its teardown).
func (c *Client) sweepHosts(ctx context.Context, stateDir string) ([]HostGateway, error) {
	inv, err := c.inventory()
	if err != nil || inv == nil {
		return nil, err
	}
	opt := c.sshOptions(stateDir)
	ms, err := ssh.Sweep(ctx, inv, opt, "", func(m ssh.Marker) bool { return m.ClientID == opt.ClientID })
	return hostGateways(ms), err
}

func hostGateways(ms []ssh.Marker) []HostGateway {
	var out []HostGateway
	for _, m := range ms {
		out = append(out, HostGateway{Region: m.Region, Host: m.Host, Gateway: m.GatewayID, Dataplane: m.DataplaneID, Started: m.Started})
	}
	return out
}

// hostNames are the hosts n gateways of region run on (round-robin in
// inventory order, as the SSH provider places them), each named once.
func hostNames(inv *hosts.Inventory, region string, n int) []string {
	if inv == nil {
		return nil
	}
	hs := inv.Hosts(region)
	var out []string
	for i := 0; i < n && i < len(hs); i++ {
		out = append(out, hs[i].Name)
	}
	return out
}
