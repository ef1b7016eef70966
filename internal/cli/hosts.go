package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/skyplane-project/skyplane-go"
)

// envHostsFile points at a hosts inventory; it wins over the hosts_file key.
const envHostsFile = "SKYPLANE_HOSTS_FILE"

// hostOptions map what reaching inventory hosts takes from the environment
// (the ssh-agent) and print a line per provisioning step on each host.
func hostOptions(out *printer) []skyplane.Option {
	return []skyplane.Option{
		skyplane.WithSSHAgent(os.Getenv("SSH_AUTH_SOCK")),
		skyplane.WithProvisionProgress(out.hostStep),
	}
}

// hostStep is one provisioning step on one inventory host.
func (p *printer) hostStep(host, step string) {
	if p.json {
		p.event("host", map[string]any{"host": host, "step": step})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.e.stdout, "  host %s: %s\n", host, step)
}

// planProvider says where a plan's gateways run: "local", "ssh" (every
// group on inventory hosts) or "ssh+local".
func planProvider(groups []skyplane.PlanGroup) string {
	ssh, local := false, false
	for _, g := range groups {
		if len(g.Hosts) > 0 {
			ssh = true
		} else {
			local = true
		}
	}
	switch {
	case ssh && local:
		return "ssh+local"
	case ssh:
		return "ssh"
	}
	return "local"
}

// onHosts names a group's inventory hosts for the plan display.
func onHosts(g skyplane.PlanGroup) string {
	if len(g.Hosts) == 0 {
		return ""
	}
	return " on " + strings.Join(g.Hosts, ", ")
}
