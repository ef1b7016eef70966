package ssh

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
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

var repoRoot = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}()

func TestMain(m *testing.M) { os.Exit(hostlab.Main(m, os.Getenv)) }

// labHost is one lab host as hostlab.env lists it.
type labHost struct{ Name, NS, User, IP string }

// Home is the host's home directory (namespaces share the filesystem).
func (h labHost) Home(l *hostLab) string { return filepath.Join(l.Dir, h.Name, "home") }

type hostLab struct {
	Dir, Inventory, Identity, KnownHosts string
	Hosts                                map[string]labHost
	env                                  map[string]string // hostlab.env
}

// lab returns the running host lab, or skips the test.
func lab(t *testing.T) *hostLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("host lab tests need root (network namespaces); run as root with scripts/hostlab.sh start")
	}
	f, err := os.Open(filepath.Join(repoRoot, ".tools", "hostlab.env"))
	if err != nil {
		t.Skip("host lab not started: run scripts/hostlab.sh start (CI=true starts it itself)")
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = strings.Trim(v, `"`)
		}
	}
	l := &hostLab{Dir: env["HOSTLAB_DIR"], Inventory: env["HOSTLAB_INVENTORY"], Identity: env["HOSTLAB_IDENTITY"],
		KnownHosts: env["HOSTLAB_KNOWN_HOSTS"], Hosts: map[string]labHost{}, env: env}
	for _, e := range strings.Fields(env["HOSTLAB_HOSTS"]) {
		p := strings.Split(e, "=")
		if len(p) != 4 {
			t.Fatalf("hostlab.env: bad HOSTLAB_HOSTS entry %q", e)
		}
		l.Hosts[p[0]] = labHost{Name: p[0], NS: p[1], User: p[2], IP: p[3]}
	}
	for _, n := range []string{"r1-h1", "r1-h2", "r2-h1"} {
		if _, ok := l.Hosts[n]; !ok {
			t.Fatalf("host lab has no host %s (needs 2 regions of 2 hosts)", n)
		}
	}
	return l
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
	home := h.Home(l)
	var out []string
	err := filepath.Walk(home, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(home, p); rel != "." {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// gatewayPIDs lists the processes in a host's namespace that run a gateway.
func gatewayPIDs(t *testing.T, h labHost) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "pids", h.NS).Output()
	if err != nil {
		t.Fatalf("ip netns pids %s: %v", h.NS, err)
	}
	var pids []string
	for _, pid := range strings.Fields(string(out)) {
		cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		if strings.Contains(string(cmd), "\x00gateway\x00--boot\x00") {
			pids = append(pids, pid)
		}
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
