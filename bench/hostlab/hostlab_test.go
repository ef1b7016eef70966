package hostlab

// BenchmarkHosts: S3 (region 1) → S3 (region 2) of the host lab, skyplane
// with 1, 2 and 4 gateways per region on separate hosts, against rclone,
// s5cmd and aws-cli running on one host of the destination region, as a
// user with one VM there would run them. Every host has the same NIC cap.
//
//	make bench            # quick: starts the lab (4 hosts per region), runs, stops it
//	make bench-smoke      # one small workload, one run (CI)
//
// or by hand, as root:
//
//	LAB_HOSTS_PER_REGION=4 scripts/hostlab.sh start
//	go test -run xxx -bench Hosts -benchtime 1x -timeout 1h ./bench/hostlab/
//	scripts/hostlab.sh stop
//
// Environment: LAB_MODE (quick, full or smoke), LAB_RUNS (runs per tool,
// median reported; default 3, smoke 1), LAB_TOOLS (subset of
// skyplane,rclone,s5cmd,aws-cli), LAB_WORKLOADS (subset of
// large,text,small), LAB_RESULTS (default bench/results).

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/skyplane-project/skyplane-go/internal/benchdata"
	"github.com/skyplane-project/skyplane-go/internal/hostlab"
	"github.com/skyplane-project/skyplane-go/internal/testbin"
)

type workload struct {
	name    string
	objects int
	size    int64
	text    bool
}

func (w workload) bytes() int64 { return int64(w.objects) * w.size }

func workloads(mode string) []workload {
	var ws []workload
	switch mode {
	case "smoke":
		ws = []workload{{"large-2x16MiB", 2, 16 << 20, false}}
	case "full":
		ws = []workload{{"large-8x128MiB", 8, 128 << 20, false}, {"text-16x16MiB", 16, 16 << 20, true}, {"small-10000x16KiB", 10000, 16 << 10, false}}
	default:
		ws = []workload{{"large-4x48MiB", 4, 48 << 20, false}, {"text-4x16MiB", 4, 16 << 20, true}, {"small-1000x16KiB", 1000, 16 << 10, false}}
	}
	var out []workload
	for _, w := range ws {
		if selected("LAB_WORKLOADS", strings.SplitN(w.name, "-", 2)[0]) {
			out = append(out, w)
		}
	}
	return out
}

func selected(env, name string) bool {
	sel := os.Getenv(env)
	return sel == "" || slices.Contains(strings.Split(sel, ","), name)
}

// labEnv is the running lab as the benchmark uses it.
type labEnv struct {
	*hostlab.Lab
	key, secret, ep1, ep2, b1, b2 string
	reg1, reg2                    string // the servers' regions, which signatures name
	perRegion                     int
	peerNS                        string // the destination host the peers run on
	hostMbps, rtt, flow           float64
}

func (e labEnv) s3(ep, region string) *s3.Client {
	return s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(ep), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(e.key, e.secret, "")})
}

func open(b *testing.B) labEnv {
	l, err := hostlab.Open()
	if err != nil {
		b.Skip(err)
	}
	e := labEnv{Lab: l, key: l.Env["HOSTLAB_S3_ACCESS_KEY"], secret: l.Env["HOSTLAB_S3_SECRET_KEY"],
		ep1: l.Env["HOSTLAB_S3_ENDPOINT_R1"], ep2: l.Env["HOSTLAB_S3_ENDPOINT_R2"],
		b1: l.Env["HOSTLAB_BUCKET_R1"], b2: l.Env["HOSTLAB_BUCKET_R2"],
		reg1: l.Env["HOSTLAB_S3_REGION_R1"], reg2: l.Env["HOSTLAB_S3_REGION_R2"], peerNS: l.Hosts["r2-h1"].NS}
	for name := range l.Hosts {
		if strings.HasPrefix(name, "r1-") {
			e.perRegion++
		}
	}
	e.hostMbps, _ = strconv.ParseFloat(l.Env["HOSTLAB_HOST_MBPS"], 64)
	e.rtt, _ = strconv.ParseFloat(l.Env["HOSTLAB_RTT_MS"], 64)
	e.flow, _ = strconv.ParseFloat(l.Env["HOSTLAB_FLOW_MBPS"], 64)
	return e
}

// contender is one tool set up for one workload; run copies the
// workload's source prefix to dst and returns its CPU seconds and, for
// skyplane, the wire bytes.
type contender struct {
	tool, settings, dst string
	hosts               int
	run                 func(b *testing.B, w workload, dst string) result
}

// result is what one run of a tool reports beside its wall time.
type result struct {
	cpu      float64 // CPU seconds
	wire     int64   // skyplane: bytes between gateways
	transfer float64 // skyplane: its own runtime, provisioning excluded
}

func BenchmarkHosts(b *testing.B) {
	e := open(b)
	mode := os.Getenv("LAB_MODE")
	if mode == "" {
		mode = "quick"
	}
	runs := 3
	if mode == "smoke" {
		runs = 1
	}
	if n, err := strconv.Atoi(os.Getenv("LAB_RUNS")); err == nil && n > 0 {
		runs = n
	}
	src, dst := e.s3(e.ep1, e.reg1), e.s3(e.ep2, e.reg2)
	tools := contenders(b, e)
	var rows []Row
	b.ResetTimer()
	for _, w := range workloads(mode) {
		seed(b, src, e.b1, w)
		times := make([][]time.Duration, len(tools))
		results := make([][]result, len(tools))
		for range runs {
			// Alternating tools within each round keeps any drift of the
			// machine spread over all of them.
			for i, c := range tools {
				prefix := c.dst + "/" + w.name + "/"
				clearPrefix(b, dst, e.b2, prefix)
				start := time.Now()
				res := c.run(b, w, prefix)
				times[i] = append(times[i], time.Since(start))
				results[i] = append(results[i], res)
				checkDelivered(b, dst, e.b2, prefix, w)
			}
		}
		for i, c := range tools {
			m := medianIndex(times[i])
			rows = append(rows, Row{Workload: w.name, Tool: c.tool, Settings: c.settings, Hosts: c.hosts,
				HostMbps: e.hostMbps, Runs: runs, MedianSeconds: times[i][m].Seconds(), RawBytes: w.bytes(),
				Objects: w.objects, CPUSeconds: results[i][m].cpu, WireBytes: results[i][m].wire, TransferSeconds: results[i][m].transfer})
		}
		clearPrefix(b, src, e.b1, w.name+"/")
	}
	b.StopTimer()
	Finish(rows)
	dir := os.Getenv("LAB_RESULTS")
	if dir == "" {
		dir = filepath.Join("..", "results")
	}
	md, err := WriteReport(dir, Meta{Date: time.Now(), Mode: mode, HostMbps: e.hostMbps, RTTms: e.rtt, FlowMbps: e.flow,
		PerRegion: e.perRegion, Versions: versions()}, rows)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Print("\n" + md)
}

func contenders(b *testing.B, e labEnv) []contender {
	tmp := b.TempDir()
	creds := []string{"AWS_ACCESS_KEY_ID=" + e.key, "AWS_SECRET_ACCESS_KEY=" + e.secret, "AWS_EC2_METADATA_DISABLED=true"}
	var cs []contender
	if selected("LAB_TOOLS", "skyplane") {
		sky, err := testbin.Once("skyplane-hostlab-")
		if err != nil {
			b.Fatal(err)
		}
		for _, n := range []int{1, 2, 4} {
			if n > e.perRegion {
				continue
			}
			home := filepath.Join(tmp, fmt.Sprintf("sky-n%d", n))
			env := append(slices.Clone(creds), "SKYPLANE_CONFIG="+filepath.Join(home, "config"),
				"SKYPLANE_STATE_DIR="+filepath.Join(home, "state"), "SKYPLANE_USAGE_STATS_ENABLED=0",
				"SKYPLANE_HOSTS_FILE="+e.Inventory)
			command(b, env, sky, "config", "set", "s3_bucket_endpoints", fmt.Sprintf("%s=%s,%s=%s", e.b1, e.ep1, e.b2, e.ep2))
			cs = append(cs, contender{
				tool: fmt.Sprintf("skyplane -n %d", n), hosts: n, dst: fmt.Sprintf("sky-n%d", n),
				settings: fmt.Sprintf("default config, %d gateway(s) per region on separate hosts, deployed over SSH each run", n),
				run: func(b *testing.B, w workload, dst string) result {
					out, cpu := command(b, env, sky, "cp", "-r", "-y", "--json", "-n", strconv.Itoa(n),
						"s3://"+e.b1+"/"+w.name+"/", "s3://"+e.b2+"/"+dst)
					done := doneEvent(b, out)
					if done.GatewayCPU <= 0 {
						b.Fatalf("skyplane reported no gateway CPU time: %s", out)
					}
					return result{cpu: cpu + done.GatewayCPU, wire: done.WireBytes, transfer: done.Runtime}
				},
			})
		}
	}
	peer := func(name string, args ...string) []string {
		return append([]string{"netns", "exec", e.peerNS, name}, args...)
	}
	if p := filepath.Join(hostlab.Root, ".tools", "bin", "rclone"); has(p) && selected("LAB_TOOLS", "rclone") {
		var env []string
		for _, r := range []struct{ name, ep, region string }{{"SRC", e.ep1, e.reg1}, {"DST", e.ep2, e.reg2}} {
			env = append(env, "RCLONE_CONFIG_"+r.name+"_TYPE=s3", "RCLONE_CONFIG_"+r.name+"_PROVIDER=Other",
				"RCLONE_CONFIG_"+r.name+"_ENDPOINT="+r.ep, "RCLONE_CONFIG_"+r.name+"_ACCESS_KEY_ID="+e.key,
				"RCLONE_CONFIG_"+r.name+"_SECRET_ACCESS_KEY="+e.secret, "RCLONE_CONFIG_"+r.name+"_FORCE_PATH_STYLE=true", "RCLONE_CONFIG_"+r.name+"_REGION="+r.region)
		}
		large := []string{"--transfers", "4", "--multi-thread-streams", "8", "--multi-thread-cutoff", "16M", "--s3-chunk-size", "16M", "--s3-upload-concurrency", "8"}
		small := []string{"--transfers", "32", "--checkers", "32", "--no-check-dest"}
		cs = append(cs, contender{tool: "rclone", hosts: 1, dst: "peer-rclone",
			settings: "rclone copy --s3-no-check-bucket (streams source → destination) " + strings.Join(large, " ") + "; small objects: " + strings.Join(small, " "),
			run: func(b *testing.B, w workload, dst string) result {
				flags := large
				if w.size < 1<<20 {
					flags = small
				}
				// The lab's buckets exist: without --s3-no-check-bucket rclone
				// PUTs the bucket first, which versitygw answers 500 for a
				// bucket made on disk, and rclone retries that for minutes.
				args := append(append([]string{"copy", "--config", "/dev/null", "--s3-no-check-bucket"}, flags...), "src:"+e.b1+"/"+w.name+"/", "dst:"+e.b2+"/"+dst)
				_, cpu := command(b, env, "ip", peer(p, args...)...)
				return result{cpu: cpu}
			}})
	}
	// s5cmd and aws-cli take one endpoint per command: they download to the
	// host's disk, then upload (timed together).
	stage := filepath.Join(tmp, "stage")
	if p := filepath.Join(hostlab.Root, ".tools", "bin", "s5cmd"); has(p) && selected("LAB_TOOLS", "s5cmd") {
		cs = append(cs, contender{tool: "s5cmd", hosts: 1, dst: "peer-s5cmd",
			settings: "s5cmd --numworkers 32 cp --concurrency 8 --part-size 16 (download to disk, then upload); small objects: --numworkers 256",
			run: func(b *testing.B, w workload, dst string) result {
				os.RemoveAll(stage)
				defer os.RemoveAll(stage)
				common, cp := []string{"--numworkers", "32"}, []string{"cp", "--concurrency", "8", "--part-size", "16"}
				if w.size < 1<<20 {
					common, cp = []string{"--numworkers", "256"}, []string{"cp"}
				}
				a := append(append(append([]string{"--endpoint-url", e.ep1}, common...), cp...), "s3://"+e.b1+"/"+w.name+"/*", stage+"/")
				_, c1 := command(b, append(slices.Clone(creds), "AWS_REGION="+e.reg1), "ip", peer(p, a...)...)
				a = append(append(append([]string{"--endpoint-url", e.ep2}, common...), cp...), stage+"/", "s3://"+e.b2+"/"+dst)
				_, c2 := command(b, append(slices.Clone(creds), "AWS_REGION="+e.reg2), "ip", peer(p, a...)...)
				return result{cpu: c1 + c2}
			}})
	}
	if has("/usr/bin/aws") && selected("LAB_TOOLS", "aws-cli") {
		cfg := filepath.Join(tmp, "aws-config")
		text := "[default]\ns3 =\n  max_concurrent_requests = 32\n  multipart_threshold = 16MB\n  multipart_chunksize = 16MB\n  max_queue_size = 10000\n"
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
		env := append(slices.Clone(creds), "AWS_CONFIG_FILE="+cfg, "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
		cs = append(cs, contender{tool: "aws-cli", hosts: 1, dst: "peer-aws",
			settings: "aws s3 cp --recursive, max_concurrent_requests=32 multipart_chunksize=16MB (download to disk, then upload)",
			run: func(b *testing.B, w workload, dst string) result {
				os.RemoveAll(stage)
				defer os.RemoveAll(stage)
				_, c1 := command(b, append(slices.Clone(env), "AWS_DEFAULT_REGION="+e.reg1), "ip", peer("/usr/bin/aws", "--endpoint-url", e.ep1, "s3", "cp", "--recursive", "--only-show-errors", "s3://"+e.b1+"/"+w.name+"/", stage+"/")...)
				_, c2 := command(b, append(slices.Clone(env), "AWS_DEFAULT_REGION="+e.reg2), "ip", peer("/usr/bin/aws", "--endpoint-url", e.ep2, "s3", "cp", "--recursive", "--only-show-errors", stage+"/", "s3://"+e.b2+"/"+dst)...)
				return result{cpu: c1 + c2}
			}})
	}
	if len(cs) == 0 {
		b.Fatalf("no tool selected or installed (LAB_TOOLS=%q): scripts/lab.sh install puts the peers in .tools/bin", os.Getenv("LAB_TOOLS"))
	}
	return cs
}

func has(p string) bool { _, err := os.Stat(p); return err == nil }

// command runs a tool to completion and returns its stdout and CPU time
// (user + system, its waited-for children included).
func command(b *testing.B, env []string, name string, args ...string) ([]byte, float64) {
	b.Helper()
	// A tool that hangs fails the benchmark with its output, not the
	// whole run at the test timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), err, tail(out.Bytes()), tail(errb.Bytes()))
	}
	return out.Bytes(), (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
}

func tail(b []byte) []byte { return b[max(0, len(b)-4000):] }

type done struct {
	WireBytes  int64   `json:"wire_bytes"`
	GatewayCPU float64 `json:"gateway_cpu_s"`
	Runtime    float64 `json:"runtime_s"`
}

func doneEvent(b *testing.B, ndjson []byte) done {
	sc := bufio.NewScanner(bytes.NewReader(ndjson))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Event string `json:"event"`
			done
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Event == "done" {
			return ev.done
		}
	}
	b.Fatalf("no done event in skyplane's output:\n%s", tail(ndjson))
	return done{}
}

func medianIndex(d []time.Duration) int {
	idx := make([]int, len(d))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, c int) int { return int(d[a] - d[c]) })
	return idx[len(idx)/2]
}

// seed uploads a workload's objects to the source bucket.
func seed(b *testing.B, c *s3.Client, bucket string, w workload) {
	var corpus [][]byte
	if w.text {
		corpus = textCorpus(b)
	}
	ctx := context.Background()
	sem := make(chan struct{}, 16)
	errs := make(chan error, w.objects)
	for i := range w.objects {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			data := make([]byte, w.size)
			if w.text {
				data = benchdata.TextObject(corpus, i, w.size)
			} else {
				_, _ = rand.Read(data)
			}
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(fmt.Sprintf("%s/d%02d/obj-%05d", w.name, i%16, i)), Body: bytes.NewReader(data)})
			errs <- err
		}()
	}
	for range w.objects {
		if err := <-errs; err != nil {
			b.Fatalf("seed %s: %v", w.name, err)
		}
	}
}

// textCorpus is benchdata's corpus, or the benchmark fails saying why.
func textCorpus(b *testing.B) [][]byte {
	c, err := benchdata.TextCorpus()
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func list(b *testing.B, c *s3.Client, bucket, prefix string) []types.Object {
	var out []types.Object
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			b.Fatalf("list %s/%s: %v", bucket, prefix, err)
		}
		out = append(out, page.Contents...)
	}
	return out
}

func clearPrefix(b *testing.B, c *s3.Client, bucket, prefix string) {
	objs := list(b, c, bucket, prefix)
	for len(objs) > 0 {
		n := min(len(objs), 1000)
		var ids []types.ObjectIdentifier
		for _, o := range objs[:n] {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if _, err := c.DeleteObjects(context.Background(), &s3.DeleteObjectsInput{Bucket: aws.String(bucket),
			Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			b.Fatalf("clear %s/%s: %v", bucket, prefix, err)
		}
		objs = objs[n:]
	}
}

// checkDelivered fails the benchmark unless every object arrived whole.
func checkDelivered(b *testing.B, c *s3.Client, bucket, prefix string, w workload) {
	objs := list(b, c, bucket, prefix)
	var total int64
	for _, o := range objs {
		total += aws.ToInt64(o.Size)
	}
	if len(objs) != w.objects || total != w.bytes() {
		b.Fatalf("%s/%s holds %d objects, %d bytes; want %d, %d", bucket, prefix, len(objs), total, w.objects, w.bytes())
	}
}

func versions() map[string]string {
	v := map[string]string{}
	bin := filepath.Join(hostlab.Root, ".tools", "bin")
	for _, t := range []struct{ name, path string }{{"rclone", filepath.Join(bin, "rclone")}, {"s5cmd", filepath.Join(bin, "s5cmd")}} {
		if pin, err := os.ReadFile(filepath.Join(bin, "."+t.name)); err == nil {
			v[t.name] = strings.TrimSpace(string(pin))
		}
	}
	if out, err := exec.Command("/usr/bin/aws", "--version").CombinedOutput(); err == nil {
		v["aws-cli"] = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	if out, err := exec.Command("git", "describe", "--always", "--dirty").Output(); err == nil {
		v["skyplane"] = "git " + strings.TrimSpace(string(out))
	}
	return v
}
