package skyplane

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCrossBuild gets a gateway binary for a platform other than the
// client's: the one beside the client's binary when there is one, else a
// real `go build` for it from this checkout (cached: asked again, no
// rebuild), else an error naming the platform and the fix.
func TestCrossBuild(t *testing.T) {
	dir := t.TempDir()
	client := filepath.Join(dir, "skyplane")
	writeTestFile(t, client, "client")
	cases := []struct {
		name     string
		setup    func(b *crossBuilder)
		platform string
		check    func(t *testing.T, b *crossBuilder, got string, err error)
	}{
		{name: "beside the client", platform: "linux/riscv64",
			setup: func(b *crossBuilder) { writeTestFile(t, filepath.Join(dir, "skyplane-linux-riscv64"), "riscv") },
			check: func(t *testing.T, _ *crossBuilder, got string, err error) {
				if err != nil || got != filepath.Join(dir, "skyplane-linux-riscv64") {
					t.Errorf("got %q, %v; want the binary beside the client", got, err)
				}
			}},
		{name: "no source to build from", platform: "linux/arm64",
			setup: func(b *crossBuilder) { b.src = "" },
			check: func(t *testing.T, _ *crossBuilder, got string, err error) {
				for _, w := range []string{"linux/arm64", filepath.Join(dir, "skyplane-linux-arm64"), "GOOS=linux GOARCH=arm64 go build"} {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("error %v lacks %q", err, w)
					}
				}
			}},
		{name: "cross-built from the source", platform: "linux/arm64",
			check: func(t *testing.T, b *crossBuilder, got string, err error) {
				if err != nil {
					t.Fatal(err)
				}
				f, err := elf.Open(got)
				if err != nil {
					t.Fatalf("%s: %v", got, err)
				}
				defer f.Close()
				if f.Machine != elf.EM_AARCH64 {
					t.Errorf("%s is for %v, want aarch64", got, f.Machine)
				}
				st1, _ := os.Stat(got)
				again, err := b.binaryFor(t.Context(), "linux/arm64")
				st2, _ := os.Stat(again)
				if err != nil || again != got || !st2.ModTime().Equal(st1.ModTime()) {
					t.Errorf("asked again: %q, %v (was %q): want the cached binary, not a rebuild", again, err, got)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "cross-built from the source" && testing.Short() {
				t.Skip("-short: a cross-build of skyplane takes minutes on a cold build cache")
			}
			b := newCrossBuilder(client, t.TempDir())
			if b.src == "" || b.goTool == "" {
				t.Fatalf("test run outside a checkout or without go on PATH (src %q, go %q)", b.src, b.goTool)
			}
			if c.setup != nil {
				c.setup(b)
			}
			got, err := b.binaryFor(t.Context(), c.platform)
			c.check(t, b, got, err)
		})
	}
}

func writeTestFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o755); err != nil {
		t.Fatal(err)
	}
}
