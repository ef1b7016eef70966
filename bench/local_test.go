// Package bench measures skyplane against the tools users would otherwise
// pick, side by side in one run, and reports ratios.
//
//	go test -run xxx -bench . -benchtime 3x ./bench/            # 1 GiB
//	SKYPLANE_BENCH_MB=256 go test -run xxx -bench . -benchtime 1x ./bench/   # quick
//
// Every row reports wall time and CPU-seconds per GiB (user + system of the
// tool and every process it waited for, skyplane's gateways included).
package bench

import (
	"cmp"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/bench/lab"
	"github.com/skyplane-project/skyplane-go/internal/testbin"
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

// measured is one command's wall time and CPU time (user + system of it
// and every process it waited for: skyplane's gateways included).
type measured struct{ wall, cpu time.Duration }

func timeCmd(b *testing.B, env []string, name string, args ...string) measured {
	b.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return measured{wall: time.Since(start), cpu: lab.CPUTime(cmd.ProcessState)}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// tool is one contender of the local copy: how to run it into dst.
type tool struct {
	name string
	run  func(dst string) measured
}

// BenchmarkLocalCopy copies the same tree with `cp -r`, `cp -r` followed by
// `sync` (skyplane makes what it writes durable: the same guarantee), and
// `skyplane cp -r` in process (the default here: no gateway), through local
// gateway processes (--gateways: LZ4 + AES-GCM + MD5) and through gateways
// with compression and encryption off ("plain", as intra-region transfers
// run), alternating. It reports each tool's MB/s and CPU-seconds per GiB
// (medians over b.N runs), and writes the rows to local.json and local.md
// in $SKYPLANE_BENCH_RESULTS (default bench/results).
func BenchmarkLocalCopy(b *testing.B) {
	bin := skyplaneBinary(b)
	root := b.TempDir()
	src := filepath.Join(root, "src")
	total := makeTree(b, src, benchBytes())
	home := b.TempDir()
	sky := func(extra ...string) func(string) measured {
		env := []string{"SKYPLANE_CONFIG=" + filepath.Join(home, "config"), "SKYPLANE_STATE_DIR=" + filepath.Join(home, "state"), "SKYPLANE_USAGE_STATS_ENABLED=0"}
		return func(dst string) measured {
			defer os.RemoveAll(filepath.Join(home, "state"))
			return timeCmd(b, env, bin, append(append([]string{"cp", "-r", "-y"}, extra...), src, dst)...)
		}
	}
	plainHome := b.TempDir()
	plainEnv := []string{"SKYPLANE_CONFIG=" + filepath.Join(plainHome, "config"), "SKYPLANE_STATE_DIR=" + filepath.Join(plainHome, "state"), "SKYPLANE_USAGE_STATS_ENABLED=0"}
	for _, kv := range [][2]string{{"compress", "false"}, {"encrypt_e2e", "false"}, {"in_process", "false"}} {
		timeCmd(b, plainEnv, bin, "config", "set", kv[0], kv[1])
	}
	tools := []tool{
		{"cp -r", func(dst string) measured { return timeCmd(b, nil, "cp", "-r", src, dst) }},
		{"cp -r && sync", func(dst string) measured { return timeCmd(b, nil, "sh", "-c", `cp -r "$0" "$1" && sync`, src, dst) }},
		{"skyplane in-process", sky()},
		{"skyplane --gateways", sky("--gateways")},
		{"skyplane --gateways plain", func(dst string) measured {
			defer os.RemoveAll(filepath.Join(plainHome, "state"))
			return timeCmd(b, plainEnv, bin, "cp", "-r", "-y", src, dst)
		}},
	}
	walls := make([][]time.Duration, len(tools))
	cpus := make([][]time.Duration, len(tools))
	b.SetBytes(total)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, t := range tools {
			dst := filepath.Join(root, "dst")
			m := t.run(dst)
			os.RemoveAll(dst)
			walls[j], cpus[j] = append(walls[j], m.wall), append(cpus[j], m.cpu)
		}
	}
	b.StopTimer()
	workload := fmt.Sprintf("local-%dMiB", total>>20)
	var rows []lab.Row
	for j, t := range tools {
		rows = append(rows, lab.Row{Workload: workload, Kind: "copy", Tool: t.name, Runs: b.N, RawBytes: total,
			MedianSeconds: median(walls[j]).Seconds(), CPUSeconds: median(cpus[j]).Seconds()})
	}
	lab.Finish(rows, lab.Meta{})
	for _, r := range rows {
		metric := strings.NewReplacer(" ", "_", "-", "", "&", "").Replace(r.Tool)
		b.ReportMetric(r.GoodputMBps, metric+"_MB/s")
		b.ReportMetric(r.CPUSecondsPerGiB, metric+"_CPU-s/GiB")
	}
	dir := cmp.Or(os.Getenv("SKYPLANE_BENCH_RESULTS"), "results")
	md, err := writeLocalReport(dir, rows)
	if err != nil {
		b.Fatal(err)
	}
	b.Log("\n" + md)
}

// writeLocalReport writes rows to dir/local.json and a markdown table (each
// tool's ratio to plain `cp -r`) to dir/local.md, and returns the table.
func writeLocalReport(dir string, rows []lab.Row) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	js, err := json.MarshalIndent(map[string]any{"date": time.Now().UTC(), "rows": rows}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "local.json"), append(js, '\n'), 0o644); err != nil {
		return "", err
	}
	var cp float64
	for _, r := range rows {
		if r.Tool == "cp -r" {
			cp = r.GoodputMBps
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "Local copy, %s, median of %d run(s).\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), rows[0].Runs)
	sb.WriteString("| workload | tool | MB/s | ratio vs cp -r | CPU-s/GiB |\n| --- | --- | ---: | ---: | ---: |\n")
	for _, r := range rows {
		ratio := 0.0
		if cp > 0 {
			ratio = r.GoodputMBps / cp
		}
		fmt.Fprintf(&sb, "| %s | %s | %.0f | %.2f | %.2f |\n", r.Workload, r.Tool, r.GoodputMBps, ratio, r.CPUSecondsPerGiB)
	}
	md := sb.String()
	return md, os.WriteFile(filepath.Join(dir, "local.md"), []byte(md), 0o644)
}
