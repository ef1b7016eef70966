package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/hostlab"
)

// The tests below run skyplane against the host lab (scripts/hostlab.sh):
// S3 region 1 → S3 region 2 with gateways deployed over SSH onto the lab's
// hosts (network namespaces with their own sshd). They skip unless run as
// root with the lab running; CI=true starts it (TestMain).

// hostsRun is one test's sandbox over the lab: its own prefix in both
// buckets and the environment that points skyplane at the lab.
type hostsRun struct {
	*sandbox
	lab    *hostlab.Lab
	prefix string
	hosts  []string // SKYPLANE_HOSTS_FILE and the store keys
}

func newHostsRun(t *testing.T) *hostsRun {
	t.Helper()
	l, err := hostlab.Open()
	if err != nil {
		t.Skip(err)
	}
	s := newSandbox(t)
	s.env = append(s.env, "AWS_ACCESS_KEY_ID="+l.Env["HOSTLAB_S3_ACCESS_KEY"], "AWS_SECRET_ACCESS_KEY="+l.Env["HOSTLAB_S3_SECRET_KEY"])
	s.config("s3_bucket_endpoints", fmt.Sprintf("%s=%s,%s=%s",
		l.Env["HOSTLAB_BUCKET_R1"], l.Env["HOSTLAB_S3_ENDPOINT_R1"], l.Env["HOSTLAB_BUCKET_R2"], l.Env["HOSTLAB_S3_ENDPOINT_R2"]),
		"autoconfirm", "true")
	r := &hostsRun{sandbox: s, lab: l, prefix: fmt.Sprintf("%s-%d", strings.ToLower(t.Name()), time.Now().UnixNano()),
		hosts: []string{"SKYPLANE_HOSTS_FILE=" + l.Inventory}}
	r.prefix = strings.NewReplacer("/", "-", "_", "-").Replace(r.prefix)
	return r
}

func (r *hostsRun) src() string { return "s3://" + r.lab.Env["HOSTLAB_BUCKET_R1"] + "/" + r.prefix }
func (r *hostsRun) dst() string { return "s3://" + r.lab.Env["HOSTLAB_BUCKET_R2"] + "/" + r.prefix }

// dstDir is where region 2's server keeps the copied objects (versitygw's
// posix backend: one file per object).
func (r *hostsRun) dstDir() string {
	return filepath.Join(r.lab.Dir, "s3-r2", r.lab.Env["HOSTLAB_BUCKET_R2"], r.prefix)
}

// seed writes files locally and uploads them to region 1 (local gateways:
// no hosts file), returning the local folder.
func (r *hostsRun) seed(sizes ...int64) string {
	r.t.Helper()
	dir := r.path("seed")
	for i, n := range sizes {
		writeRandomFile(r.t, filepath.Join(dir, "d", fmt.Sprintf("f%d", i)), n)
	}
	r.mustRun("cp", "-r", dir, r.src())
	return dir
}

// labHosts is every lab host, in name order.
func (r *hostsRun) labHosts() []hostlab.Host {
	var out []hostlab.Host
	for _, h := range r.lab.Hosts {
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b hostlab.Host) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// pids lists the gateway processes in a host's namespace.
func (r *hostsRun) pids(h hostlab.Host) []string {
	r.t.Helper()
	p, err := hostlab.GatewayPIDs(h)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

// assertClean fails unless no host runs a gateway and each keeps only the
// content-named binary cache.
func (r *hostsRun) assertClean(hs ...hostlab.Host) {
	r.t.Helper()
	for _, h := range hs {
		if p := r.pids(h); len(p) != 0 {
			r.t.Errorf("gateway processes left on %s: %v", h.Name, p)
		}
		files, err := r.lab.Files(h)
		if err != nil {
			r.t.Fatal(err)
		}
		for _, f := range files {
			if f != ".skyplane" && f != filepath.Join(".skyplane", "bin") && !strings.HasPrefix(f, filepath.Join(".skyplane", "bin", "skyplane-")) {
				r.t.Errorf("file left on %s: %s", h.Name, f)
			}
		}
	}
}

// waitHostsRunning reads --json events until n gateways report running on
// their hosts, and returns the host of each.
func waitHostsRunning(t *testing.T, w *watched, n int) []string {
	t.Helper()
	var hosts []string
	for len(hosts) < n && w.sc.Scan() {
		w.out.WriteString(w.sc.Text() + "\n")
		var ev map[string]any
		if json.Unmarshal(w.sc.Bytes(), &ev) == nil && ev["event"] == "host" && strings.Contains(ev["step"].(string), " running, pid ") {
			hosts = append(hosts, ev["host"].(string))
		}
	}
	if len(hosts) < n {
		t.Fatalf("only %d of %d gateways reported running; output:\n%s\nstderr:\n%s", len(hosts), n, w.out.String(), w.stderr.String())
	}
	return hosts
}

// TestHostsCopyS3ToS3 copies between the lab's two S3 regions through 2 + 2
// gateways deployed over SSH: byte-identical objects, gateways inside the
// hosts' namespaces (not children of the client), nothing left afterwards.
func TestHostsCopyS3ToS3(t *testing.T) {
	r := newHostsRun(t)
	src := r.seed(1<<20, 3<<20, 40<<20, 0)
	w := r.watch(r.hosts, "cp", "-r", "-n", "2", "--json", r.src(), r.dst())
	running := waitHostsRunning(t, w, 4)
	slices.Sort(running)
	if want := []string{"r1-h1", "r1-h2", "r2-h1", "r2-h2"}; !slices.Equal(running, want) {
		t.Errorf("gateways ran on %v, want one on each of %v", running, want)
	}
	for _, h := range r.labHosts() {
		pids := r.pids(h)
		if len(pids) != 1 {
			t.Errorf("%s: %d gateway processes in its namespace, want 1", h.Name, len(pids))
			continue
		}
		if ppid := parentOf(t, pids[0]); ppid == w.cmd.Process.Pid {
			t.Errorf("%s: gateway %s is a child of the client", h.Name, pids[0])
		}
	}
	if err := w.finish(t); err != nil {
		t.Fatalf("cp: %v\n%s\n%s", err, w.out.String(), w.stderr.String())
	}
	assertTreesEqual(t, src, r.dstDir())
	r.assertClean(r.labHosts()...)
}

// parentOf is a process's parent pid.
func parentOf(t *testing.T, pid string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// TestHostsGatewayKilled SIGKILLs one remote source gateway mid-transfer:
// the transfer completes through the others.
func TestHostsGatewayKilled(t *testing.T) {
	r := newHostsRun(t)
	src := r.seed(48<<20, 48<<20, 8<<20)
	w := r.watch(r.hosts, "cp", "-r", "-n", "2", "--json", r.src(), r.dst())
	waitHostsRunning(t, w, 4)
	if w.waitProgress(midway(0.6)) == 0 {
		t.Fatalf("transfer ended before the kill:\n%s", w.out.String())
	}
	victim := r.lab.Hosts["r1-h1"]
	pids := r.pids(victim)
	if len(pids) != 1 {
		t.Fatalf("%s: gateway pids %v", victim.Name, pids)
	}
	pid, _ := strconv.Atoi(pids[0])
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := w.finish(t); err != nil {
		t.Fatalf("cp after a gateway was killed: %v\n%s\n%s", err, w.out.String(), w.stderr.String())
	}
	if !strings.Contains(w.out.String(), `"gateways_lost":1`) {
		t.Errorf("done event does not count the lost gateway:\n%s", w.out.String())
	}
	assertTreesEqual(t, src, r.dstDir())
	r.assertClean(r.labHosts()...)
}

// TestHostsClientKilled SIGKILLs the client: its remote gateways outlive it
// (their own sessions) until the idle window ends them; deprovision then
// finds what they left by their markers and removes it.
func TestHostsClientKilled(t *testing.T) {
	r := newHostsRun(t)
	r.seed(64<<20, 32<<20)
	const window = 3 * time.Second
	w := r.watch(append(r.hosts, "SKYPLANE_TEST_IDLE_SHUTDOWN="+window.String()), "cp", "-r", "-n", "2", "--json", r.src(), r.dst())
	waitHostsRunning(t, w, 4)
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = w.cmd.Wait()
	killed := time.Now()
	for _, h := range r.labHosts() {
		if p := r.pids(h); len(p) != 1 {
			t.Fatalf("%s: %d gateways right after the client died, want 1 (they must outlive it)", h.Name, len(p))
		}
	}
	for _, h := range r.labHosts() {
		for len(r.pids(h)) > 0 {
			if time.Since(killed) > window+10*time.Second {
				t.Fatalf("%s: gateway still running %s after its client died (idle window %s)", h.Name, time.Since(killed).Round(time.Second), window)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	t.Logf("all remote gateways exited %s after the client died", time.Since(killed).Round(100*time.Millisecond))
	out := r.run(r.hosts, "deprovision")
	if out.code != 0 {
		t.Fatalf("deprovision: exit %d\n%s\n%s", out.code, out.stdout, out.stderr)
	}
	if n := strings.Count(out.stdout, "Stopped gateway "); n != 4 {
		t.Errorf("deprovision removed %d remote gateways, want 4:\n%s", n, out.stdout)
	}
	r.assertClean(r.labHosts()...)
}

// inventory writes an inventory of lab hosts by region; extra lines are
// appended to region 2 (a ghost host), knownHosts overrides the lab's.
func (r *hostsRun) inventory(name, knownHosts string, r1, r2 []string, extra string) string {
	r.t.Helper()
	if knownHosts == "" {
		knownHosts = r.lab.KnownHosts
	}
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  identity_file: %s\n  known_hosts: %s\nregions:\n", r.lab.Identity, knownHosts)
	for i, names := range [][]string{r1, r2} {
		fmt.Fprintf(&b, "  aws:lab-r%d:\n", i+1)
		for _, n := range names {
			h := r.lab.Hosts[n]
			fmt.Fprintf(&b, "    - {name: %s, address: %s, user: %s}\n", h.Name, h.IP, h.User)
		}
		if i == 1 {
			b.WriteString(extra)
		}
	}
	p := r.path(name + ".yaml")
	writeFile(r.t, p, []byte(b.String()))
	return p
}

// TestHostsProvisionRefused: an unreachable host fails the provision
// naming it, and a host whose key changed is refused before any upload;
// either way nothing is left on the other hosts.
func TestHostsProvisionRefused(t *testing.T) {
	r := newHostsRun(t)
	r.seed(1 << 20)
	good, bad := r.lab.Hosts["r1-h1"], r.lab.Hosts["r2-h1"]
	otherKey := filepath.Join(t.TempDir(), "k")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", otherKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, _ := os.ReadFile(otherKey + ".pub")
	known, _ := os.ReadFile(r.lab.KnownHosts)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(known)), "\n") {
		if strings.HasPrefix(l, bad.IP+" ") {
			f := strings.Fields(string(pub))
			l = bad.IP + " " + f[0] + " " + f[1]
		}
		lines = append(lines, l)
	}
	changed := r.path("known_hosts_changed")
	writeFile(t, changed, []byte(strings.Join(lines, "\n")+"\n"))
	cases := []struct {
		name, inv string
		want      []string // in the error
	}{
		{"unreachable", r.inventory("unreachable", "", []string{good.Name}, nil, fmt.Sprintf("    - {name: ghost, address: %s, port: 2222, user: nobody}\n", bad.IP)),
			[]string{"host ghost", bad.IP + ":2222"}},
		{"changed key", r.inventory("changed", changed, []string{good.Name}, []string{bad.Name}, ""),
			[]string{"host " + bad.Name, "host key changed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before, err := r.lab.Files(bad)
			if err != nil {
				t.Fatal(err)
			}
			out := r.run([]string{"SKYPLANE_HOSTS_FILE=" + c.inv}, "cp", "-r", "-n", "1", r.src(), r.dst())
			if out.code == 0 {
				t.Fatalf("cp succeeded:\n%s", out.stdout)
			}
			for _, w := range c.want {
				if !strings.Contains(out.stderr, w) {
					t.Errorf("error does not say %q:\n%s", w, out.stderr)
				}
			}
			if after, _ := r.lab.Files(bad); !slices.Equal(after, before) {
				t.Errorf("%s's files changed: %v, before %v", bad.Name, after, before)
			}
			r.assertClean(good, bad)
		})
	}
}
