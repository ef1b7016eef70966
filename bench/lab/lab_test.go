// Package lab measures skyplane against rclone, s5cmd and aws-cli across an
// emulated WAN link (scripts/lab.sh), side by side in one run.
//
//	scripts/lab.sh start && . .tools/lab.env
//	go test -run xxx -bench WAN -benchtime 1x ./bench/lab/
//	scripts/lab.sh stop
//
// or simply `make bench-quick`. It is a benchmark, not a test: without the
// lab's environment (.tools/lab.env) it skips.
//
// Environment (besides lab.env):
//
//	LAB_OBJECTS    objects in the large-object workload (default 4)
//	LAB_OBJECT_MB  size of each, MiB (default 64)
//	LAB_RUNS       runs per tool; the median is reported (default 3)
//	LAB_TOOLS      comma-separated subset of tools to run (default all)
//	LAB_RESULTS    results directory (default ../results, i.e. bench/results)
package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"github.com/skyplane-project/skyplane-go/internal/testbin"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/skyplane-project/skyplane-go/internal/faults"
)

const (
	srcBucket    = "lab-src"    // on the source region's server
	skyDstBucket = "lab-skydst" // skyplane's destination: on the SOURCE server (one s3_endpoint, see below)
	dstBucket    = "lab-dst"    // peers' destination: on the destination region's server
	prefix       = "large/"
	skyProxies   = "lab-sky-"
)

// Tuning of the peers: their documented knobs for big objects over a
// high-latency link, sized to 32 connections across the WAN, like
// skyplane's default num_connections (32 per gateway pair).
const (
	rcloneTransfers  = 4
	rcloneStreams    = 8
	rcloneChunk      = "16M"
	rcloneUploadConc = 8
	s5Workers        = 32
	s5Concurrency    = 8
	s5PartMB         = 16
	awsConcurrent    = 32
	awsChunk         = "16MB"
	skyConnections   = 32
	peerFlows        = 32
)

type lab struct {
	key, secret       string
	src, srcWAN, dst  string
	toxiproxy, toxics string
	rttMS, flowMbps   float64
	bin               string
}

func env(b *testing.B) lab {
	l := lab{
		key: os.Getenv("LAB_ACCESS_KEY"), secret: os.Getenv("LAB_SECRET_KEY"),
		src: os.Getenv("LAB_SRC_ENDPOINT"), srcWAN: os.Getenv("LAB_SRC_WAN_ENDPOINT"), dst: os.Getenv("LAB_DST_ENDPOINT"),
		toxiproxy: os.Getenv("LAB_TOXIPROXY"), toxics: os.Getenv("LAB_TOXICS"), bin: os.Getenv("LAB_BIN"),
	}
	if os.Getenv("SKYPLANE_LAB") == "" || l.src == "" || l.srcWAN == "" || l.dst == "" || l.toxiproxy == "" {
		b.Skip("WAN lab not running: `scripts/lab.sh start && . .tools/lab.env` first (or `make bench-quick`)")
	}
	l.rttMS, _ = strconv.ParseFloat(os.Getenv("LAB_RTT_MS"), 64)
	l.flowMbps, _ = strconv.ParseFloat(os.Getenv("LAB_FLOW_MBPS"), 64)
	return l
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func (l lab) s3(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(l.key, l.secret, ""),
	})
}

func mkBucket(b *testing.B, c *s3.Client, bucket string) {
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	if err != nil && !strings.Contains(err.Error(), "BucketAlready") {
		b.Fatalf("create bucket %s: %v", bucket, err)
	}
}

// emptyBucket deletes every object of a bucket.
func emptyBucket(b *testing.B, c *s3.Client, bucket string) {
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			b.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: o.Key}); err != nil {
				b.Fatalf("delete %s/%s: %v", bucket, *o.Key, err)
			}
		}
	}
}

// checkBucket verifies that a run delivered every object at its size.
func checkBucket(b *testing.B, c *s3.Client, bucket string, want map[string]int64) {
	got := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			b.Fatalf("list %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			got[*o.Key] = *o.Size
		}
	}
	for k, n := range want {
		if got[k] != n {
			b.Fatalf("%s/%s: got %d bytes, want %d (have %d objects)", bucket, k, got[k], n, len(got))
		}
	}
}

var (
	uploadOnce sync.Once
	uploaded   map[string]int64
)

// upload writes the workload to the source bucket once per process.
func upload(b *testing.B, l lab, n int, size int64) map[string]int64 {
	uploadOnce.Do(func() {
		c := l.s3(l.src)
		for _, bk := range []string{srcBucket, skyDstBucket} {
			mkBucket(b, c, bk)
		}
		mkBucket(b, l.s3(l.dst), dstBucket)
		uploaded = map[string]int64{}
		buf := make([]byte, size)
		for i := 0; i < n; i++ {
			if _, err := io.ReadFull(rand.Reader, buf); err != nil {
				b.Fatal(err)
			}
			key := fmt.Sprintf("%sblob%03d", prefix, i)
			if _, err := c.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String(srcBucket), Key: aws.String(key), Body: bytes.NewReader(buf), ContentLength: aws.Int64(size),
			}); err != nil {
				b.Fatalf("upload %s: %v", key, err)
			}
			uploaded[key] = size
		}
	})
	if uploaded == nil {
		b.Fatal("upload failed earlier")
	}
	return uploaded
}

var (
	buildOnce sync.Once
	skyBin    string
	buildErr  error
)

func skyplaneBinary(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "skyplane-lab-")
		if err != nil {
			buildErr = err
			return
		}
		skyBin, buildErr = testbin.Build(dir, false)
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return skyBin
}

// run is one timed command; peak RSS comes from /usr/bin/time -v when present
// (the largest single process among the command and its waited-for children).
type run struct {
	d      time.Duration
	rssMB  float64
	stdout []byte
}

var rssRE = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)

func timeCmd(b *testing.B, env []string, name string, args ...string) run {
	b.Helper()
	var rssFile string
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		f, err := os.CreateTemp("", "lab-time-")
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
		rssFile = f.Name()
		defer os.Remove(rssFile)
		args = append([]string{"-v", "-o", rssFile, name}, args...)
		name = "/usr/bin/time"
	}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, tail(out.Bytes()), tail(errb.Bytes()))
	}
	r := run{d: d, stdout: out.Bytes()}
	if rssFile != "" {
		if txt, err := os.ReadFile(rssFile); err == nil {
			if m := rssRE.FindSubmatch(txt); m != nil {
				kb, _ := strconv.ParseFloat(string(m[1]), 64)
				r.rssMB = kb / 1024
			}
		}
	}
	return r
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// tool is one contender: setup once, then each run copies the workload from
// the source bucket to its destination and returns the timed run(s).
type tool struct {
	name     string
	settings string
	flows    int                             // connections crossing the WAN
	bucket   string                          // destination bucket
	dstURL   string                          // destination server
	run      func(b *testing.B) (run, int64) // run and wire bytes (0: unknown)
}

type row struct {
	Workload         string  `json:"workload"`
	Tool             string  `json:"tool"`
	Settings         string  `json:"settings"`
	Runs             int     `json:"runs"`
	MedianSeconds    float64 `json:"median_s"`
	GoodputMBps      float64 `json:"goodput_mbps"`
	RatioVsSkyplane  float64 `json:"ratio_vs_skyplane"`
	LinkCapacityMbps float64 `json:"link_capacity_mbps"`
	PctOfLink        float64 `json:"pct_of_link"`
	WireBytes        int64   `json:"wire_bytes"`
	RawBytes         int64   `json:"raw_bytes"`
	Objects          int     `json:"objects"`
	PeakRSSMB        float64 `json:"peak_rss_mb"`
}

func has(path string) bool { _, err := os.Stat(path); return err == nil }

// BenchmarkWAN copies large random objects from the source region to the
// destination region with every tool, alternating, LAB_RUNS times each, and
// reports the medians. Run with -benchtime 1x: the runs are counted inside.
func BenchmarkWAN(b *testing.B) {
	l := env(b)
	nObj, objMB, runs := envInt("LAB_OBJECTS", 4), envInt("LAB_OBJECT_MB", 64), envInt("LAB_RUNS", 3)
	size := int64(objMB) << 20
	objects := upload(b, l, nObj, size)
	raw := int64(nObj) * size
	workload := fmt.Sprintf("large-%dx%dMiB", nObj, objMB)
	tmp := b.TempDir()
	awsCreds := []string{"AWS_ACCESS_KEY_ID=" + l.key, "AWS_SECRET_ACCESS_KEY=" + l.secret, "AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true"}

	var tools []tool

	// skyplane: its gateways are placed in the regions (source gateway reads
	// the source server directly); every gateway-to-gateway connection crosses
	// the WAN through its own toxiproxy proxy with the link's toxics.
	//
	// skyplane has ONE s3_endpoint for every S3 store, so it cannot copy
	// between two S3 servers: its destination bucket lives on the source
	// region's server (same versitygw binary, same machine as the peers' dst).
	sky := skyplaneBinary(b)
	for _, n := range []int{1, 2} {
		home := filepath.Join(tmp, fmt.Sprintf("sky-n%d", n))
		skyEnv := append(slices.Clone(awsCreds),
			"SKYPLANE_CONFIG="+filepath.Join(home, "config"), "SKYPLANE_STATE_DIR="+filepath.Join(home, "state"),
			"SKYPLANE_USAGE_STATS_ENABLED=0",
			"SKYPLANE_TEST_TOXIPROXY="+l.toxiproxy, "SKYPLANE_TEST_TOXICS="+l.toxics, "SKYPLANE_TEST_TOXIPROXY_PREFIX="+skyProxies)
		timeCmd(b, skyEnv, sky, "config", "set", "s3_endpoint", l.src)
		n := n
		tools = append(tools, tool{
			name:     fmt.Sprintf("skyplane -n %d", n),
			settings: fmt.Sprintf("default config, s3_endpoint=src, -n %d (%d connections per gateway pair)", n, skyConnections),
			flows:    n * skyConnections, bucket: skyDstBucket, dstURL: l.src,
			run: func(b *testing.B) (run, int64) {
				os.RemoveAll(filepath.Join(home, "state"))
				r := timeCmd(b, skyEnv, sky, "cp", "-r", "-y", "--json", "-n", strconv.Itoa(n),
					"s3://"+srcBucket+"/"+prefix, "s3://"+skyDstBucket+"/"+prefix)
				return r, wireBytes(r.stdout)
			},
		})
	}

	bin := l.bin
	want := func(name string) bool {
		sel := os.Getenv("LAB_TOOLS")
		return sel == "" || slices.Contains(strings.Split(sel, ","), name)
	}

	// rclone streams source → destination (no local disk).
	if p := filepath.Join(bin, "rclone"); has(p) && want("rclone") {
		rEnv := []string{}
		for _, r := range []struct{ name, ep string }{{"SRC", l.srcWAN}, {"DST", l.dst}} {
			rEnv = append(rEnv, "RCLONE_CONFIG_"+r.name+"_TYPE=s3", "RCLONE_CONFIG_"+r.name+"_PROVIDER=Other",
				"RCLONE_CONFIG_"+r.name+"_ENDPOINT="+r.ep, "RCLONE_CONFIG_"+r.name+"_ACCESS_KEY_ID="+l.key,
				"RCLONE_CONFIG_"+r.name+"_SECRET_ACCESS_KEY="+l.secret, "RCLONE_CONFIG_"+r.name+"_REGION=us-east-1",
				"RCLONE_CONFIG_"+r.name+"_FORCE_PATH_STYLE=true")
		}
		args := []string{"copy", "--config", "/dev/null", "--transfers", strconv.Itoa(rcloneTransfers),
			"--multi-thread-streams", strconv.Itoa(rcloneStreams), "--multi-thread-cutoff", rcloneChunk,
			"--s3-chunk-size", rcloneChunk, "--s3-upload-concurrency", strconv.Itoa(rcloneUploadConc),
			"src:" + srcBucket + "/" + prefix, "dst:" + dstBucket + "/" + prefix}
		tools = append(tools, tool{
			name: "rclone", settings: "rclone " + strings.Join(args[3:len(args)-2], " "),
			flows: rcloneTransfers * rcloneStreams, bucket: dstBucket, dstURL: l.dst,
			run: func(b *testing.B) (run, int64) { return timeCmd(b, rEnv, p, args...), 0 },
		})
	} else {
		b.Logf("rclone: skipped (not in %s or not selected)", bin)
	}

	// s5cmd and aws-cli take one endpoint per command: placed in the
	// destination region they download across the WAN to local disk, then
	// upload to the destination server (timed together).
	stage := func(name string) string { return filepath.Join(tmp, "stage-"+name) }
	if p := filepath.Join(bin, "s5cmd"); has(p) && want("s5cmd") {
		common := []string{"--numworkers", strconv.Itoa(s5Workers)}
		cpArgs := []string{"cp", "--concurrency", strconv.Itoa(s5Concurrency), "--part-size", strconv.Itoa(s5PartMB)}
		tools = append(tools, tool{
			name:     "s5cmd",
			settings: fmt.Sprintf("s5cmd %s %s (download to disk, then upload)", strings.Join(common, " "), strings.Join(cpArgs, " ")),
			flows:    s5Workers, bucket: dstBucket, dstURL: l.dst,
			run: func(b *testing.B) (run, int64) {
				dir := stage("s5cmd")
				os.RemoveAll(dir)
				defer os.RemoveAll(dir)
				a := append(append(append([]string{"--endpoint-url", l.srcWAN}, common...), cpArgs...), "s3://"+srcBucket+"/"+prefix+"*", dir+"/")
				r1 := timeCmd(b, awsCreds, p, a...)
				a = append(append(append([]string{"--endpoint-url", l.dst}, common...), cpArgs...), dir+"/", "s3://"+dstBucket+"/"+prefix)
				r2 := timeCmd(b, awsCreds, p, a...)
				return run{d: r1.d + r2.d, rssMB: max(r1.rssMB, r2.rssMB)}, 0
			},
		})
	} else {
		b.Logf("s5cmd: skipped (not in %s or not selected)", bin)
	}

	if has("/usr/bin/aws") && want("aws-cli") {
		cfg := filepath.Join(tmp, "aws-config")
		cfgText := fmt.Sprintf("[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = %d\n  multipart_threshold = %s\n  multipart_chunksize = %s\n  max_queue_size = 1000\n", awsConcurrent, awsChunk, awsChunk)
		if err := os.WriteFile(cfg, []byte(cfgText), 0o644); err != nil {
			b.Fatal(err)
		}
		aEnv := append(slices.Clone(awsCreds), "AWS_CONFIG_FILE="+cfg, "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		tools = append(tools, tool{
			name:     "aws-cli",
			settings: fmt.Sprintf("aws s3 cp --recursive, max_concurrent_requests=%d multipart_chunksize=%s (download to disk, then upload)", awsConcurrent, awsChunk),
			flows:    awsConcurrent, bucket: dstBucket, dstURL: l.dst,
			run: func(b *testing.B) (run, int64) {
				dir := stage("aws")
				os.RemoveAll(dir)
				defer os.RemoveAll(dir)
				r1 := timeCmd(b, aEnv, "/usr/bin/aws", "--endpoint-url", l.srcWAN, "s3", "cp", "--recursive", "--only-show-errors", "s3://"+srcBucket+"/"+prefix, dir+"/")
				r2 := timeCmd(b, aEnv, "/usr/bin/aws", "--endpoint-url", l.dst, "s3", "cp", "--recursive", "--only-show-errors", dir+"/", "s3://"+dstBucket+"/"+prefix)
				return run{d: r1.d + r2.d, rssMB: max(r1.rssMB, r2.rssMB)}, 0
			},
		})
	} else {
		b.Logf("aws-cli: skipped (/usr/bin/aws missing or not selected)")
	}
	if !want("skyplane") {
		tools = tools[2:]
	}

	for _, t := range tools {
		b.Logf("%-14s %s", t.name, t.settings)
	}
	b.Logf("link: RTT %.0f ms, %.0f Mbit/s per connection; workload %s (%d MB)", l.rttMS, l.flowMbps, workload, raw/1e6)

	durs := make([][]time.Duration, len(tools))
	rss := make([]float64, len(tools))
	wire := make([]int64, len(tools))
	b.ResetTimer()
	for i := 0; i < runs; i++ {
		for j, t := range tools {
			c := l.s3(t.dstURL)
			emptyBucket(b, c, t.bucket)
			r, w := t.run(b)
			checkBucket(b, c, t.bucket, objects)
			durs[j] = append(durs[j], r.d)
			rss[j] = max(rss[j], r.rssMB)
			if w > 0 {
				wire[j] = w
			}
			b.Logf("run %d %-14s %6.2f s  %7.1f MB/s", i+1, t.name, r.d.Seconds(), float64(raw)/1e6/r.d.Seconds())
		}
	}
	b.StopTimer()
	cleanupProxies(b, l)

	rows := make([]row, len(tools))
	for j, t := range tools {
		med := median(durs[j])
		w := wire[j]
		if w == 0 {
			w = raw // peers send what they read: no compression
		}
		capMbps := float64(t.flows) * l.flowMbps
		gp := float64(raw) / 1e6 / med.Seconds()
		rows[j] = row{Workload: workload, Tool: t.name, Settings: t.settings, Runs: runs, MedianSeconds: med.Seconds(),
			GoodputMBps: gp, LinkCapacityMbps: capMbps, WireBytes: w, RawBytes: raw, Objects: nObj, PeakRSSMB: rss[j]}
		if capMbps > 0 {
			rows[j].PctOfLink = 100 * gp * 8 / capMbps
		}
		b.ReportMetric(gp, strings.ReplaceAll(t.name, " ", "")+"_MB/s")
	}
	var skyGP float64
	for _, r := range rows {
		if strings.HasPrefix(r.Tool, "skyplane") {
			skyGP = max(skyGP, r.GoodputMBps) // the best skyplane configuration
		}
	}
	for j := range rows {
		if skyGP > 0 {
			rows[j].RatioVsSkyplane = rows[j].GoodputMBps / skyGP
		}
	}
	writeResults(b, l, rows, tools)
}

func wireBytes(ndjson []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var w int64
	for sc.Scan() {
		var ev struct {
			Event     string `json:"event"`
			WireBytes int64  `json:"wire_bytes"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "done" {
			w = ev.WireBytes
		}
	}
	return w
}

func cleanupProxies(b *testing.B, l lab) {
	c := faults.NewClient(l.toxiproxy)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ps, err := c.Proxies(ctx, skyProxies)
	if err != nil {
		b.Logf("listing skyplane proxies: %v", err)
		return
	}
	for _, p := range ps {
		_ = c.DeleteProxy(ctx, p.Name)
	}
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

func writeResults(b *testing.B, l lab, rows []row, tools []tool) {
	dir := os.Getenv("LAB_RESULTS")
	if dir == "" {
		dir = filepath.Join("..", "results")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	doc := map[string]any{
		"date": time.Now().UTC().Format(time.RFC3339),
		"link": map[string]any{"rtt_ms": l.rttMS, "flow_mbps": l.flowMbps},
		"rows": rows,
	}
	js, _ := json.MarshalIndent(doc, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(js, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	var md strings.Builder
	fmt.Fprintf(&md, "WAN lab, %s: RTT %.0f ms, %.0f Mbit/s per connection (toxiproxy); median of %d runs.\n\n",
		time.Now().UTC().Format("2006-01-02"), l.rttMS, l.flowMbps, rows[0].Runs)
	fmt.Fprintln(&md, "| workload | tool | goodput MB/s | ratio vs skyplane | link capacity Mbit/s | % of link | wire bytes | raw bytes | peak RSS MB |")
	fmt.Fprintln(&md, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		fmt.Fprintf(&md, "| %s | %s | %.1f | %.2f | %.0f | %.1f | %d | %d | %.0f |\n", r.Workload, r.Tool, r.GoodputMBps,
			r.RatioVsSkyplane, r.LinkCapacityMbps, r.PctOfLink, r.WireBytes, r.RawBytes, r.PeakRSSMB)
	}
	fmt.Fprintln(&md, "\nSettings:")
	for _, t := range tools {
		fmt.Fprintf(&md, "- %s: %s\n", t.name, t.settings)
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(md.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	fmt.Println()
	fmt.Print(md.String())
}
