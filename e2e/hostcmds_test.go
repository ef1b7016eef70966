package e2e

import (
	"fmt"
	"strings"
	"testing"
)

// TestHostsCheck runs `skyplane hosts check` over the lab's hosts, and over
// an inventory with a host no sshd answers for.
func TestHostsCheck(t *testing.T) {
	r := newHostsRun(t)
	ok := r.run(r.hosts, "hosts", "check")
	if ok.code != 0 {
		t.Fatalf("hosts check: exit %d\n%s\n%s", ok.code, ok.stdout, ok.stderr)
	}
	for _, h := range r.labHosts() {
		line := lineWith(ok.stdout, h.Name+" ")
		for _, want := range []string{h.IP + ":22", "linux/", " ok"} {
			if !strings.Contains(line, want) {
				t.Errorf("%s's line lacks %q: %q\n%s", h.Name, want, line, ok.stdout)
			}
		}
	}
	inv := r.inventory("ghost", "", []string{"r1-h1"}, nil, fmt.Sprintf("    - {name: ghost, address: %s, port: 2222, user: nobody}\n", r.lab.Hosts["r2-h1"].IP))
	bad := r.run([]string{"SKYPLANE_HOSTS_FILE=" + inv}, "hosts", "check")
	if bad.code == 0 || !strings.Contains(lineWith(bad.stdout, "ghost "), "error:") || !strings.Contains(lineWith(bad.stdout, "r1-h1 "), " ok") {
		t.Errorf("hosts check with an unreachable host: exit %d\n%s\n%s", bad.code, bad.stdout, bad.stderr)
	}
}

func lineWith(out, s string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, s) {
			return l
		}
	}
	return ""
}

// TestHostsSSH lists gateways a killed client left running with `skyplane
// ssh`, runs a command in one's folder on its host, and after deprovision
// finds none.
func TestHostsSSH(t *testing.T) {
	r := newHostsRun(t)
	r.seed(48 << 20)
	w := r.watch(append(r.hosts, "SKYPLANE_TEST_IDLE_SHUTDOWN=2m"), "cp", "-r", "-n", "1", "--json", r.src(), r.dst())
	waitHostsRunning(t, w, 2)
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
	ls := r.run(r.hosts, "ssh")
	if ls.code != 0 {
		t.Fatalf("ssh: exit %d\n%s\n%s", ls.code, ls.stdout, ls.stderr)
	}
	for _, want := range [][]string{{"src-0 ", "aws:lab-r1", "r1-h1", "running"}, {"dst1-0 ", "aws:lab-r2", "r2-h1", "running"}} {
		line := lineWith(ls.stdout, want[0])
		for _, w := range want[1:] {
			if !strings.Contains(line, w) {
				t.Errorf("gateway %s: line lacks %q: %q\n%s", want[0], w, line, ls.stdout)
			}
		}
	}
	cat := r.run(r.hosts, "ssh", "src-0", "--", "cat", "owner.json")
	if cat.code != 0 || !strings.Contains(cat.stdout, `"host":"r1-h1"`) || !strings.Contains(cat.stdout, `"gateway_id":"src-0"`) {
		t.Errorf("ssh src-0 -- cat owner.json: exit %d\n%s\n%s", cat.code, cat.stdout, cat.stderr)
	}
	if miss := r.run(r.hosts, "ssh", "nope-9"); miss.code == 0 || !strings.Contains(miss.stderr, "no gateway nope-9") {
		t.Errorf("ssh nope-9: exit %d\n%s", miss.code, miss.stderr)
	}
	if d := r.run(r.hosts, "deprovision"); d.code != 0 || strings.Count(d.stdout, "Stopped gateway ") != 2 {
		t.Fatalf("deprovision: exit %d\n%s\n%s", d.code, d.stdout, d.stderr)
	}
	if after := r.run(r.hosts, "ssh"); !strings.Contains(after.stdout, "No gateways") {
		t.Errorf("ssh after deprovision:\n%s", after.stdout)
	}
	r.assertClean(r.labHosts()...)
}
