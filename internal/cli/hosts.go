package cli

import (
	"fmt"
	"os"

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
