package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// gatewayPID finds the running gateway process whose id is id.
func gatewayPID(t *testing.T, s *sandbox, id string) int {
	t.Helper()
	for _, pid := range gatewayPIDs(s.state) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(b), "/"+id+".boot.json") {
			return pid
		}
	}
	t.Fatalf("no running gateway %s (have %v)", id, gatewayPIDs(s.state))
	return 0
}

// TestGatewayKilled: with 2 gateways per region, SIGKILL of one source
// gateway, or of one destination gateway, midway does not fail the
// transfer: its chunks go again through the survivor.
func TestGatewayKilled(t *testing.T) {
	for _, victim := range []string{"src-1", "dst1-1"} {
		t.Run(victim, func(t *testing.T) {
			s := newSandbox(t)
			s.useGateways()
			src, dst := s.path("src"), s.path("dst")
			for i := range 24 {
				writeFile(t, filepath.Join(src, fmt.Sprintf("d%d/f%02d", i%4, i)), randomBytes(t, 512<<10+i))
			}
			writeRandomFile(t, filepath.Join(src, "striped"), 24<<20)
			s.config("multipart_min_threshold_mb", "4", "multipart_chunk_size_mb", "4", "num_connections", "2")

			w := s.watch([]string{"SKYPLANE_TEST_FRAME_DELAY_MS=150"}, "cp", "-r", "-y", "--json", "-n", "2", src, dst)
			if w.waitProgress(midway(0.5)) == 0 {
				t.Fatal("never caught the transfer midway")
			}
			if err := syscall.Kill(gatewayPID(t, s, victim), syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if err := w.finish(t); err != nil {
				t.Fatalf("transfer failed after killing %s: %v\n%s", victim, err, w.stderr.String())
			}
			assertTreesEqual(t, src, dst)
			done := doneEvent(t, w.out.String())
			if lost := done["gateways_lost"].(float64); lost != 1 {
				t.Errorf("summary reports %v gateways lost, want 1", lost)
			}
		})
	}
}
