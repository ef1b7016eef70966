// Package hostlab is the tests' handle on the host lab (scripts/hostlab.sh):
// regions of real SSH hosts in network namespaces on this machine. Test
// binaries that use it call Main from TestMain, which starts the lab under
// CI=true (as root) and stops it afterwards; tests call Open, which says
// why the lab is not there so they can skip with that message.
package hostlab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Root is the repository's root directory.
var Root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

// EnvFile is where a running lab describes itself.
var EnvFile = filepath.Join(Root, ".tools", "hostlab.env")

// script runs scripts/hostlab.sh; WaitDelay bounds the wait for its output
// should a process it leaves running hold the pipe.
func script(arg string) ([]byte, error) {
	cmd := exec.Command(filepath.Join(Root, "scripts", "hostlab.sh"), arg)
	cmd.WaitDelay = 5 * time.Second
	return cmd.CombinedOutput()
}

// Main runs m's tests and returns the exit code. With CI=true (getenv is
// os.Getenv) as root, it starts the lab when none runs and stops the one it
// started once the tests are done.
func Main(m *testing.M, getenv func(string) string) int {
	started := false
	if getenv("CI") == "true" && os.Geteuid() == 0 {
		if _, err := os.Stat(EnvFile); err != nil {
			if out, err := script("start"); err != nil {
				fmt.Fprintf(os.Stderr, "hostlab start: %v\n%s", err, out)
				return 1
			}
			started = true
		}
	}
	code := m.Run()
	if started {
		if out, err := script("stop"); err != nil {
			fmt.Fprintf(os.Stderr, "hostlab stop: %v\n%s", err, out)
			code = 1
		}
	}
	return code
}

// Host is one lab host as hostlab.env lists it.
type Host struct{ Name, NS, User, IP string }

// Lab is a running host lab.
type Lab struct {
	Dir, Inventory, Identity, KnownHosts string
	Hosts                                map[string]Host
	Env                                  map[string]string // hostlab.env
}

// ErrUnavailable is why Open found no lab; tests skip with its message.
var ErrUnavailable = errors.New("host lab unavailable")

// Open returns the running lab, or an error wrapping ErrUnavailable that
// says how to get one.
func Open() (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: host lab tests need root (network namespaces); run as root with scripts/hostlab.sh start", ErrUnavailable)
	}
	f, err := os.Open(EnvFile)
	if err != nil {
		return nil, fmt.Errorf("%w: host lab not started: run scripts/hostlab.sh start (CI=true starts it itself)", ErrUnavailable)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			env[k] = strings.Trim(v, `"`)
		}
	}
	l := &Lab{Dir: env["HOSTLAB_DIR"], Inventory: env["HOSTLAB_INVENTORY"], Identity: env["HOSTLAB_IDENTITY"],
		KnownHosts: env["HOSTLAB_KNOWN_HOSTS"], Hosts: map[string]Host{}, Env: env}
	for _, e := range strings.Fields(env["HOSTLAB_HOSTS"]) {
		p := strings.Split(e, "=")
		if len(p) != 4 {
			return nil, fmt.Errorf("hostlab.env: bad HOSTLAB_HOSTS entry %q", e)
		}
		l.Hosts[p[0]] = Host{Name: p[0], NS: p[1], User: p[2], IP: p[3]}
	}
	for _, n := range []string{"r1-h1", "r1-h2", "r2-h1", "r2-h2"} {
		if _, ok := l.Hosts[n]; !ok {
			return nil, fmt.Errorf("%w: host lab has no host %s (needs 2 regions of 2 hosts)", ErrUnavailable, n)
		}
	}
	return l, nil
}

// Home is a host's home directory (namespaces share the filesystem).
func (l *Lab) Home(h Host) string { return filepath.Join(l.Dir, h.Name, "home") }

// Files lists every path under a host's home, relative to it.
func (l *Lab) Files(h Host) ([]string, error) {
	home := l.Home(h)
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
	return out, err
}

// GatewayPIDs lists the processes in a host's namespace that run a gateway.
func GatewayPIDs(h Host) ([]string, error) {
	out, err := exec.Command("ip", "netns", "pids", h.NS).Output()
	if err != nil {
		return nil, fmt.Errorf("ip netns pids %s: %w", h.NS, err)
	}
	var pids []string
	for _, pid := range strings.Fields(string(out)) {
		cmd, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		if strings.Contains(string(cmd), "\x00gateway\x00--boot\x00") {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}
