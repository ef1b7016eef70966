package skyplane

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/skyplane-project/skyplane-go/internal/compute/ssh"
	"github.com/skyplane-project/skyplane-go/internal/hosts"
)

// ErrNoHostsFile: a hosts command ran without Config.HostsFile.
var ErrNoHostsFile = errors.New("no hosts inventory: set hosts_file (skyplane config set hosts_file PATH) or SKYPLANE_HOSTS_FILE")

// HostCheck is what CheckHosts found on one inventory host.
type HostCheck struct {
	Host, Region, Addr string
	// Platform is the host's os/arch (linux/amd64); Supported says this
	// client's gateway binary runs there.
	Platform  string
	Supported bool
	// FreeBytes is the free space of the SSH user's home directory.
	FreeBytes int64
	// Err is why the host could not be checked (unreachable, host key).
	Err error
}

func (c *Client) requireInventory() (*hosts.Inventory, error) {
	inv, err := c.inventory()
	if err == nil && inv == nil {
		err = ErrNoHostsFile
	}
	return inv, err
}

// CheckHosts connects to every host of Config.HostsFile (host keys
// verified) and reports each one's platform and free disk.
func (c *Client) CheckHosts(ctx context.Context) ([]HostCheck, error) {
	inv, err := c.requireInventory()
	if err != nil {
		return nil, err
	}
	var out []HostCheck
	for _, r := range ssh.Check(ctx, inv, c.sshOptions(c.stateDir)) {
		out = append(out, HostCheck{Host: r.Host, Region: r.Region, Addr: r.Addr, Platform: r.Platform,
			Supported: r.Supported, FreeBytes: r.FreeBytes, Err: r.Err})
	}
	return out, nil
}

// RunningGateway is a gateway found on an inventory host by the marker its
// deploy left, whoever started it.
type RunningGateway struct {
	HostGateway
	PID   int
	Alive bool // its process still runs (false: left behind, for deprovision)
}

// HostGateways lists the gateways on the hosts of Config.HostsFile. A host
// that cannot be reached is named in the error; the others are listed.
func (c *Client) HostGateways(ctx context.Context) ([]RunningGateway, error) {
	inv, err := c.requireInventory()
	if err != nil {
		return nil, err
	}
	rs, err := ssh.List(ctx, inv, c.sshOptions(c.stateDir))
	var out []RunningGateway
	for _, r := range rs {
		out = append(out, RunningGateway{HostGateway: hostGateways([]ssh.Marker{r.Marker})[0], PID: r.PID, Alive: r.Alive})
	}
	return out, err
}

// ShellOptions connect HostShell's command.
type ShellOptions struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Terminal asks the host for a terminal of Rows × Cols (an interactive
	// shell); a host that refuses one runs the command without.
	Terminal   bool
	Rows, Cols int
}

// HostShell runs command on an inventory host over SSH (host key
// verified), e.g. an interactive login shell with opts.Terminal.
func (c *Client) HostShell(ctx context.Context, host, command string, opts ShellOptions) error {
	inv, err := c.requireInventory()
	if err != nil {
		return err
	}
	sio := ssh.ShellIO{Stdin: opts.Stdin, Stdout: opts.Stdout, Stderr: opts.Stderr, Terminal: opts.Terminal, Rows: opts.Rows, Cols: opts.Cols}
	if err := ssh.Shell(ctx, inv, c.sshOptions(c.stateDir), host, command, sio); err != nil {
		return fmt.Errorf("ssh %s: %w", host, err)
	}
	return nil
}
