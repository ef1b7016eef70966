// Package lab measures skyplane against rclone, s5cmd and aws-cli across an
// emulated WAN link (scripts/lab.sh), side by side in one run.
//
//	make bench          # quick mode (minutes): install, start the lab, run, stop
//	make bench-full     # the sizes: 1 GiB, 256 MiB of text, 10,000 objects, 1,000,000 keys
//
// or by hand:
//
//	scripts/lab.sh start && . .tools/lab.env
//	go test -run xxx -bench WAN -benchtime 1x -timeout 2h ./bench/lab/
//	scripts/lab.sh stop
//
// It is a benchmark, not a test: without the lab's environment
// (.tools/lab.env) it skips. Workloads (sizes: quick / full):
//
//	large  incompressible objects of 64 MiB          (512 MiB / 1 GiB)
//	text   English text from the machine's docs, 16 MiB objects (128 / 256 MiB)
//	small  objects of 16 KiB                          (1,000 / 10,000)
//	list   listing only: time to the first key, keys/s, peak RSS (50,000 / 1,000,000 keys)
//
// Environment (besides lab.env):
//
//	LAB_MODE       quick (default) or full
//	LAB_WORKLOADS  comma-separated subset of large,text,small,list (default all)
//	LAB_TOOLS      comma-separated subset of skyplane,rclone,s5cmd,aws-cli (default all)
//	LAB_RUNS       runs per tool; the median is reported (default 3)
//	LAB_LARGE_MB, LAB_TEXT_MB, LAB_SMALL_OBJECTS, LAB_LIST_KEYS   override the sizes
//	LAB_EGRESS_USD_PER_GB  egress price for the cost column (default 0.02, AWS inter-region)
//	LAB_RESULTS    results directory (default ../results, i.e. bench/results)
package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
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
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/skyplane-project/skyplane-go/internal/benchdata"
	"github.com/skyplane-project/skyplane-go/internal/faults"
	"github.com/skyplane-project/skyplane-go/internal/testbin"
)

const (
	srcBucket    = "lab-src"    // source region
	dstBucket    = "lab-dst"    // destination region: the peers write here
	skyDstBucket = "lab-skydst" // destination region: skyplane writes here
	emptyBucket  = "lab-empty"  // destination region: skyplane's listing run compares against it
	skyProxies   = "lab-sky-"
	// keyMark starts every key's name: a listing's output lines that hold
	// it are keys (the time to the first one is the listing's TTFB).
	keyMark = "key-"
)

// Tuning of the peers: their documented knobs, sized to 32 connections
// across the WAN like skyplane's default num_connections (32 per gateway
// pair). Big objects: parallel parts; small objects: parallel transfers.
const (
	skyConnections = 32
	rcloneChunk    = "16M"
	s5PartMB       = 16
	awsChunk       = "16MB"
)

type lab struct {
	key, secret       string
	src, srcWAN, dst  string
	srcNS, dstNS      string // endpoints reachable from the gateways' namespaces ("" = no netns)
	srcRegion         string
	dstRegion         string
	toxiproxy, toxics string
	rttMS, flowMbps   float64
	gatewayMbps       float64 // per-gateway egress cap (netns + htb); 0 = none
	bin, srcData      string
	quick             bool
}

func env(b *testing.B) lab {
	l := lab{
		key: os.Getenv("LAB_ACCESS_KEY"), secret: os.Getenv("LAB_SECRET_KEY"),
		src: os.Getenv("LAB_SRC_ENDPOINT"), srcWAN: os.Getenv("LAB_SRC_WAN_ENDPOINT"), dst: os.Getenv("LAB_DST_ENDPOINT"),
		srcRegion: os.Getenv("LAB_SRC_REGION"), dstRegion: os.Getenv("LAB_DST_REGION"),
		toxiproxy: os.Getenv("LAB_TOXIPROXY"), toxics: os.Getenv("LAB_TOXICS"), bin: os.Getenv("LAB_BIN"),
		srcData: os.Getenv("LAB_SRC_DATA_DIR"),
		quick:   os.Getenv("LAB_MODE") != "full",
	}
	if os.Getenv("SKYPLANE_LAB") == "" || l.src == "" || l.srcWAN == "" || l.dst == "" || l.toxiproxy == "" {
		b.Skip("WAN lab not running: `scripts/lab.sh start && . .tools/lab.env` first (or `make bench`)")
	}
	if l.srcRegion == "" {
		l.srcRegion = "us-east-1"
	}
	if l.dstRegion == "" {
		l.dstRegion = "us-east-1"
	}
	if os.Getenv("LAB_NETNS") == "1" {
		l.srcNS, l.dstNS = os.Getenv("LAB_SRC_NS_ENDPOINT"), os.Getenv("LAB_DST_NS_ENDPOINT")
		l.gatewayMbps, _ = strconv.ParseFloat(os.Getenv("LAB_GATEWAY_MBPS"), 64)
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

func selected(envName, name string) bool {
	sel := os.Getenv(envName)
	return sel == "" || slices.Contains(strings.Split(sel, ","), name)
}

func (l lab) s3(endpoint, region string) *s3.Client {
	return s3.New(s3.Options{
		Region:       region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(l.key, l.secret, ""),
	})
}

func (l lab) srcClient() *s3.Client { return l.s3(l.src, l.srcRegion) }
func (l lab) dstClient() *s3.Client { return l.s3(l.dst, l.dstRegion) }

func mkBucket(b *testing.B, c *s3.Client, bucket string) {
	_, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	if err != nil && !strings.Contains(err.Error(), "BucketAlready") {
		b.Fatalf("create bucket %s: %v", bucket, err)
	}
}

// listAll returns key → size under prefix.
func listAll(b *testing.B, c *s3.Client, bucket, prefix string) map[string]int64 {
	got := map[string]int64{}
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			b.Fatalf("list %s/%s: %v", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			got[*o.Key] = *o.Size
		}
	}
	return got
}

// clearBucket deletes every object of a bucket, a thousand per request.
func clearBucket(b *testing.B, c *s3.Client, bucket string) {
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			b.Fatalf("list %s: %v", bucket, err)
		}
		if len(page.Contents) == 0 {
			continue
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket), Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			b.Fatalf("delete from %s: %v", bucket, err)
		}
	}
}

// checkDelivered verifies that a run delivered every object at its size.
func checkDelivered(b *testing.B, c *s3.Client, bucket string, want map[string]int64) {
	got := listAll(b, c, bucket, "")
	for k, n := range want {
		if got[k] != n {
			b.Fatalf("%s/%s: got %d bytes, want %d (bucket holds %d objects, want %d)", bucket, k, got[k], n, len(got), len(want))
		}
	}
}

// workload is one data set in the source bucket under its prefix.
type workload struct {
	name, kind, prefix string
	objects            int
	raw                int64
	want               map[string]int64 // copy: what must arrive
}

// putAll uploads n objects made by gen, 16 at a time.
func putAll(b *testing.B, c *s3.Client, keys []string, gen func(i int) []byte) {
	var wg sync.WaitGroup
	errs := make(chan error, len(keys))
	sem := make(chan struct{}, 16)
	for i, k := range keys {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			data := gen(i)
			_, err := c.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String(srcBucket), Key: aws.String(k), Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))),
			})
			if err != nil {
				errs <- fmt.Errorf("upload %s: %w", k, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// prepare puts a workload's objects in the source bucket unless a previous
// benchmark in this lab already did (same keys, same sizes).
func prepare(b *testing.B, l lab, name, kind, prefix string, n int, size int64, gen func(i int) []byte) workload {
	c := l.srcClient()
	w := workload{name: name, kind: kind, prefix: prefix, objects: n, raw: int64(n) * size, want: map[string]int64{}}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%s%s%07d", prefix, keyMark, i)
		w.want[keys[i]] = size
	}
	have := listAll(b, c, srcBucket, prefix)
	var missing []string
	for _, k := range keys {
		if have[k] != size {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		b.Logf("%s: uploading %d objects", name, len(missing))
		index := map[string]int{}
		for i, k := range keys {
			index[k] = i
		}
		putAll(b, c, missing, func(i int) []byte { return gen(index[missing[i]]) })
	}
	return w
}

func randomBytes(n int64) []byte {
	buf := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, buf); err != nil {
		panic(err)
	}
	return buf
}

// textCorpus is benchdata's corpus, or the benchmark fails saying why.
func textCorpus(b *testing.B) [][]byte {
	c, err := benchdata.TextCorpus()
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// prepareList makes the listing workload: n empty keys, a thousand per
// "directory" (versitygw rescans a directory for every page of a listing,
// so a flat million keys would measure that, not the tools). PUTting a
// million objects through versitygw takes ~10 minutes, so when the source
// server's posix directory is known they are created as files directly
// (what versitygw itself would have written for an empty object, less the
// xattrs it reads back as an empty ETag).
func prepareList(b *testing.B, l lab, n int) workload {
	prefix := fmt.Sprintf("list%d/", n)
	w := workload{name: fmt.Sprintf("list-%d", n), kind: listKind, prefix: prefix, objects: n}
	key := func(i int) string { return fmt.Sprintf("d%04d/%s%07d", i/1000, keyMark, i) }
	if l.srcData == "" {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = prefix + key(i)
		}
		putAll(b, l.srcClient(), keys, func(int) []byte { return nil })
		return w
	}
	dir := filepath.Join(l.srcData, srcBucket, strings.TrimSuffix(prefix, "/"))
	last := filepath.Join(dir, key(n-1)) // created last: its presence means all are there
	if has(last) {
		return w
	}
	b.Logf("%s: creating %d keys in %s", w.name, n, dir)
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, key(i))
		if i%1000 == 0 {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				b.Fatal(err)
			}
		}
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	return w
}

func skyplaneBinary(b *testing.B) string {
	bin, err := testbin.Once("skyplane-lab-")
	if err != nil {
		b.Fatal(err)
	}
	return bin
}

// run is one timed command; peak RSS comes from /usr/bin/time -v (the
// largest single process among the command and its waited-for children),
// CPU from the command's rusage (user + system of it and every descendant
// it waited for: skyplane's gateways, a shell's pipeline).
type run struct {
	d, ttfb time.Duration
	cpu     time.Duration
	rssMB   float64
	lines   int
	stdout  []byte
}

var rssRE = regexp.MustCompile(`Maximum resident set size \(kbytes\): (\d+)`)

// timeCmd runs a command to completion. With firstKey set, stdout is
// scanned as it arrives: ttfb is when the first line containing firstKey
// showed up, lines how many such lines there were.
func timeCmd(b *testing.B, env []string, firstKey string, name string, args ...string) run {
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
	var errb bytes.Buffer
	cmd.Stderr = &errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	var r run
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if firstKey != "" && bytes.Contains(line, []byte(firstKey)) {
			if r.lines == 0 {
				r.ttfb = time.Since(start)
			}
			r.lines++
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	err = cmd.Wait()
	r.d = time.Since(start)
	if err != nil {
		b.Fatalf("%s %v: %v\nstdout:\n%s\nstderr:\n%s", name, args, err, tail(out.Bytes()), tail(errb.Bytes()))
	}
	r.stdout = out.Bytes()
	r.cpu = CPUTime(cmd.ProcessState)
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

func has(path string) bool { _, err := os.Stat(path); return err == nil }

// contender is one tool on one workload.
type contender struct {
	tool     string
	settings string
	capMbps  float64                         // aggregate link capacity it can use
	bucket   string                          // copy: destination bucket (destination server)
	run      func(b *testing.B) (run, int64) // the timed run and the wire bytes (0: unknown, i.e. raw)
}

// BenchmarkWAN runs every workload with every tool, alternating tools
// within each round, LAB_RUNS rounds, and reports medians. Run it with
// -benchtime 1x: the runs are counted inside.
func BenchmarkWAN(b *testing.B) {
	l := env(b)
	runs := envInt("LAB_RUNS", 3)
	quick := func(q, f int) int {
		if l.quick {
			return q
		}
		return f
	}
	src, dst := l.srcClient(), l.dstClient()
	mkBucket(b, src, srcBucket)
	for _, bk := range []string{dstBucket, skyDstBucket, emptyBucket} {
		mkBucket(b, dst, bk)
	}

	var workloads []workload
	if selected("LAB_WORKLOADS", "large") {
		mb := envInt("LAB_LARGE_MB", quick(512, 1024))
		n := max(1, mb/64)
		workloads = append(workloads, prepare(b, l, fmt.Sprintf("large-%dx64MiB", n), "copy", fmt.Sprintf("large%d/", n), n, 64<<20,
			func(int) []byte { return randomBytes(64 << 20) }))
	}
	if selected("LAB_WORKLOADS", "text") {
		mb := envInt("LAB_TEXT_MB", quick(128, 256))
		n := max(1, mb/16)
		var corpus [][]byte
		workloads = append(workloads, prepare(b, l, fmt.Sprintf("text-%dx16MiB", n), "copy", fmt.Sprintf("text%d/", n), n, 16<<20,
			func(i int) []byte {
				if corpus == nil {
					corpus = textCorpus(b)
				}
				return benchdata.TextObject(corpus, i, 16<<20)
			}))
	}
	if selected("LAB_WORKLOADS", "small") {
		n := envInt("LAB_SMALL_OBJECTS", quick(1000, 10000))
		workloads = append(workloads, prepare(b, l, fmt.Sprintf("small-%dx16KiB", n), "copy", fmt.Sprintf("small%d/", n), n, 16<<10,
			func(int) []byte { return randomBytes(16 << 10) }))
	}
	if selected("LAB_WORKLOADS", "list") {
		workloads = append(workloads, prepareList(b, l, envInt("LAB_LIST_KEYS", quick(50000, 1000000))))
	}

	meta := Meta{
		Date: time.Now().UTC(), RTTms: l.rttMS, FlowMbps: l.flowMbps, GatewayMbps: l.gatewayMbps,
		EgressUSDPerGB: 0.02, Quick: l.quick, Versions: versions(l), Settings: map[string]string{},
	}
	if p, err := strconv.ParseFloat(os.Getenv("LAB_EGRESS_USD_PER_GB"), 64); err == nil {
		meta.EgressUSDPerGB = p
	}
	b.Logf("link: RTT %.0f ms, %.0f Mbit/s per connection, per-gateway cap %.0f Mbit/s (0 = none); %s mode, %d runs",
		l.rttMS, l.flowMbps, l.gatewayMbps, map[bool]string{true: "quick", false: "full"}[l.quick], runs)

	var rows []Row
	b.ResetTimer()
	for _, w := range workloads {
		cs := contenders(b, l, w)
		for _, c := range cs {
			b.Logf("%-8s %-14s %s", w.name, c.tool, c.settings)
		}
		durs := make([][]time.Duration, len(cs))
		ttfbs := make([][]time.Duration, len(cs))
		rss := make([]float64, len(cs))
		cpus := make([][]time.Duration, len(cs))
		wire := make([]int64, len(cs))
		for i := 0; i < runs; i++ {
			for j, c := range cs {
				if w.kind == "copy" {
					clearBucket(b, dst, c.bucket)
				}
				r, wb := c.run(b)
				if w.kind == "copy" {
					checkDelivered(b, dst, c.bucket, w.want)
				} else if r.lines != w.objects {
					b.Fatalf("%s listed %d keys, want %d", c.tool, r.lines, w.objects)
				}
				durs[j] = append(durs[j], r.d)
				ttfbs[j] = append(ttfbs[j], r.ttfb)
				rss[j] = max(rss[j], r.rssMB)
				cpus[j] = append(cpus[j], r.cpu)
				if wb > 0 {
					wire[j] = wb
				}
				b.Logf("run %d %-16s %-14s %6.2f s  %8.1f MB/s  %8.0f objects/s  %6.2f CPU-s", i+1, w.name, c.tool, r.d.Seconds(),
					float64(w.raw)/1e6/r.d.Seconds(), float64(w.objects)/r.d.Seconds(), r.cpu.Seconds())
			}
		}
		for j, c := range cs {
			med := median(durs[j])
			row := Row{Workload: w.name, Kind: w.kind, Tool: c.tool, Settings: c.settings, Runs: runs,
				MedianSeconds: med.Seconds(), LinkCapacityMbps: c.capMbps, RawBytes: w.raw, Objects: w.objects, PeakRSSMB: rss[j],
				CPUSeconds: median(cpus[j]).Seconds()}
			if w.kind == "copy" {
				row.WireBytes = wire[j]
				if row.WireBytes == 0 {
					row.WireBytes = w.raw // the peers send what they read
				}
				row.GoodputMBps = float64(w.raw) / 1e6 / med.Seconds()
			} else {
				row.TTFBSeconds = median(ttfbs[j]).Seconds()
			}
			rows = append(rows, row)
			meta.Settings[c.tool] = c.settings
		}
	}
	b.StopTimer()
	cleanupProxies(b, l)

	Finish(rows, meta)
	dir := os.Getenv("LAB_RESULTS")
	if dir == "" {
		dir = filepath.Join("..", "results")
	}
	md, err := WriteReport(dir, meta, rows)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Println()
	fmt.Print(md)
}

// contenders sets up every selected tool for one workload.
func contenders(b *testing.B, l lab, w workload) []contender {
	tmp := b.TempDir()
	awsCreds := []string{"AWS_ACCESS_KEY_ID=" + l.key, "AWS_SECRET_ACCESS_KEY=" + l.secret, "AWS_EC2_METADATA_DISABLED=true"}
	small := strings.HasPrefix(w.name, "small")
	var cs []contender

	// skyplane: the client and its gateways sit in their regions (the source
	// gateway reads the source server directly, the destination gateway
	// writes the destination server); every gateway-to-gateway connection
	// crosses the WAN through its own toxiproxy proxy with the link's
	// toxics. With netns, each gateway is in its own namespace whose egress
	// to the WAN is capped.
	if selected("LAB_TOOLS", "skyplane") {
		sky := skyplaneBinary(b)
		srcEP, dstEP := l.src, l.dst
		if l.srcNS != "" {
			srcEP, dstEP = l.srcNS, l.dstNS
		}
		gateways := []int{1, 2}
		if w.kind == listKind {
			gateways = []int{1} // no gateways involved
		}
		for _, n := range gateways {
			home := filepath.Join(tmp, fmt.Sprintf("sky-n%d", n))
			skyEnv := append(slices.Clone(awsCreds), "AWS_REGION="+l.srcRegion,
				"SKYPLANE_CONFIG="+filepath.Join(home, "config"), "SKYPLANE_STATE_DIR="+filepath.Join(home, "state"),
				"SKYPLANE_USAGE_STATS_ENABLED=0", "SKYPLANE_GATEWAY_BIN="+sky,
				"SKYPLANE_TEST_TOXIPROXY="+l.toxiproxy, "SKYPLANE_TEST_TOXICS="+l.toxics, "SKYPLANE_TEST_TOXIPROXY_PREFIX="+skyProxies)
			if l.srcNS == "" {
				skyEnv = append(skyEnv, "SKYPLANE_TEST_NETNS=") // gateways on 127.0.0.1
			}
			if w.kind == listKind {
				// The client lists the source across the WAN, like the peers.
				srcEP = l.srcWAN
			}
			timeCmd(b, skyEnv, "", sky, "config", "set", "s3_endpoint", srcEP)
			timeCmd(b, skyEnv, "", sky, "config", "set", "s3_bucket_endpoints",
				fmt.Sprintf("%s=%s,%s=%s", skyDstBucket, dstEP, emptyBucket, dstEP))
			capMbps := float64(n*skyConnections) * l.flowMbps
			if l.gatewayMbps > 0 {
				capMbps = min(capMbps, float64(n)*l.gatewayMbps)
			}
			c := contender{
				tool:     fmt.Sprintf("skyplane -n %d", n),
				settings: fmt.Sprintf("default config, -n %d (%d connections per gateway pair)", n, skyConnections),
				capMbps:  capMbps, bucket: skyDstBucket,
			}
			if w.kind == listKind {
				c.tool, c.settings = "skyplane", "sync --dry-run against an empty bucket (the client's streamed listing)"
				c.run = func(b *testing.B) (run, int64) {
					return timeCmd(b, skyEnv, keyMark, sky, "sync", "--dry-run",
						"s3://"+srcBucket+"/"+w.prefix, "s3://"+emptyBucket+"/"+w.prefix), 0
				}
			} else {
				c.run = func(b *testing.B) (run, int64) {
					os.RemoveAll(filepath.Join(home, "state"))
					// --gateways: the lab measures the WAN path between gateways,
					// never the in-process copy both regions would allow here.
					r := timeCmd(b, skyEnv, "", sky, "cp", "-r", "-y", "--json", "--gateways", "-n", strconv.Itoa(n),
						"s3://"+srcBucket+"/"+w.prefix, "s3://"+skyDstBucket+"/"+w.prefix)
					return r, wireBytes(r.stdout)
				}
			}
			cs = append(cs, c)
		}
	}

	// rclone streams source → destination (no local disk), placed in the
	// destination region: it reads the source across the WAN.
	if p := filepath.Join(l.bin, "rclone"); has(p) && selected("LAB_TOOLS", "rclone") {
		rEnv := []string{}
		for _, r := range []struct{ name, ep, region string }{{"SRC", l.srcWAN, l.srcRegion}, {"DST", l.dst, l.dstRegion}} {
			rEnv = append(rEnv, "RCLONE_CONFIG_"+r.name+"_TYPE=s3", "RCLONE_CONFIG_"+r.name+"_PROVIDER=Other",
				"RCLONE_CONFIG_"+r.name+"_ENDPOINT="+r.ep, "RCLONE_CONFIG_"+r.name+"_ACCESS_KEY_ID="+l.key,
				"RCLONE_CONFIG_"+r.name+"_SECRET_ACCESS_KEY="+l.secret, "RCLONE_CONFIG_"+r.name+"_REGION="+r.region,
				"RCLONE_CONFIG_"+r.name+"_FORCE_PATH_STYLE=true")
		}
		var flags, paths []string
		flows := 32
		switch {
		case w.kind == listKind:
			// One recursive listing (--fast-list), not one per directory.
			flags, paths = []string{"lsf", "-R", "--files-only", "--fast-list"}, []string{"src:" + srcBucket + "/" + w.prefix}
			flows = 1
		case small:
			flags = []string{"copy", "--transfers", "32", "--checkers", "32", "--no-check-dest"}
		default:
			flags = []string{"copy", "--transfers", "4", "--multi-thread-streams", "8", "--multi-thread-cutoff", rcloneChunk,
				"--s3-chunk-size", rcloneChunk, "--s3-upload-concurrency", "8"}
		}
		if paths == nil {
			paths = []string{"src:" + srcBucket + "/" + w.prefix, "dst:" + dstBucket + "/" + w.prefix}
		}
		key := ""
		if w.kind == listKind {
			key = keyMark
		}
		args := append(append(slices.Clone(flags), "--config", "/dev/null"), paths...)
		cs = append(cs, contender{
			tool: "rclone", settings: "rclone " + strings.Join(flags, " "),
			capMbps: float64(flows) * l.flowMbps, bucket: dstBucket,
			run: func(b *testing.B) (run, int64) { return timeCmd(b, rEnv, key, p, args...), 0 },
		})
	}

	// s5cmd and aws-cli take one endpoint per command: placed in the
	// destination region they download across the WAN to local disk, then
	// upload to the destination server (timed together).
	stage := func(name string) string { return filepath.Join(tmp, "stage-"+name) }
	srcEnv := append(slices.Clone(awsCreds), "AWS_REGION="+l.srcRegion, "AWS_DEFAULT_REGION="+l.srcRegion)
	dstEnv := append(slices.Clone(awsCreds), "AWS_REGION="+l.dstRegion, "AWS_DEFAULT_REGION="+l.dstRegion)
	if p := filepath.Join(l.bin, "s5cmd"); has(p) && selected("LAB_TOOLS", "s5cmd") {
		common := []string{"--numworkers", "32"}
		cpArgs := []string{"cp", "--concurrency", "8", "--part-size", strconv.Itoa(s5PartMB)}
		if small {
			common = []string{"--numworkers", "256"} // s5cmd's default: one request per object
			cpArgs = []string{"cp"}
		}
		c := contender{tool: "s5cmd", capMbps: 32 * l.flowMbps, bucket: dstBucket}
		if w.kind == listKind {
			c.settings, c.capMbps = "s5cmd ls", l.flowMbps
			c.run = func(b *testing.B) (run, int64) {
				return timeCmd(b, srcEnv, keyMark, p, "--endpoint-url", l.srcWAN, "ls", "s3://"+srcBucket+"/"+w.prefix+"*"), 0
			}
		} else {
			c.settings = fmt.Sprintf("s5cmd %s %s (download to disk, then upload)", strings.Join(common, " "), strings.Join(cpArgs, " "))
			c.run = func(b *testing.B) (run, int64) {
				dir := stage("s5cmd")
				os.RemoveAll(dir)
				defer os.RemoveAll(dir)
				a := append(append(append([]string{"--endpoint-url", l.srcWAN}, common...), cpArgs...), "s3://"+srcBucket+"/"+w.prefix+"*", dir+"/")
				r1 := timeCmd(b, srcEnv, "", p, a...)
				a = append(append(append([]string{"--endpoint-url", l.dst}, common...), cpArgs...), dir+"/", "s3://"+dstBucket+"/"+w.prefix)
				r2 := timeCmd(b, dstEnv, "", p, a...)
				return run{d: r1.d + r2.d, cpu: r1.cpu + r2.cpu, rssMB: max(r1.rssMB, r2.rssMB)}, 0
			}
		}
		cs = append(cs, c)
	}

	if has("/usr/bin/aws") && selected("LAB_TOOLS", "aws-cli") {
		conc := 32
		if small {
			conc = 64
		}
		cfg := filepath.Join(tmp, "aws-config")
		cfgText := fmt.Sprintf("[default]\ns3 =\n  max_concurrent_requests = %d\n  multipart_threshold = %s\n  multipart_chunksize = %s\n  max_queue_size = 10000\n", conc, awsChunk, awsChunk)
		if err := os.WriteFile(cfg, []byte(cfgText), 0o644); err != nil {
			b.Fatal(err)
		}
		files := []string{"AWS_CONFIG_FILE=" + cfg, "AWS_SHARED_CREDENTIALS_FILE=/dev/null"}
		aSrc, aDst := append(slices.Clone(srcEnv), files...), append(slices.Clone(dstEnv), files...)
		c := contender{tool: "aws-cli", capMbps: float64(conc) * l.flowMbps, bucket: dstBucket}
		if w.kind == listKind {
			c.settings, c.capMbps = "aws s3 ls --recursive", l.flowMbps
			c.run = func(b *testing.B) (run, int64) {
				return timeCmd(b, aSrc, keyMark, "/usr/bin/aws", "--endpoint-url", l.srcWAN, "s3", "ls", "--recursive", "s3://"+srcBucket+"/"+w.prefix), 0
			}
		} else {
			c.settings = fmt.Sprintf("aws s3 cp --recursive, max_concurrent_requests=%d multipart_chunksize=%s (download to disk, then upload)", conc, awsChunk)
			c.run = func(b *testing.B) (run, int64) {
				dir := stage("aws")
				os.RemoveAll(dir)
				defer os.RemoveAll(dir)
				r1 := timeCmd(b, aSrc, "", "/usr/bin/aws", "--endpoint-url", l.srcWAN, "s3", "cp", "--recursive", "--only-show-errors", "s3://"+srcBucket+"/"+w.prefix, dir+"/")
				r2 := timeCmd(b, aDst, "", "/usr/bin/aws", "--endpoint-url", l.dst, "s3", "cp", "--recursive", "--only-show-errors", dir+"/", "s3://"+dstBucket+"/"+w.prefix)
				return run{d: r1.d + r2.d, cpu: r1.cpu + r2.cpu, rssMB: max(r1.rssMB, r2.rssMB)}, 0
			}
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		b.Fatalf("no tool selected or installed (LAB_TOOLS=%q, LAB_BIN=%q): run scripts/lab.sh install", os.Getenv("LAB_TOOLS"), l.bin)
	}
	return cs
}

// versions asks each tool for its version (first line).
func versions(l lab) map[string]string {
	v := map[string]string{}
	ask := func(name, bin string, args ...string) {
		// Tools built by `go install` report "dev"; the pin the scripts
		// installed them at is the truth.
		if pin, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "."+filepath.Base(bin))); err == nil {
			v[name] = strings.TrimSpace(string(pin))
			return
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil {
			v[name] = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		}
	}
	ask("rclone", filepath.Join(l.bin, "rclone"), "version")
	ask("s5cmd", filepath.Join(l.bin, "s5cmd"), "version")
	ask("aws-cli", "/usr/bin/aws", "--version")
	ask("versitygw", filepath.Join(l.bin, "versitygw"), "--version")
	ask("toxiproxy", filepath.Join(l.bin, "toxiproxy-server"), "--version")
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		v["skyplane"] = "git " + strings.TrimSpace(string(out))
	}
	return v
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
