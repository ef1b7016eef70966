package ssh

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/hosts"
)

func testBoot(t *testing.T) compute.Shared {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	return compute.Shared{Secret: "s3cret-" + t.Name(), Key: key, Dir: t.TempDir()}
}

func status(t *testing.T, addr, secret string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+control.PathStatus, nil)
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET status through the tunnel %s: %v", addr, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// onlyBinaryLeft asserts that the host's home holds nothing of skyplane's
// but the content-named binary cache.
func onlyBinaryLeft(t *testing.T, l *hostLab, h labHost) {
	t.Helper()
	for _, f := range l.files(t, h) {
		if f == ".skyplane" || f == filepath.Join(".skyplane", "bin") ||
			(strings.HasPrefix(f, filepath.Join(".skyplane", "bin", "skyplane-")) && !strings.Contains(f, ".tmp-")) {
			continue
		}
		t.Errorf("host %s: %s left behind", h.Name, f)
	}
}

func TestProvisionOverSSH(t *testing.T) {
	l := lab(t)
	bin := gatewayBinary(t)
	// The lab's own inventory: its first host per region, data_ports from 40000.
	inv, err := hosts.Load(l.Inventory, "/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	p := New(inv, Options{Binary: bin, ClientID: "test-client", DataplaneID: "dp-" + strings.ToLower(t.Name()), KeepAlive: 100 * time.Millisecond})
	t.Cleanup(func() { _ = p.Deprovision(context.Background()) })
	boot := testBoot(t)
	specs := []compute.Spec{{ID: "src-0", Region: "aws:lab-r1"}, {ID: "dst-0", Region: "aws:lab-r2"}}
	insts, err := p.Provision(t.Context(), specs, boot)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]*remote{}
	for _, r := range p.gws {
		byID[r.spec.ID] = r
	}
	other := map[string]labHost{"r1-h1": l.Hosts["r1-h2"], "r2-h1": l.Hosts["r1-h1"]}
	for _, in := range insts {
		r := byID[in.ID]
		h := l.Hosts[r.host.Name]
		if code := status(t, in.Control, boot.Secret); code != http.StatusOK {
			t.Errorf("%s: status with the secret through the tunnel: %d", in.ID, code)
		}
		if code := status(t, in.Control, ""); code != http.StatusUnauthorized {
			t.Errorf("%s: status without the secret: %d, want 401", in.ID, code)
		}
		pids := gatewayPIDs(t, h)
		if len(pids) != 1 || pids[0] != strconv.Itoa(r.pid) {
			t.Errorf("%s: gateway pids in namespace %s: %v, want [%d]", in.ID, h.NS, pids, r.pid)
		}
		// The control port is on the host's loopback only: not on its
		// address, not from another host, not from this namespace.
		_, ctrlPort, _ := net.SplitHostPort(r.ctrl)
		if err := connectFrom(other[h.Name].NS, h.IP, ctrlPort); err == nil {
			t.Errorf("%s: control port %s reachable from %s at %s", in.ID, ctrlPort, other[h.Name].NS, h.IP)
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+ctrlPort, time.Second); err == nil {
			c.Close()
			if in.Control != "127.0.0.1:"+ctrlPort {
				t.Errorf("%s: control port %s reachable on this namespace's loopback", in.ID, ctrlPort)
			}
		}
		// The data port is reachable from another host: the probe works.
		dataHost, dataPort, _ := net.SplitHostPort(in.Data)
		if dataHost != h.IP || dataPort != "40000" {
			t.Errorf("%s: data address %s, want the host's %s and the first of its data_ports, 40000", in.ID, in.Data, h.IP)
		}
		if err := connectFrom(other[h.Name].NS, h.IP, dataPort); err != nil {
			t.Errorf("%s: data port from %s: %v", in.ID, other[h.Name].NS, err)
		}
		// The gateway deleted its boot file; the marker names the dataplane.
		if _, err := os.Stat(filepath.Join(l.Home(h), ".skyplane", "gateways", p.opt.DataplaneID, in.ID, "boot.json")); !os.IsNotExist(err) {
			t.Errorf("%s: boot file still there: %v", in.ID, err)
		}
		var mk Marker
		b, _ := os.ReadFile(filepath.Join(l.Home(h), ".skyplane", "gateways", p.opt.DataplaneID, in.ID, "owner.json"))
		if err := json.Unmarshal(b, &mk); err != nil || mk.DataplaneID != p.opt.DataplaneID || mk.ClientID != "test-client" {
			t.Errorf("%s: marker %q: %v", in.ID, b, err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.keepalives.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := p.keepalives.Load(); n < 4 {
		t.Errorf("%d keep-alive calls went through the tunnels, want several", n)
	}
	binPath := filepath.Join(l.Home(l.Hosts["r1-h1"]), ".skyplane", "bin", "skyplane-"+p.hashes[bin][:16])
	st1, err := os.Stat(binPath)
	if err != nil {
		t.Fatalf("binary not under its content name: %v", err)
	}

	if err := p.Deprovision(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, in := range insts {
		h := l.Hosts[byID[in.ID].host.Name]
		if pids := gatewayPIDs(t, h); len(pids) != 0 {
			t.Errorf("%s: gateway processes left in %s: %v", in.ID, h.NS, pids)
		}
		onlyBinaryLeft(t, l, h)
		if _, err := os.Stat(filepath.Join(boot.Dir, in.ID+".log")); err != nil {
			t.Errorf("%s: log not collected: %v", in.ID, err)
		}
		if _, err := os.Stat(filepath.Join(boot.Dir, in.ID+".stats.json")); err != nil {
			t.Errorf("%s: stats not collected: %v", in.ID, err)
		}
	}

	// A host that has the binary is not sent it again.
	p2 := New(inv, Options{Binary: bin, ClientID: "test-client", DataplaneID: "dp-again"})
	t.Cleanup(func() { _ = p2.Deprovision(context.Background()) })
	if _, err := p2.Provision(t.Context(), specs[:1], testBoot(t)); err != nil {
		t.Fatal(err)
	}
	st2, err := os.Stat(binPath)
	if err != nil || !st2.ModTime().Equal(st1.ModTime()) {
		t.Errorf("binary re-uploaded (mtime %v then %v, err %v)", st1.ModTime(), st2.ModTime(), err)
	}
	if err := p2.Deprovision(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// knownHostsWith writes a copy of the lab's known_hosts where host's line
// carries another key (changed) or is missing (unknown).
func knownHostsWith(t *testing.T, l *hostLab, h labHost, changed bool) string {
	t.Helper()
	b, err := os.ReadFile(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	sp, _ := gossh.NewPublicKey(pub)
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(line, h.IP+" ") {
			if !changed {
				continue
			}
			line = h.IP + " " + strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sp)))
		}
		out = append(out, line)
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(strings.Join(out, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHostKeyRefused(t *testing.T) {
	l := lab(t)
	bin := gatewayBinary(t)
	bad, good := l.Hosts["r1-h2"], l.Hosts["r2-h1"]
	for _, c := range []struct {
		name    string
		changed bool
		want    error
	}{
		{"changed", true, ErrHostKeyChanged},
		{"unknown", false, ErrUnknownHostKey},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv := l.inventory(t, knownHostsWith(t, l, bad, c.changed), map[string][]string{"aws:lab-r1": {bad.Name}, "aws:lab-r2": {good.Name}}, "")
			p := New(inv, Options{Binary: bin, DataplaneID: "dp-key-" + c.name})
			before := l.files(t, bad)
			_, err := p.Provision(t.Context(), []compute.Spec{{ID: "a", Region: "aws:lab-r1"}, {ID: "b", Region: "aws:lab-r2"}}, testBoot(t))
			if !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			t.Logf("error: %v", err)
			var he *HostError
			if !errors.As(err, &he) || he.Host != bad.Name || !strings.Contains(err.Error(), "host "+bad.Name) {
				t.Fatalf("error does not name host %s: %v", bad.Name, err)
			}
			if f := l.files(t, bad); !slices.Equal(f, before) {
				t.Errorf("files written on %s despite its key: %v, before %v", bad.Name, f, before)
			}
			onlyBinaryLeft(t, l, good)
			if pids := gatewayPIDs(t, good); len(pids) != 0 {
				t.Errorf("gateway left running on %s: %v", good.Name, pids)
			}
		})
	}
}

func TestUnreachableHostTearsDownTheOthers(t *testing.T) {
	l := lab(t)
	bin := gatewayBinary(t)
	good := l.Hosts["r1-h1"]
	stopped := l.Hosts["r2-h2"]
	for _, c := range []struct{ name, entry, addr string }{
		// Nothing has this lab address: no route to it.
		{"no such host", "{name: ghost, address: 10.232.50.250, user: nobody}", "10.232.50.250:22"},
		// A real host with no sshd on that port: refused.
		{"no sshd", "{name: ghost, address: " + stopped.IP + ", port: 2222, user: " + stopped.User + "}", stopped.IP + ":2222"},
	} {
		t.Run(c.name, func(t *testing.T) {
			inv := l.inventory(t, "", map[string][]string{"aws:lab-r1": {good.Name}}, "  aws:lab-r2:\n    - "+c.entry+"\n")
			p := New(inv, Options{Binary: bin, DataplaneID: "dp-unreachable", DialTimeout: 3 * time.Second})
			start := time.Now()
			_, err := p.Provision(t.Context(), []compute.Spec{{ID: "a", Region: "aws:lab-r1"}, {ID: "b", Region: "aws:lab-r2"}}, testBoot(t))
			var he *HostError
			if !errors.As(err, &he) || he.Host != "ghost" || !strings.Contains(err.Error(), "host ghost ("+c.addr+")") {
				t.Fatalf("err %v, want it to name host ghost (%s)", err, c.addr)
			}
			t.Logf("error: %v", err)
			if time.Since(start) > 20*time.Second {
				t.Errorf("provision took %s to give up", time.Since(start))
			}
			if pids := gatewayPIDs(t, good); len(pids) != 0 {
				t.Errorf("gateway left running on %s: %v", good.Name, pids)
			}
			onlyBinaryLeft(t, l, good)
		})
	}
}
