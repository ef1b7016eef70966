package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientKilled: SIGKILL of the client mid-transfer (no teardown runs)
// still leaves no gateway: they die with their parent.
func TestClientKilled(t *testing.T) {
	s := newSandbox(t)
	s.useGateways()
	src, dst := s.path("src"), s.path("dst")
	writeRandomFile(t, filepath.Join(src, "big"), 32<<20)
	s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4", "num_connections", "2")
	w := s.watch([]string{"SKYPLANE_TEST_FRAME_DELAY_MS=300"}, "cp", "-r", "-y", "--json", src, dst)
	if w.waitProgress(midway(1)) == 0 {
		t.Fatal("never caught the transfer midway")
	}
	if n := len(gatewayPIDs(s.state)); n != 2 {
		t.Fatalf("%d gateways running mid-transfer, want 2", n)
	}
	_ = w.cmd.Process.Kill()
	_ = w.finish(t)
	deadline := time.Now().Add(10 * time.Second)
	for len(gatewayPIDs(s.state)) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if pids := gatewayPIDs(s.state); len(pids) > 0 {
		t.Errorf("gateways outlived their killed client: %v", pids)
	}
	if r := s.mustRun("deprovision"); !strings.Contains(r.stdout, "No gateways running") {
		t.Errorf("deprovision: %s", r.stdout)
	}
}

// TestDeprovisionStopsOrphans: a gateway whose parent keeps it alive but
// forgot it is found and stopped by `skyplane deprovision`.
func TestDeprovisionStopsOrphans(t *testing.T) {
	s := newSandbox(t)
	dir := filepath.Join(s.state, "dataplanes", "orphan")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	boot := filepath.Join(dir, "g.boot.json")
	writeFile(t, boot, []byte(`{"id":"g","region":"local:src","secret":"x","key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`))
	g := exec.Command(binary, "gateway", "--boot", boot)
	out, _ := g.StdoutPipe()
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer g.Process.Kill()
	if !bufio.NewScanner(out).Scan() {
		t.Fatal("gateway never got ready")
	}
	if n := len(gatewayPIDs(s.state)); n != 1 {
		t.Fatalf("%d gateways found, want the orphan", n)
	}
	r := s.mustRun("deprovision")
	if !strings.Contains(r.stdout, "Stopped 1 local gateway") {
		t.Errorf("deprovision: %s", r.stdout)
	}
	_ = g.Wait()
	if n := len(gatewayPIDs(s.state)); n != 0 {
		t.Errorf("%d gateways after deprovision", n)
	}
}
