package ssh

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute"
)

// abandon drops a provider's connections without tearing anything down,
// as a client that dies does.
func abandon(p *Provider) {
	p.mu.Lock()
	gws := p.gws
	p.gws = nil
	p.mu.Unlock()
	for _, r := range gws {
		close(r.quit)
		r.tunnel.Close()
		r.done.Wait()
		r.sc.Close()
		r.conn.Close()
	}
}

// TestSweepAfterClientDied: gateways outlive their client's SSH
// connection, and Sweep finds them by marker and removes exactly the
// dataplane asked for.
func TestSweepAfterClientDied(t *testing.T) {
	l := lab(t)
	bin := gatewayBinary(t)
	h := l.Hosts["r1-h2"]
	inv := l.inventory(t, "", map[string][]string{"aws:lab-r1": {h.Name}}, "")
	var pids = map[string]int{}
	for _, dp := range []string{"dp-dead", "dp-alive"} {
		p := New(inv, Options{Binary: bin, ClientID: "c1", DataplaneID: dp})
		if _, err := p.Provision(t.Context(), []compute.Spec{{ID: "g", Region: "aws:lab-r1"}}, testBoot(t)); err != nil {
			t.Fatal(err)
		}
		pids[dp] = p.gws[0].pid
		abandon(p)
	}
	t.Cleanup(func() {
		_, _ = Sweep(t.Context(), inv, Options{}, "", func(Marker) bool { return true })
	})
	time.Sleep(300 * time.Millisecond)
	for dp, pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
			t.Fatalf("gateway of %s did not survive its client's SSH connection: %v", dp, err)
		}
	}

	logs := t.TempDir()
	swept, err := Sweep(t.Context(), inv, Options{}, logs, func(m Marker) bool { return m.DataplaneID == "dp-dead" })
	if err != nil {
		t.Fatal(err)
	}
	if len(swept) != 1 || swept[0].DataplaneID != "dp-dead" || swept[0].ClientID != "c1" || swept[0].Host != h.Name {
		t.Fatalf("swept %+v, want the one gateway of dp-dead", swept)
	}
	if got := gatewayPIDs(t, h); len(got) != 1 || got[0] != strconv.Itoa(pids["dp-alive"]) {
		t.Fatalf("gateways left %v, want only dp-alive's %d", got, pids["dp-alive"])
	}
	if _, err := os.Stat(filepath.Join(logs, "g.log")); err != nil {
		t.Errorf("log not collected: %v", err)
	}
	if _, err := os.Stat(filepath.Join(l.Home(h), ".skyplane", "gateways", "dp-dead")); !os.IsNotExist(err) {
		t.Errorf("dp-dead's directory left: %v", err)
	}

	if _, err := Sweep(t.Context(), inv, Options{}, "", func(Marker) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if got := gatewayPIDs(t, h); len(got) != 0 {
		t.Fatalf("gateways left after sweeping all: %v", got)
	}
	onlyBinaryLeft(t, l, h)
}
