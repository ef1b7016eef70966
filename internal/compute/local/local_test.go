package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/testbin"

	"github.com/skyplane-project/skyplane-go/internal/compute"
)

// binDir holds the skyplane binary the tests build once (TestMain removes it).
var (
	binDir   string
	binOnce  sync.Once
	binPath  string
	binError error
)

// buildSkyplane builds the real binary the provider runs, once per test run.
func buildSkyplane(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binError = os.MkdirTemp("", "skyplane-local-test-"); binError == nil {
			binPath, binError = testbin.Build(binDir, false)
		}
	})
	if binError != nil {
		t.Fatal(binError)
	}
	return binPath
}

func TestProvisionDeprovision(t *testing.T) {
	bin := buildSkyplane(t)
	dir := t.TempDir()
	p := New(bin)
	specs := []compute.Spec{{ID: "src-0", Region: "local:src"}, {ID: "dst1-0", Region: "local:dst"}, {ID: "dst1-1", Region: "local:dst"}}
	insts, err := p.Provision(context.Background(), specs, compute.Shared{Secret: "s", Key: make([]byte, 32), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(insts) != 3 || insts[0].Control == "" || insts[0].Data == "" || insts[0].PID == 0 {
		t.Fatalf("instances %+v", insts)
	}
	if got := Running(dir); len(got) != 3 {
		t.Errorf("Running = %v, want 3 gateways", got)
	}
	// The boot files (secret and key) are gone once the gateways read them.
	if m, _ := filepath.Glob(filepath.Join(dir, "*.boot.json")); len(m) != 0 {
		t.Errorf("boot files left: %v", m)
	}
	if err := p.Deprovision(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := Running(dir); len(got) != 0 {
		t.Errorf("gateways left after Deprovision: %v", got)
	}
	// Gateways write their final stats on the way out.
	if m, _ := filepath.Glob(filepath.Join(dir, "*.stats.json")); len(m) != 3 {
		t.Errorf("stats files: %v", m)
	}
	if err := p.Deprovision(context.Background()); err != nil {
		t.Errorf("second Deprovision: %v", err)
	}
}

func TestProvisionFailureCleansUp(t *testing.T) {
	dir := t.TempDir()
	// A binary that exits at once: no gateway ever becomes ready.
	p := New("/bin/false")
	_, err := p.Provision(context.Background(), []compute.Spec{{ID: "a"}, {ID: "b"}}, compute.Shared{Secret: "s", Key: make([]byte, 32), Dir: dir})
	if err == nil {
		t.Fatal("Provision with a broken binary succeeded")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.boot.json")); len(m) != 0 {
		t.Errorf("boot files left after a failed start: %v", m)
	}
}

// Without a full dataplane key no gateway starts: they would run
// unauthenticated data ports.
func TestProvisionNeedsKey(t *testing.T) {
	for _, key := range [][]byte{nil, make([]byte, 16)} {
		dir := t.TempDir()
		_, err := New("/bin/true").Provision(context.Background(), []compute.Spec{{ID: "a"}}, compute.Shared{Secret: "s", Key: key, Dir: dir})
		if err == nil || !strings.Contains(err.Error(), "dataplane key") {
			t.Fatalf("%d-byte key: err = %v", len(key), err)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
			t.Fatalf("files written: %v", m)
		}
	}
}

func TestRunningAndKill(t *testing.T) {
	bin := buildSkyplane(t)
	dir := t.TempDir()
	p := New(bin)
	if _, err := p.Provision(context.Background(), []compute.Spec{{ID: "g"}}, compute.Shared{Secret: "s", Key: make([]byte, 32), Dir: dir}); err != nil {
		t.Fatal(err)
	}
	defer p.Deprovision(context.Background())
	if got := Running(filepath.Join(dir, "..", filepath.Base(dir)+"-other")); len(got) != 0 {
		t.Errorf("a sibling directory matched: %v", got)
	}
	pids := Running(dir)
	if Kill(pids) != 1 {
		t.Fatalf("killed %v", pids)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(Running(dir)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := Running(dir); len(got) != 0 {
		t.Errorf("still running after Kill: %v", got)
	}
}

func TestResolveBinary(t *testing.T) {
	if got, _ := ResolveBinary("/explicit"); got != "/explicit" {
		t.Errorf("explicit: %s", got)
	}
	// The environment is the CLI's to read: the provider ignores it.
	t.Setenv("SKYPLANE_GATEWAY_BIN", "/opt/skyplane")
	t.Setenv("PATH", t.TempDir())
	if got, err := ResolveBinary(""); err == nil {
		t.Errorf("no binary anywhere, yet %q", got)
	}
}
