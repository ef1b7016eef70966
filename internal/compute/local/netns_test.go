//go:build skyplane_faults

package local

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
)

// envHelper turns the test binary into the helper of TestNetnsGateway's
// parent-death check: it starts a placeholder gateway the way the provider
// does, prints its PID and waits to be killed.
const envHelper = "SKYPLANE_TEST_NETNS_HELPER" // "ns,bin"

func TestMain(m *testing.M) {
	if v := os.Getenv(envHelper); v != "" {
		os.Exit(netnsHelper(v))
	}
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

func netnsHelper(v string) int {
	name, bin, _ := strings.Cut(v, ",")
	ipCmd, err := ipCommand()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cmd := gatewayCmd(bin, "/nonexistent.boot.json", placement{ns: &netns{Name: name}, ipCmd: ipCmd})
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(cmd.Process.Pid)
	select {} // until killed
}

func TestParseNetns(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    string // "name=ip,..." as parsed
		wantErr string
	}{
		{in: "", want: ""},
		{in: "  ", want: ""},
		{in: "ns1=10.0.0.1", want: "ns1=10.0.0.1"},
		{in: "skylab-g1=10.231.77.11,skylab-g2=10.231.77.12", want: "skylab-g1=10.231.77.11,skylab-g2=10.231.77.12"},
		{in: " a = 10.0.0.1 , b=10.0.0.2 ", want: "a=10.0.0.1,b=10.0.0.2"},
		{in: "a=fd00::1", want: "a=fd00::1"},
		{in: "a=::ffff:10.0.0.1", want: "a=10.0.0.1"},
		{in: "ns1", wantErr: `entry 1 "ns1": want name=ip`},
		{in: "a=10.0.0.1,b", wantErr: `entry 2 "b": want name=ip`},
		{in: "a=10.0.0.1,", wantErr: `entry 2 "": want name=ip`},
		{in: "=10.0.0.1", wantErr: `bad namespace name ""`},
		{in: "a/b=10.0.0.1", wantErr: `bad namespace name "a/b"`},
		{in: "..=10.0.0.1", wantErr: `bad namespace name ".."`},
		{in: "a=", wantErr: `bad IP address ""`},
		{in: "a=10.0.0", wantErr: `bad IP address "10.0.0"`},
		{in: "a=10.0.0.1:80", wantErr: `bad IP address "10.0.0.1:80"`},
		{in: "a=host.example", wantErr: `bad IP address "host.example"`},
		{in: "a=0.0.0.0", wantErr: `bad IP address "0.0.0.0"`},
		{in: "a=fe80::1%eth0", wantErr: `bad IP address "fe80::1%eth0"`},
		{in: "a=b=10.0.0.1", wantErr: `bad IP address "b=10.0.0.1"`},
	} {
		got, err := parseNetns(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), EnvTestNetns) {
				t.Errorf("parseNetns(%q) = %v, %v; want an error naming %s and containing %q", tc.in, got, err, EnvTestNetns, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseNetns(%q): %v", tc.in, err)
			continue
		}
		var parts []string
		for _, n := range got {
			parts = append(parts, n.Name+"="+n.IP.String())
		}
		if s := strings.Join(parts, ","); s != tc.want {
			t.Errorf("parseNetns(%q) = %s, want %s", tc.in, s, tc.want)
		}
	}
}

func TestProvisionBadNetnsEnv(t *testing.T) {
	setLabNetns(t, "skylab-g1:10.0.0.1")
	dir := t.TempDir()
	_, err := New("/bin/false").Provision(context.Background(), []compute.Spec{{ID: "a"}}, compute.Shared{Secret: "s", Key: make([]byte, 32), Dir: dir})
	if err == nil || !strings.Contains(err.Error(), EnvTestNetns) {
		t.Fatalf("Provision with a bad %s: %v", EnvTestNetns, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("files left: %v", m)
	}
}

// TestNetnsRoundRobin checks the command line, the listen addresses and the
// round-robin without root: a fake ip runs the gateway in this namespace,
// and the "namespaces" are loopback addresses.
func TestNetnsRoundRobin(t *testing.T) {
	bin := buildSkyplane(t)
	fake := t.TempDir()
	logFile := filepath.Join(fake, "calls")
	script := "#!/bin/sh\n" +
		"[ \"$1 $2\" = \"netns exec\" ] || { echo \"fake ip: unexpected $*\" >&2; exit 64; }\n" +
		"echo \"$3 $(basename \"$7\") $$\" >> " + logFile + "\n" +
		"shift 3\nexec \"$@\"\n"
	if err := os.WriteFile(filepath.Join(fake, "ip"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", fake+string(os.PathListSeparator)+os.Getenv("PATH"))
	setLabNetns(t, "nsa=127.0.0.2,nsb=127.0.0.3")

	dir := t.TempDir()
	p := New(bin)
	defer p.Deprovision(context.Background())
	boot := compute.Shared{Secret: "s", Key: make([]byte, 32), Dir: dir}
	first, err := p.Provision(context.Background(), []compute.Spec{{ID: "g0"}, {ID: "g1"}, {ID: "g2"}}, boot)
	if err != nil {
		t.Fatal(err)
	}
	// A later Provision (another region) continues the round-robin.
	second, err := p.Provision(context.Background(), []compute.Spec{{ID: "g3"}}, boot)
	if err != nil {
		t.Fatal(err)
	}
	insts := append(first, second...)
	wantHost := []string{"127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"}
	wantNS := map[string]string{"g0": "nsa", "g1": "nsb", "g2": "nsa", "g3": "nsb"}
	for i, in := range insts {
		for _, addr := range []string{in.Control, in.Data} {
			if host, _, _ := net.SplitHostPort(addr); host != wantHost[i] {
				t.Errorf("%s listens on %s, want host %s", in.ID, addr, wantHost[i])
			}
		}
		if _, err := control.NewClient(in.ID, in.Control, "s").Status(context.Background()); err != nil {
			t.Errorf("status of %s: %v", in.ID, err)
		}
	}
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("fake ip log line %q", line)
		}
		id := strings.TrimSuffix(f[1], ".boot.json")
		calls[id] = f[0]
		// ip netns exec execs the gateway in place: the PID the fake ip
		// had is the gateway's, the one the provider reports.
		for _, in := range insts {
			if in.ID == id && strconv.Itoa(in.PID) != f[2] {
				t.Errorf("%s: PID %d, but ip ran as %s", id, in.PID, f[2])
			}
		}
	}
	if fmt.Sprint(calls) != fmt.Sprint(wantNS) {
		t.Errorf("namespaces by gateway %v, want %v", calls, wantNS)
	}
	if got := Running(dir); len(got) != 4 {
		t.Errorf("Running = %v, want the 4 gateways (the command line is the gateway's)", got)
	}
	if err := p.Deprovision(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := Running(dir); len(got) != 0 {
		t.Errorf("gateways left: %v", got)
	}
}

// TestNetnsGateway runs a real gateway in a real network namespace (root
// only): it creates a namespace with a veth pair of its own, provisions a
// gateway into it through the hook, and checks where it runs and that the
// parent-death signal still reaches a process started through ip netns exec.
func TestNetnsGateway(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and a veth pair (ip netns add, ip link add)")
	}
	ipCmd, err := ipCommand()
	if err != nil {
		t.Skip("iproute2's ip command not found")
	}
	run := func(args ...string) error {
		out, err := exec.Command(ipCmd, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	pid := os.Getpid()
	name := fmt.Sprintf("skyplane-t%d", pid)
	if err := run("netns", "add", name); err != nil {
		t.Skipf("network namespaces unavailable: %v", err)
	}
	vethRoot, vethNS := fmt.Sprintf("spt%da", pid), fmt.Sprintf("spt%db", pid)
	t.Cleanup(func() {
		_ = run("link", "del", vethRoot) // removes both ends; gone already if the namespace went first
		if err := run("netns", "del", name); err != nil {
			t.Errorf("remove namespace: %v", err)
		}
	})
	// A /30 of our own in 10.231.78.0/24 (one the WAN lab does not use),
	// picked by PID so that concurrent runs do not collide.
	var rootIP, nsIP string
	for k := 0; k < 64; k++ {
		base := 4 * ((pid + k) % 64)
		out, _ := exec.Command(ipCmd, "-o", "addr", "show", "to", fmt.Sprintf("10.231.78.%d/30", base)).Output()
		if len(strings.TrimSpace(string(out))) == 0 {
			rootIP, nsIP = fmt.Sprintf("10.231.78.%d", base+1), fmt.Sprintf("10.231.78.%d", base+2)
			break
		}
	}
	if rootIP == "" {
		t.Fatal("no free /30 in 10.231.78.0/24")
	}
	for _, args := range [][]string{
		{"link", "add", vethRoot, "type", "veth", "peer", "name", vethNS, "netns", name},
		{"addr", "add", rootIP + "/30", "dev", vethRoot},
		{"link", "set", vethRoot, "up"},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "addr", "add", nsIP + "/30", "dev", vethNS},
		{"-n", name, "link", "set", vethNS, "up"},
	} {
		if err := run(args...); err != nil {
			t.Fatal(err)
		}
	}
	nsIno := inode(t, filepath.Join("/run/netns", name))

	t.Run("provision", func(t *testing.T) {
		bin := buildSkyplane(t)
		setLabNetns(t, name+"="+nsIP)
		dir := t.TempDir()
		p := New(bin)
		defer p.Deprovision(context.Background())
		insts, err := p.Provision(context.Background(), []compute.Spec{{ID: "ns-0", Region: "local:src"}}, compute.Shared{Secret: "s", Key: make([]byte, 32), Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		in := insts[0]
		for _, addr := range []string{in.Control, in.Data} {
			if host, _, _ := net.SplitHostPort(addr); host != nsIP {
				t.Errorf("gateway listens on %s, want the namespace's address %s", addr, nsIP)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := control.NewClient(in.ID, in.Control, "s").Status(ctx)
		if err != nil {
			t.Fatalf("status from the root namespace: %v", err)
		}
		if st.State != "idle" {
			t.Errorf("state %q, want idle", st.State)
		}
		if got, self := netnsInode(t, in.PID), netnsInode(t, os.Getpid()); got == self || got != nsIno {
			t.Errorf("gateway's network namespace %d, want %s's %d (ours is %d)", got, name, nsIno, self)
		}
		// Executed in place: the PID is the gateway's (its command line, its
		// own process group).
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", in.PID)); exe != bin {
			t.Errorf("PID %d runs %s, want %s", in.PID, exe, bin)
		}
		if pg, err := syscall.Getpgid(in.PID); err != nil || pg != in.PID {
			t.Errorf("process group of %d: %d, %v; want its own", in.PID, pg, err)
		}
		if got := Running(dir); !slices.Equal(got, []int{in.PID}) {
			t.Errorf("Running = %v, want [%d]", got, in.PID)
		}
		if err := p.Deprovision(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := Running(dir); len(got) != 0 {
			t.Errorf("gateway left after Deprovision: %v", got)
		}
	})

	t.Run("pdeathsig", func(t *testing.T) {
		// A placeholder gateway that ignores its arguments and stays up, so
		// that only the parent-death signal can end it (no stdin pipe here).
		fake := filepath.Join(t.TempDir(), "fake-gateway")
		if err := os.WriteFile(fake, []byte("#!/bin/sh\nexec sleep 120\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		helper := exec.Command(self)
		helper.Env = append(os.Environ(), envHelper+"="+name+","+fake)
		helper.Stderr = os.Stderr
		out, err := helper.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := helper.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = helper.Process.Kill(); _ = helper.Wait() }()
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			t.Fatalf("helper: %v", err)
		}
		child, err := strconv.Atoi(strings.TrimSpace(line))
		if err != nil {
			t.Fatalf("helper printed %q", line)
		}
		// Wait until ip has entered the namespace and exec'd the fake gateway.
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(cmdline(child), "sleep") && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if c := cmdline(child); !strings.Contains(c, "sleep") {
			t.Fatalf("process %d runs %q, want the fake gateway", child, c)
		}
		if got := netnsInode(t, child); got != nsIno {
			t.Errorf("fake gateway's network namespace %d, want %d", got, nsIno)
		}
		if err := helper.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = helper.Wait()
		deadline = time.Now().Add(5 * time.Second)
		for alive(child) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(child) {
			_ = syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("process %d outlived its parent: Pdeathsig lost through ip netns exec", child)
		}
	})
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// netnsInode is the network namespace of a process, as /proc shows it
// ("net:[4026532281]").
func netnsInode(t *testing.T, pid int) uint64 {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "net:["), "]"), 10, 64)
	if err != nil {
		t.Fatalf("ns link %q", link)
	}
	return n
}

func cmdline(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.ReplaceAll(string(b), "\x00", " ")
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(st), ") Z ")
}

// setLabNetns sets the hook for one test, as the tagged CLI would.
func setLabNetns(t *testing.T, v string) {
	old := LabNetns
	LabNetns = v
	t.Cleanup(func() { LabNetns = old })
}
