package ssh

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/hostlab"
	"github.com/skyplane-project/skyplane-go/internal/hosts"
	"github.com/skyplane-project/skyplane-go/internal/testbin"
)

// The tests in this package that touch hosts run against the host lab
// (scripts/hostlab.sh): real sshd processes in network namespaces. They
// skip when it is not running; under CI=true (as root) TestMain starts it
// and stops it afterwards.

func TestMain(m *testing.M) { os.Exit(hostlab.Main(m, os.Getenv)) }

// labHost is one lab host as hostlab.env lists it.
type labHost = hostlab.Host

type hostLab struct{ *hostlab.Lab }

// lab returns the running host lab, or skips the test saying why not.
func lab(t *testing.T) *hostLab {
	t.Helper()
	l, err := hostlab.Open()
	if err != nil {
		t.Skip(err)
	}
	return &hostLab{l}
}

// gatewayBinary builds skyplane once per test process.
func gatewayBinary(t *testing.T) string {
	t.Helper()
	bin, err := testbin.Once("skyplane-ssh-test-")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// inventory writes an inventory over lab hosts; extra is appended verbatim
// (more regions) and knownHosts overrides the lab's known_hosts file.
func (l *hostLab) inventory(t *testing.T, knownHosts string, byRegion map[string][]string, extra string) *hosts.Inventory {
	t.Helper()
	if knownHosts == "" {
		knownHosts = l.KnownHosts
	}
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  identity_file: %s\n  known_hosts: %s\nregions:\n", l.Identity, knownHosts)
	for region, names := range byRegion {
		fmt.Fprintf(&b, "  %s:\n", region)
		for _, n := range names {
			h := l.Hosts[n]
			fmt.Fprintf(&b, "    - {name: %s, address: %s, user: %s}\n", h.Name, h.IP, h.User)
		}
	}
	b.WriteString(extra)
	path := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	inv, err := hosts.Load(path, "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// files lists every path under a host's home, relative to it.
func (l *hostLab) files(t *testing.T, h labHost) []string {
	t.Helper()
	out, err := l.Files(h)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gatewayPIDs lists the processes in a host's namespace that run a gateway.
func gatewayPIDs(t *testing.T, h labHost) []string {
	t.Helper()
	pids, err := hostlab.GatewayPIDs(h)
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// connectFrom tries a TCP connection to addr from inside namespace ns.
func connectFrom(ns, ip string, port string) error {
	out, err := exec.Command("ip", "netns", "exec", ns, "bash", "-c",
		fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", ip, port)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}
