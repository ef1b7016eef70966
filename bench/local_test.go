// Package bench measures skyplane against the tools users would otherwise
// pick, side by side in one run, and reports ratios.
//
//	go test -run xxx -bench . -benchtime 3x ./bench/            # 1 GiB
//	SKYPLANE_BENCH_MB=256 go test -run xxx -bench . -benchtime 1x ./bench/   # quick
package bench

import (
	"crypto/rand"
	"fmt"
	"github.com/skyplane-project/skyplane-go/internal/testbin"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func skyplaneBinary(b *testing.B) string {
	bin, err := testbin.Once("skyplane-bench-")
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

func benchBytes() int64 {
	mb, err := strconv.Atoi(os.Getenv("SKYPLANE_BENCH_MB"))
	if err != nil || mb <= 0 {
		mb = 1024
	}
	return int64(mb) << 20
}

// makeTree writes total bytes: three quarters as 64 MiB random files (big,
// striped objects), one quarter as 256 KiB text files (many small objects).
func makeTree(b *testing.B, root string, total int64) int64 {
	b.Helper()
	var written int64
	big := total * 3 / 4
	for i := 0; written < big; i++ {
		n := min(64<<20, big-written)
		writeRandom(b, filepath.Join(root, "big", fmt.Sprintf("blob%03d", i)), n)
		written += n
	}
	text := []byte(strings.Repeat("skyplane moves bulk data between object stores through gateways. ", 4096))[:256<<10]
	for i := 0; written < total; i++ {
		p := filepath.Join(root, "small", fmt.Sprintf("d%02d", i%16), fmt.Sprintf("f%05d.txt", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, text, 0o644); err != nil {
			b.Fatal(err)
		}
		written += int64(len(text))
	}
	return written
}

func writeRandom(b *testing.B, p string, n int64) {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.CopyN(f, rand.Reader, n); err != nil {
		b.Fatal(err)
	}
}

func timeCmd(b *testing.B, env []string, name string, args ...string) time.Duration {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return time.Since(start)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkLocalCopy copies the same tree with plain `cp -r` and with
// `skyplane cp -r` through local gateway processes, alternating, and
// reports each tool's MB/s (median over b.N runs) and skyplane's ratio to cp.
// "default" is the shipped config (LZ4 + AES-GCM + MD5); "plain" turns
// compression and encryption off, as intra-region transfers do.
func BenchmarkLocalCopy(b *testing.B) {
	bin := skyplaneBinary(b)
	root := b.TempDir()
	src := filepath.Join(root, "src")
	total := makeTree(b, src, benchBytes())
	for _, mode := range []struct {
		name string
		cfg  []string
	}{
		{"default", nil},
		{"plain", []string{"compress", "false", "encrypt_e2e", "false"}},
	} {
		b.Run(mode.name, func(b *testing.B) {
			home := b.TempDir()
			env := []string{"SKYPLANE_CONFIG=" + filepath.Join(home, "config"), "SKYPLANE_STATE_DIR=" + filepath.Join(home, "state"), "SKYPLANE_USAGE_STATS_ENABLED=0"}
			for i := 0; i < len(mode.cfg); i += 2 {
				timeCmd(b, env, bin, "config", "set", mode.cfg[i], mode.cfg[i+1])
			}
			var cpT, skyT []time.Duration
			b.SetBytes(total)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				dst := filepath.Join(root, "dst")
				cpT = append(cpT, timeCmd(b, nil, "cp", "-r", src, dst))
				os.RemoveAll(dst)
				skyT = append(skyT, timeCmd(b, env, bin, "cp", "-r", "-y", src, dst))
				os.RemoveAll(dst)
				os.RemoveAll(filepath.Join(home, "state"))
			}
			b.StopTimer()
			mbps := func(d time.Duration) float64 { return float64(total) / 1e6 / d.Seconds() }
			cp, sky := median(cpT), median(skyT)
			b.ReportMetric(mbps(sky), "skyplane_MB/s")
			b.ReportMetric(mbps(cp), "cp_MB/s")
			b.ReportMetric(cp.Seconds()/sky.Seconds(), "ratio_vs_cp")
			b.Logf("%s: %d MB: skyplane %.0f MB/s, cp -r %.0f MB/s, ratio %.2f (median of %d)", mode.name, total/1e6, mbps(sky), mbps(cp), cp.Seconds()/sky.Seconds(), b.N)
		})
	}
}
