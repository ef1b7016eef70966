package skyplane_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/skyplane-project/skyplane-go/internal/testbin"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go"
	"github.com/skyplane-project/skyplane-go/internal/compute/local"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skyplane-api-bin-")
	if err != nil {
		panic(err)
	}
	bin, err := testbin.Build(dir, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("SKYPLANE_GATEWAY_BIN", bin)
	// The examples run as a user's program would: the skyplane binary on
	// PATH is what local gateways run.
	os.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	// The library's default state directory is ~/.skyplane: keep it here.
	os.Setenv("HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func tree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func assertFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, []byte(want)) {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// running counts live gateway processes whose boot file was under dir.
func running(dir string) int { return len(local.Running(dir)) }

func smallConfig() skyplane.Config {
	cfg := skyplane.DefaultConfig()
	cfg.NumConnections = 4
	cfg.MultipartMinThresholdMB = 1
	cfg.MultipartChunkSizeMB = 1
	cfg.GatewayBinary = os.Getenv("SKYPLANE_GATEWAY_BIN") // what TestMain built
	return cfg
}

// gatewayConfig is smallConfig with gateways forced: what tests of gateway
// processes need (local gateways would otherwise be skipped).
func gatewayConfig() skyplane.Config {
	cfg := smallConfig()
	cfg.InProcess = false
	return cfg
}

// TestClientCopy copies a tree in process (the default on this machine)
// and through gateway processes; text is compressed on the wire only there.
func TestClientCopy(t *testing.T) {
	for _, inProcess := range []bool{true, false} {
		t.Run(map[bool]string{true: "in-process", false: "gateways"}[inProcess], func(t *testing.T) {
			src, dst, dir := t.TempDir(), t.TempDir(), t.TempDir()
			files := map[string]string{"a": "alpha", "x/b": "beta", "x/y/c": strings.Repeat("striped ", 400_000), "empty": ""}
			tree(t, src, files)
			cfg := smallConfig()
			cfg.InProcess = inProcess
			client := skyplane.NewClient(cfg, skyplane.WithDir(dir))
			var calls int
			res, err := client.Copy(context.Background(), src, dst+"/out", skyplane.CopyOptions{Recursive: true, Progress: func(skyplane.Progress) { calls++ }})
			if err != nil {
				t.Fatal(err)
			}
			assertFiles(t, filepath.Join(dst, "out"), files)
			if res.Objects != 4 {
				t.Errorf("objects = %d, want 4", res.Objects)
			}
			if want := int64(len("alpha") + len("beta") + 3_200_000); res.Bytes != want {
				t.Errorf("bytes = %d, want %d", res.Bytes, want)
			}
			if res.InProcess != inProcess {
				t.Errorf("InProcess = %v, want %v", res.InProcess, inProcess)
			}
			if inProcess && res.WireBytes != 0 {
				t.Errorf("in process, %d wire bytes: nothing crosses a wire", res.WireBytes)
			}
			if !inProcess && (res.WireBytes <= 0 || res.WireBytes >= res.Bytes) {
				t.Errorf("wire bytes %d for %d raw bytes of repetitive text", res.WireBytes, res.Bytes)
			}
			if n := res.VerifiedMD5 + res.VerifiedETag + res.VerifiedSize; n != 4 {
				t.Errorf("%d objects verified, want 4", n)
			}
			if calls == 0 {
				t.Error("progress callback never called")
			}
			if n := running(dir); n != 0 {
				t.Errorf("%d gateways still running after Copy", n)
			}
		})
	}
}

func TestClientCopyErrors(t *testing.T) {
	client := skyplane.NewClient(smallConfig(), skyplane.WithDir(t.TempDir()))
	src := t.TempDir()
	tree(t, src, map[string]string{"dir/a": "a"})
	tests := []struct {
		name      string
		src       string
		recursive bool
		want      error
	}{
		{"missing object", src + "/nope", false, skyplane.ErrNotFound},
		{"prefix without recursive", src + "/dir/", false, skyplane.ErrIsPrefix},
		{"empty prefix", src + "/nothing", true, skyplane.ErrNoObjects},
		{"malformed URL", "s3://", false, skyplane.ErrInvalidInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.Copy(context.Background(), tt.src, t.TempDir()+"/x", skyplane.CopyOptions{Recursive: tt.recursive})
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestDataplaneQueueRunAsync mirrors the Python API: provision once, queue
// two copies and a sync, run asynchronously, watch the tracker, tear down.
func TestDataplaneQueueRunAsync(t *testing.T) {
	dir := t.TempDir()
	client := skyplane.NewClient(gatewayConfig(), skyplane.WithDir(dir))
	dp, err := client.Dataplane(skyplane.DataplaneOptions{Gateways: 2})
	if err != nil {
		t.Fatal(err)
	}
	if dp.Gateways() != 4 {
		t.Errorf("plan has %d gateways, want 2 per region", dp.Gateways())
	}
	ctx := context.Background()
	if err := dp.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer dp.Deprovision(ctx)
	if n := running(dir); n != 4 {
		t.Errorf("%d gateway processes after Provision, want 4", n)
	}
	srcA, srcB, dst := t.TempDir(), t.TempDir(), t.TempDir()
	filesA := map[string]string{"1": strings.Repeat("a", 3<<20), "2": "two"}
	filesB := map[string]string{"k/3": "three"}
	tree(t, srcA, filesA)
	tree(t, srcB, filesB)
	if err := dp.QueueCopy(srcA, dst+"/a", skyplane.QueueCopyOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	if err := dp.QueueCopy(srcB+"/k/3", dst+"/b/", skyplane.QueueCopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := dp.QueueSync(srcB, dst+"/c", skyplane.QueueSyncOptions{}); err != nil {
		t.Fatal(err)
	}
	tracker := dp.RunAsync(ctx)
	select {
	case <-tracker.Done():
	case <-time.After(2 * time.Minute):
		t.Fatal("transfer did not finish")
	}
	res, err := tracker.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if rem, known := tracker.BytesRemaining(); rem != 0 || !known {
		t.Errorf("bytes remaining after Wait = %d (known %t), want 0 (known)", rem, known)
	}
	if res.Objects != 4 {
		t.Errorf("objects = %d, want 4", res.Objects)
	}
	assertFiles(t, filepath.Join(dst, "a"), filesA)
	assertFiles(t, filepath.Join(dst, "b"), map[string]string{"3": "three"})
	assertFiles(t, filepath.Join(dst, "c"), filesB)

	// The same gateways serve a second run.
	if err := dp.QueueSync(srcA, dst+"/a", skyplane.QueueSyncOptions{}); err != nil {
		t.Fatal(err)
	}
	res, err = dp.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != 0 {
		t.Errorf("sync of an up-to-date copy moved %d objects", res.Objects)
	}
	if err := dp.Deprovision(ctx); err != nil {
		t.Fatal(err)
	}
	if n := running(dir); n != 0 {
		t.Errorf("%d gateways running after Deprovision", n)
	}
}

func TestAutoDeprovision(t *testing.T) {
	for _, mode := range []string{"error", "panic"} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			client := skyplane.NewClient(gatewayConfig(), skyplane.WithDir(dir))
			dp, err := client.Dataplane(skyplane.DataplaneOptions{Src: skyplane.Region{Cloud: "local"}, Gateways: 1})
			if err != nil {
				t.Fatal(err)
			}
			boom := errors.New("boom")
			var sawGateways int
			func() {
				defer func() {
					if r := recover(); (r != nil) != (mode == "panic") {
						t.Errorf("recover() = %v in mode %s", r, mode)
					}
				}()
				err = dp.AutoDeprovision(context.Background(), func(*skyplane.Dataplane) error {
					sawGateways = running(dir)
					if mode == "panic" {
						panic(boom)
					}
					return boom
				})
			}()
			if mode == "error" && !errors.Is(err, boom) {
				t.Errorf("err = %v, want boom", err)
			}
			if sawGateways != 2 {
				t.Errorf("%d gateways while running, want 2", sawGateways)
			}
			if n := running(dir); n != 0 {
				t.Errorf("%d gateways left after %s", n, mode)
			}
		})
	}
}
