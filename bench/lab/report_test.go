package lab

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// rptClose compares rows field by field, floats with a relative tolerance,
// and names the first differing field.
func rptClose(t *testing.T, label string, got, want Row) {
	t.Helper()
	gv, wv := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := 0; i < gv.NumField(); i++ {
		name := gv.Type().Field(i).Name
		g, w := gv.Field(i), wv.Field(i)
		if g.Kind() == reflect.Float64 {
			a, b := g.Float(), w.Float()
			if math.IsNaN(a) || math.IsInf(a, 0) || math.Abs(a-b) > 1e-9*math.Max(1, math.Abs(b)) {
				t.Errorf("%s: %s = %v, want %v", label, name, a, b)
			}
			continue
		}
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			t.Errorf("%s: %s = %v, want %v", label, name, g.Interface(), w.Interface())
		}
	}
}

func TestFinish(t *testing.T) {
	meta := Meta{EgressUSDPerGB: 0.09}
	cases := []struct {
		name string
		meta Meta
		in   []Row
		want []Row
	}{
		{
			name: "ratio against the best skyplane row of the workload",
			meta: meta,
			in: []Row{
				{Workload: "large", Kind: "copy", Tool: "skyplane -n 1", MedianSeconds: 2, GoodputMBps: 50},
				{Workload: "large", Kind: "copy", Tool: "skyplane -n 2", MedianSeconds: 1, GoodputMBps: 100},
				{Workload: "large", Kind: "copy", Tool: "rclone", MedianSeconds: 4, GoodputMBps: 25},
				{Workload: "large", Kind: "copy", Tool: "s5cmd", MedianSeconds: 0.5, GoodputMBps: 150},
			},
			want: []Row{
				{Workload: "large", Kind: "copy", Tool: "skyplane -n 1", MedianSeconds: 2, GoodputMBps: 50, RatioVsSkyplane: 0.5},
				{Workload: "large", Kind: "copy", Tool: "skyplane -n 2", MedianSeconds: 1, GoodputMBps: 100, RatioVsSkyplane: 1},
				{Workload: "large", Kind: "copy", Tool: "rclone", MedianSeconds: 4, GoodputMBps: 25, RatioVsSkyplane: 0.25},
				{Workload: "large", Kind: "copy", Tool: "s5cmd", MedianSeconds: 0.5, GoodputMBps: 150, RatioVsSkyplane: 1.5},
			},
		},
		{
			name: "CPU seconds per GiB of raw data moved; none for a listing",
			meta: meta,
			in: []Row{
				{Workload: "large", Kind: "copy", Tool: "skyplane -n 1", MedianSeconds: 2, GoodputMBps: 50, RawBytes: 2 << 30, CPUSeconds: 3},
				{Workload: "list", Kind: "list", Tool: "skyplane", MedianSeconds: 2, Objects: 10, CPUSeconds: 1},
			},
			want: []Row{
				{Workload: "large", Kind: "copy", Tool: "skyplane -n 1", MedianSeconds: 2, GoodputMBps: 50, RawBytes: 2 << 30, CPUSeconds: 3,
					CPUSecondsPerGiB: 1.5, RatioVsSkyplane: 1},
				{Workload: "list", Kind: "list", Tool: "skyplane", MedianSeconds: 2, Objects: 10, CPUSeconds: 1, ObjectsPerSec: 5, RatioVsSkyplane: 1},
			},
		},
		{
			name: "each workload has its own reference",
			meta: meta,
			in: []Row{
				{Workload: "a", Tool: "skyplane -n 1", MedianSeconds: 1, GoodputMBps: 10},
				{Workload: "b", Tool: "skyplane -n 1", MedianSeconds: 1, GoodputMBps: 200},
				{Workload: "a", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20},
				{Workload: "b", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20},
			},
			want: []Row{
				{Workload: "a", Tool: "skyplane -n 1", MedianSeconds: 1, GoodputMBps: 10, RatioVsSkyplane: 1},
				{Workload: "b", Tool: "skyplane -n 1", MedianSeconds: 1, GoodputMBps: 200, RatioVsSkyplane: 1},
				{Workload: "a", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20, RatioVsSkyplane: 2},
				{Workload: "b", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20, RatioVsSkyplane: 0.1},
			},
		},
		{
			// Goodput is set the "wrong" way round on purpose: if list rows
			// were compared by goodput the ratio would be 100, not 0.5.
			name: "list workloads compare keys per second",
			meta: meta,
			in: []Row{
				{Workload: "list-1000000", Kind: "list", Tool: "skyplane -n 1", MedianSeconds: 10, Objects: 1000000, GoodputMBps: 1},
				{Workload: "list-1000000", Kind: "list", Tool: "rclone", MedianSeconds: 20, Objects: 1000000, GoodputMBps: 100, TTFBSeconds: 0.3},
			},
			want: []Row{
				{Workload: "list-1000000", Kind: "list", Tool: "skyplane -n 1", MedianSeconds: 10, Objects: 1000000, GoodputMBps: 1, ObjectsPerSec: 100000, RatioVsSkyplane: 1},
				{Workload: "list-1000000", Kind: "list", Tool: "rclone", MedianSeconds: 20, Objects: 1000000, GoodputMBps: 100, ObjectsPerSec: 50000, RatioVsSkyplane: 0.5, TTFBSeconds: 0.3},
			},
		},
		{
			name: "no skyplane row leaves the ratio at 0",
			meta: meta,
			in:   []Row{{Workload: "w", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20}},
			want: []Row{{Workload: "w", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20}},
		},
		{
			name: "skyplane row with zero goodput gives 0, not Inf",
			meta: meta,
			in: []Row{
				{Workload: "w", Tool: "skyplane -n 1"},
				{Workload: "w", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20},
			},
			want: []Row{
				{Workload: "w", Tool: "skyplane -n 1"},
				{Workload: "w", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20},
			},
		},
		{
			name: "egress cost, percent of link, objects per second",
			meta: meta,
			in: []Row{{Workload: "w", Kind: "copy", Tool: "s5cmd", MedianSeconds: 4, GoodputMBps: 100,
				LinkCapacityMbps: 1600, WireBytes: 2e9, RawBytes: 4e8, Objects: 16}},
			want: []Row{{Workload: "w", Kind: "copy", Tool: "s5cmd", MedianSeconds: 4, GoodputMBps: 100,
				LinkCapacityMbps: 1600, WireBytes: 2e9, RawBytes: 4e8, Objects: 16,
				PctOfLink: 50, EgressUSD: 0.18, ObjectsPerSec: 4}},
		},
		{
			name: "goodput is derived from raw bytes when the caller left it 0",
			meta: meta,
			in:   []Row{{Workload: "w", Kind: "copy", Tool: "aws-cli", MedianSeconds: 10, RawBytes: 1e9, LinkCapacityMbps: 800}},
			want: []Row{{Workload: "w", Kind: "copy", Tool: "aws-cli", MedianSeconds: 10, RawBytes: 1e9, LinkCapacityMbps: 800,
				GoodputMBps: 100, PctOfLink: 100}},
		},
		{
			name: "zero capacity gives no percentage",
			meta: meta,
			in:   []Row{{Workload: "w", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20}},
			want: []Row{{Workload: "w", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20}},
		},
		{
			name: "zero duration and a caller's Inf/NaN become 0",
			meta: meta,
			in: []Row{{Workload: "w", Kind: "copy", Tool: "skyplane -n 1", MedianSeconds: 0, Objects: 10, RawBytes: 1e6,
				GoodputMBps: math.Inf(1), PeakRSSMB: math.NaN(), LinkCapacityMbps: 100}},
			want: []Row{{Workload: "w", Kind: "copy", Tool: "skyplane -n 1", Objects: 10, RawBytes: 1e6, LinkCapacityMbps: 100}},
		},
		{
			name: "NaN price costs nothing rather than poisoning the JSON",
			meta: Meta{EgressUSDPerGB: math.NaN()},
			in:   []Row{{Workload: "w", Tool: "rclone", MedianSeconds: 1, WireBytes: 1e9}},
			want: []Row{{Workload: "w", Tool: "rclone", MedianSeconds: 1, WireBytes: 1e9}},
		},
		{
			name: "stale derived fields are recomputed",
			meta: meta,
			in:   []Row{{Workload: "w", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20, RatioVsSkyplane: 7, PctOfLink: 9, EgressUSD: 3, ObjectsPerSec: 5}},
			want: []Row{{Workload: "w", Tool: "rclone", MedianSeconds: 1, GoodputMBps: 20}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows := append([]Row(nil), c.in...)
			Finish(rows, c.meta)
			if len(rows) != len(c.want) {
				t.Fatalf("%d rows, want %d", len(rows), len(c.want))
			}
			for i := range rows {
				rptClose(t, rows[i].Tool+"/"+rows[i].Workload, rows[i], c.want[i])
			}
			if _, err := json.Marshal(rows); err != nil {
				t.Errorf("json.Marshal after Finish: %v", err)
			}
		})
	}
}

func rptMeta() Meta {
	return Meta{
		Date:           time.Date(2026, 3, 14, 15, 9, 0, 0, time.UTC),
		RTTms:          80,
		FlowMbps:       50,
		GatewayMbps:    1000,
		EgressUSDPerGB: 0.09,
		Quick:          true,
		Versions:       map[string]string{"rclone": "v1.99.0", "s5cmd": "v2.9.0", "skyplane": "dev-abc123"},
		Settings:       map[string]string{"aws-cli": "max_concurrent_requests=32"},
	}
}

func rptRows() []Row {
	return []Row{
		{Workload: "large-16x64MiB", Kind: "copy", Tool: "skyplane -n 1", Settings: "-n 1 --connections 32", Runs: 3, MedianSeconds: 20, RawBytes: 16 << 26, WireBytes: 16<<26 + 1000, Objects: 16, LinkCapacityMbps: 1000, PeakRSSMB: 120},
		{Workload: "large-16x64MiB", Kind: "copy", Tool: "skyplane -n 2", Settings: "-n 2 --connections 32", Runs: 3, MedianSeconds: 10, RawBytes: 16 << 26, WireBytes: 16<<26 + 2000, Objects: 16, LinkCapacityMbps: 2000, PeakRSSMB: 130},
		{Workload: "large-16x64MiB", Kind: "copy", Tool: "rclone", Settings: "--transfers 4", Runs: 3, MedianSeconds: 40, RawBytes: 16 << 26, Objects: 16, LinkCapacityMbps: 1000, PeakRSSMB: 80, CPUSeconds: 3},
		{Workload: "small-10000x4KiB", Kind: "copy", Tool: "skyplane -n 1", Settings: "-n 1 --connections 32", Runs: 3, MedianSeconds: 5, RawBytes: 10000 << 12, Objects: 10000, LinkCapacityMbps: 1000},
		{Workload: "small-10000x4KiB", Kind: "copy", Tool: "s5cmd", Settings: "--numworkers 32", Runs: 3, MedianSeconds: 2.5, RawBytes: 10000 << 12, Objects: 10000, LinkCapacityMbps: 1000},
		{Workload: "list-1000000", Kind: "list", Tool: "skyplane -n 1", Settings: "ls --recursive", Runs: 3, MedianSeconds: 8, Objects: 1000000, TTFBSeconds: 0.25, PeakRSSMB: 60},
		{Workload: "list-1000000", Kind: "list", Tool: "aws-cli", Runs: 3, MedianSeconds: 32, Objects: 1000000, TTFBSeconds: 1.5, PeakRSSMB: 90, CPUSeconds: 12},
	}
}

const (
	rptCopyHeader = "| workload | tool | goodput MB/s | ratio vs skyplane | % of link | wire/raw | objects/s | CPU-s/GiB | peak RSS MB | egress $ |"
	rptListHeader = "| workload | tool | keys | seconds | keys/s | time to first key s | CPU s | peak RSS MB |"
)

func TestWriteReportJSONAndMarkdown(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "results") // WriteReport must create it
	m, rows := rptMeta(), rptRows()
	Finish(rows, m)
	md, err := WriteReport(dir, m, rows)
	if err != nil {
		t.Fatal(err)
	}

	js, err := os.ReadFile(filepath.Join(dir, "latest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Date string `json:"date"`
		Link struct {
			RTTms       float64 `json:"rtt_ms"`
			FlowMbps    float64 `json:"flow_mbps"`
			GatewayMbps float64 `json:"gateway_mbps"`
		} `json:"link"`
		EgressUSDPerGB float64           `json:"egress_usd_per_gb"`
		Quick          bool              `json:"quick"`
		Versions       map[string]string `json:"versions"`
		Rows           []Row             `json:"rows"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatalf("latest.json: %v\n%s", err, js)
	}
	if !reflect.DeepEqual(doc.Rows, rows) {
		t.Errorf("rows did not round-trip:\n got %+v\nwant %+v", doc.Rows, rows)
	}
	if doc.Date != "2026-03-14T15:09:00Z" || doc.Link.RTTms != 80 || doc.Link.FlowMbps != 50 || doc.Link.GatewayMbps != 1000 ||
		doc.EgressUSDPerGB != 0.09 || !doc.Quick || !reflect.DeepEqual(doc.Versions, m.Versions) {
		t.Errorf("metadata did not round-trip: %+v", doc)
	}

	onDisk, err := os.ReadFile(filepath.Join(dir, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(onDisk) != md {
		t.Errorf("returned markdown differs from latest.md")
	}
	lines := strings.Split(md, "\n")
	if !strings.Contains(lines[0], "2026-03-14") || !strings.Contains(lines[0], "RTT 80 ms") ||
		!strings.Contains(lines[0], "50 Mbit/s per connection") || !strings.Contains(lines[0], "1000 Mbit/s per gateway") ||
		!strings.Contains(lines[0], "median of 3 runs") {
		t.Errorf("header line lacks date, link or runs: %q", lines[0])
	}
	for _, h := range []string{rptCopyHeader, rptListHeader, "\nSettings:\n", "\nVersions:\n", "- rclone: v1.99.0",
		"- aws-cli: max_concurrent_requests=32", "- s5cmd: --numworkers 32"} {
		if !strings.Contains(md, h) {
			t.Errorf("markdown lacks %q:\n%s", h, md)
		}
	}
	// Copy rows must be in the copy table and list rows in the list table.
	copyAt, listAt := strings.Index(md, rptCopyHeader), strings.Index(md, rptListHeader)
	for _, r := range rows {
		cell := "| " + r.Workload + " | " + r.Tool + " |"
		at := strings.Index(md, cell)
		if at < 0 {
			t.Errorf("markdown has no row %q", cell)
			continue
		}
		if inList := at > listAt; inList != (r.Kind == "list") || at < copyAt {
			t.Errorf("row %q is in the wrong table", cell)
		}
	}
	if !strings.Contains(md, "| large-16x64MiB | rclone | 26.8 | 0.25 | 21.5 | - | 0.4 | 3.00 | 80 |") {
		t.Errorf("rclone large row wrongly formatted:\n%s", md)
	}
	if !strings.Contains(md, "| list-1000000 | aws-cli | 1000000 | 32.00 | 31250 | 1.500 | 12.00 | 90 |") {
		t.Errorf("aws-cli list row wrongly formatted:\n%s", md)
	}
}

func TestWriteReportNaNAndEmpty(t *testing.T) {
	dir := t.TempDir()
	// Not passed through Finish: WriteReport must still produce valid JSON.
	md, err := WriteReport(dir, Meta{RTTms: math.NaN()}, []Row{{Workload: "w", Tool: "rclone", GoodputMBps: math.Inf(1), PctOfLink: math.NaN()}})
	if err != nil {
		t.Fatalf("NaN rows: %v", err)
	}
	if strings.Contains(md, rptListHeader) {
		t.Errorf("list table printed without list rows:\n%s", md)
	}

	dir = t.TempDir()
	md, err = WriteReport(dir, Meta{}, nil)
	if err != nil {
		t.Fatalf("no rows: %v", err)
	}
	if strings.Contains(md, rptCopyHeader) || strings.Contains(md, rptListHeader) {
		t.Errorf("tables printed without rows:\n%s", md)
	}
	js, _ := os.ReadFile(filepath.Join(dir, "latest.json"))
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	if string(doc["rows"]) != "[]" {
		t.Errorf(`"rows" = %s, want []`, doc["rows"])
	}
	if _, err := rptDecode(t, dir); err != nil {
		t.Fatal(err)
	}
}

func TestSettingsDifferingByWorkload(t *testing.T) {
	rows := []Row{
		{Workload: "large", Tool: "rclone", Settings: "--transfers 4"},
		{Workload: "list", Tool: "rclone", Settings: "lsf -R"},
		{Workload: "small", Tool: "rclone", Settings: "--transfers 4"},
	}
	got := settingsLines(Meta{Settings: map[string]string{"rclone": "ignored", "s5cmd": "--numworkers 32"}}, rows)
	want := []string{"rclone (large): --transfers 4", "rclone (list): lsf -R", "s5cmd: --numworkers 32"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settingsLines = %q, want %q", got, want)
	}
}

func rptDecode(t *testing.T, dir string) (image.Image, error) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "latest.png"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return png.Decode(f)
}

func rptSame(c color.Color, want color.RGBA) bool {
	r, g, b, a := c.RGBA()
	wr, wg, wb, wa := want.RGBA()
	return r == wr && g == wg && b == wb && a == wa
}

type rptBar struct {
	sky    bool
	length int // bar-coloured pixels on the bar's middle scanline
	x0     int
}

// rptBars finds bars as runs of scanlines that contain bar-coloured pixels;
// nothing else in the chart is drawn in those colours.
func rptBars(img image.Image) []rptBar {
	b := img.Bounds()
	var bars []rptBar
	start := -1
	for y := b.Min.Y; y <= b.Max.Y; y++ {
		has := false
		if y < b.Max.Y {
			for x := b.Min.X; x < b.Max.X && !has; x++ {
				c := img.At(x, y)
				has = rptSame(c, colSkyplane) || rptSame(c, colPeer)
			}
		}
		switch {
		case has && start < 0:
			start = y
		case !has && start >= 0:
			mid := (start + y) / 2
			bar := rptBar{x0: -1}
			for x := b.Min.X; x < b.Max.X; x++ {
				c := img.At(x, mid)
				if rptSame(c, colSkyplane) || rptSame(c, colPeer) {
					bar.length++
					bar.sky = rptSame(c, colSkyplane)
					if bar.x0 < 0 {
						bar.x0 = x
					}
				}
			}
			bars = append(bars, bar)
			start = -1
		}
	}
	return bars
}

func TestWriteReportChart(t *testing.T) {
	dir := t.TempDir()
	m, rows := rptMeta(), rptRows()
	Finish(rows, m)
	if _, err := WriteReport(dir, m, rows); err != nil {
		t.Fatal(err)
	}
	img, err := rptDecode(t, dir)
	if err != nil {
		t.Fatalf("latest.png: %v", err)
	}
	b := img.Bounds()
	if b.Dx() != 1000 {
		t.Errorf("width %d, want 1000", b.Dx())
	}
	colours := map[color.RGBA]bool{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), uint8(a >> 8)}] = true
		}
	}
	// Background, text, both bar colours at least.
	if len(colours) < 4 {
		t.Errorf("only %d distinct colours", len(colours))
	}
	if !colours[colSkyplane] || !colours[colPeer] {
		t.Errorf("bar colours missing: skyplane %v, peer %v", colours[colSkyplane], colours[colPeer])
	}

	bars := rptBars(img)
	if len(bars) != len(rows) {
		t.Fatalf("found %d bars, want one per row (%d): %+v", len(bars), len(rows), bars)
	}
	for i, r := range rows {
		if bars[i].sky != strings.HasPrefix(r.Tool, "skyplane") {
			t.Errorf("bar %d (%s) has the wrong colour", i, r.Tool)
		}
		if bars[i].x0 != bars[0].x0 {
			t.Errorf("bar %d starts at x=%d, bar 0 at %d", i, bars[i].x0, bars[0].x0)
		}
		if bars[i].length <= 0 {
			t.Errorf("bar %d (%s) is empty", i, r.Tool)
		}
	}
	// large: skyplane -n 2 is fastest and twice -n 1, four times rclone.
	full := bars[1].length
	if !(full > bars[0].length && bars[0].length > bars[2].length) {
		t.Errorf("bar lengths do not follow goodput: %d %d %d", bars[0].length, bars[1].length, bars[2].length)
	}
	for _, c := range []struct {
		i     int
		ratio float64
	}{{0, 0.5}, {2, 0.25}} {
		if want := c.ratio * float64(full); math.Abs(float64(bars[c.i].length)-want) > 1.5 {
			t.Errorf("bar %d length %d, want ~%.0f", c.i, bars[c.i].length, want)
		}
	}
	// Each panel scales to its own maximum, so every panel's best bar is full.
	for _, i := range []int{4, 5} {
		if bars[i].length != full {
			t.Errorf("panel-best bar %d has length %d, want %d", i, bars[i].length, full)
		}
	}
	if bars[3].length >= bars[4].length || bars[6].length >= bars[5].length {
		t.Errorf("slower tool drew the longer bar: %+v", bars)
	}
}
