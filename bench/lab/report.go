package lab

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/inconsolata"
	"golang.org/x/image/math/fixed"
)

// Row is one (workload, tool) result: medians of Runs runs measured side by side.
type Row struct {
	Workload         string  `json:"workload"` // e.g. "large-16x64MiB", "text-256MiB", "small-10000x4KiB", "list-1000000"
	Kind             string  `json:"kind"`     // "copy" or "list"
	Tool             string  `json:"tool"`     // "skyplane -n 1", "skyplane -n 2", "rclone", "s5cmd", "aws-cli"
	Settings         string  `json:"settings"`
	Runs             int     `json:"runs"`
	MedianSeconds    float64 `json:"median_s"`
	GoodputMBps      float64 `json:"goodput_mbps"`       // raw bytes / 1e6 / median seconds (copy)
	RatioVsSkyplane  float64 `json:"ratio_vs_skyplane"`  // this tool's figure / best skyplane row's figure of the same workload (goodput for copy, keys/s for list)
	LinkCapacityMbps float64 `json:"link_capacity_mbps"` // aggregate capacity of the links this tool can use
	PctOfLink        float64 `json:"pct_of_link"`
	WireBytes        int64   `json:"wire_bytes"` // bytes that crossed the emulated WAN
	RawBytes         int64   `json:"raw_bytes"`
	Objects          int     `json:"objects"`
	ObjectsPerSec    float64 `json:"objects_per_s"`
	PeakRSSMB        float64 `json:"peak_rss_mb"`
	// CPUSeconds is the median user + system CPU time of the tool and every
	// process it waited for (skyplane's local gateways); CPUSecondsPerGiB
	// divides it by the raw GiB moved (copy).
	CPUSeconds       float64 `json:"cpu_s"`
	CPUSecondsPerGiB float64 `json:"cpu_s_per_gib"`
	TTFBSeconds      float64 `json:"ttfb_s,omitempty"` // list: time to the first key printed
	EgressUSD        float64 `json:"egress_usd"`       // estimated egress cost of WireBytes
}

// Meta describes the run.
type Meta struct {
	Date           time.Time
	RTTms          float64 // link round-trip time
	FlowMbps       float64 // per-connection cap (toxiproxy bandwidth toxic)
	GatewayMbps    float64 // per-gateway egress cap (netns + htb), 0 = none
	EgressUSDPerGB float64 // price used for EgressUSD
	Quick          bool
	Versions       map[string]string // tool → version string
	Settings       map[string]string // tool → settings line (optional, Row.Settings also has it)
}

const listKind = "list"

// finite maps NaN and ±Inf to 0: json.Marshal refuses them, and a
// zero-duration run must not make the whole report unwritable.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func sanitizeRow(r *Row) {
	for _, p := range []*float64{&r.MedianSeconds, &r.GoodputMBps, &r.RatioVsSkyplane, &r.LinkCapacityMbps,
		&r.PctOfLink, &r.ObjectsPerSec, &r.PeakRSSMB, &r.TTFBSeconds, &r.EgressUSD, &r.CPUSeconds, &r.CPUSecondsPerGiB} {
		*p = finite(*p)
	}
}

// figure is what a row is compared and charted by.
func figure(r Row) float64 {
	if r.Kind == listKind {
		return r.ObjectsPerSec
	}
	return r.GoodputMBps
}

func isSkyplane(r Row) bool { return strings.HasPrefix(r.Tool, "skyplane") }

// Finish fills the derived fields of rows in place: ObjectsPerSec, PctOfLink
// (100*goodput*8/capacity when capacity>0), EgressUSD (WireBytes/1e9 * price),
// RatioVsSkyplane (per workload, against the best row whose Tool starts with
// "skyplane"; for Kind "list" keys/s, i.e. ObjectsPerSec, is compared; 0 if the
// workload has no skyplane row). GoodputMBps is computed from RawBytes only
// when the caller left it 0, so a caller's own figure is never overwritten.
// NaN and Inf anywhere become 0.
func Finish(rows []Row, m Meta) {
	price := finite(m.EgressUSDPerGB)
	best := map[string]float64{}
	for i := range rows {
		r := &rows[i]
		sanitizeRow(r)
		r.ObjectsPerSec, r.PctOfLink, r.EgressUSD, r.RatioVsSkyplane, r.CPUSecondsPerGiB = 0, 0, 0, 0, 0
		if r.Kind != listKind && r.RawBytes > 0 {
			r.CPUSecondsPerGiB = finite(r.CPUSeconds / (float64(r.RawBytes) / (1 << 30)))
		}
		if r.MedianSeconds > 0 {
			r.ObjectsPerSec = finite(float64(r.Objects) / r.MedianSeconds)
			if r.GoodputMBps == 0 && r.Kind != listKind && r.RawBytes > 0 {
				r.GoodputMBps = finite(float64(r.RawBytes) / 1e6 / r.MedianSeconds)
			}
		}
		if r.LinkCapacityMbps > 0 {
			r.PctOfLink = finite(100 * r.GoodputMBps * 8 / r.LinkCapacityMbps)
		}
		if r.WireBytes > 0 {
			r.EgressUSD = finite(float64(r.WireBytes) / 1e9 * price)
		}
		if isSkyplane(*r) {
			if f := figure(*r); f > best[r.Workload] {
				best[r.Workload] = f
			}
		}
	}
	for i := range rows {
		if b := best[rows[i].Workload]; b > 0 {
			rows[i].RatioVsSkyplane = finite(figure(rows[i]) / b)
		}
	}
}

type reportLink struct {
	RTTms       float64 `json:"rtt_ms"`
	FlowMbps    float64 `json:"flow_mbps"`
	GatewayMbps float64 `json:"gateway_mbps"`
}

type reportDoc struct {
	Date           string            `json:"date"`
	Link           reportLink        `json:"link"`
	EgressUSDPerGB float64           `json:"egress_usd_per_gb"`
	Quick          bool              `json:"quick"`
	Versions       map[string]string `json:"versions"`
	Settings       map[string]string `json:"settings,omitempty"`
	Rows           []Row             `json:"rows"`
}

// WriteReport writes dir/latest.json, dir/latest.md and dir/latest.png and
// returns the markdown so the caller can print it. rows are written as
// given (call Finish first); only NaN/Inf are zeroed, in a copy.
func WriteReport(dir string, m Meta, rows []Row) (string, error) {
	if m.Date.IsZero() {
		m.Date = time.Now()
	}
	m.Date = m.Date.UTC()
	m.RTTms, m.FlowMbps, m.GatewayMbps = finite(m.RTTms), finite(m.FlowMbps), finite(m.GatewayMbps)
	m.EgressUSDPerGB = finite(m.EgressUSDPerGB)
	rows = slices.Clone(rows)
	if rows == nil {
		rows = []Row{} // "rows": [] rather than null
	}
	for i := range rows {
		sanitizeRow(&rows[i])
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}

	versions := m.Versions
	if versions == nil {
		versions = map[string]string{}
	}
	js, err := json.MarshalIndent(reportDoc{
		Date:           m.Date.Format(time.RFC3339),
		Link:           reportLink{RTTms: m.RTTms, FlowMbps: m.FlowMbps, GatewayMbps: m.GatewayMbps},
		EgressUSDPerGB: m.EgressUSDPerGB,
		Quick:          m.Quick,
		Versions:       versions,
		Settings:       m.Settings,
		Rows:           rows,
	}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.json"), append(js, '\n'), 0o644); err != nil {
		return "", err
	}

	md := markdown(m, rows)
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(md), 0o644); err != nil {
		return md, err
	}

	img := chart(m, rows)
	f, err := os.Create(filepath.Join(dir, "latest.png"))
	if err != nil {
		return md, err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return md, err
	}
	return md, f.Close()
}

// linkSummary is shared by the markdown header and the chart title so the
// two can never disagree.
func linkSummary(m Meta) string {
	parts := []string{fmt.Sprintf("RTT %g ms", m.RTTms), fmt.Sprintf("%g Mbit/s per connection", m.FlowMbps)}
	if m.GatewayMbps > 0 {
		parts = append(parts, fmt.Sprintf("%g Mbit/s per gateway", m.GatewayMbps))
	} else {
		parts = append(parts, "no gateway cap")
	}
	return strings.Join(parts, ", ")
}

func runsSummary(rows []Row) string {
	if len(rows) == 0 {
		return "no runs"
	}
	lo, hi := rows[0].Runs, rows[0].Runs
	for _, r := range rows {
		lo, hi = min(lo, r.Runs), max(hi, r.Runs)
	}
	if lo == hi {
		return fmt.Sprintf("median of %d runs", lo)
	}
	return fmt.Sprintf("median of %d-%d runs", lo, hi)
}

func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// orDash prints unknown (zero) figures as "-" so that they are not read as
// measured zeros.
func orDash(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func markdown(m Meta, rows []Row) string {
	var b strings.Builder
	quick := ""
	if m.Quick {
		quick = " (quick)"
	}
	fmt.Fprintf(&b, "WAN lab, %s: %s; egress $%g/GB; %s%s.\n", m.Date.Format("2006-01-02 15:04 UTC"),
		linkSummary(m), m.EgressUSDPerGB, runsSummary(rows), quick)

	var copies, lists []Row
	for _, r := range rows {
		if r.Kind == listKind {
			lists = append(lists, r)
		} else {
			copies = append(copies, r)
		}
	}
	if len(copies) > 0 {
		b.WriteString("\n| workload | tool | goodput MB/s | ratio vs skyplane | % of link | wire/raw | objects/s | CPU-s/GiB | peak RSS MB | egress $ |\n")
		b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, r := range copies {
			wireRaw := "-"
			if r.WireBytes > 0 && r.RawBytes > 0 {
				wireRaw = fmt.Sprintf("%.3f", float64(r.WireBytes)/float64(r.RawBytes))
			}
			fmt.Fprintf(&b, "| %s | %s | %.1f | %s | %s | %s | %.1f | %s | %.0f | %s |\n",
				mdCell(r.Workload), mdCell(r.Tool), r.GoodputMBps, orDash(r.RatioVsSkyplane, "%.2f"),
				orDash(r.PctOfLink, "%.1f"), wireRaw, r.ObjectsPerSec, orDash(r.CPUSecondsPerGiB, "%.2f"), r.PeakRSSMB, orDash(r.EgressUSD, "%.4f"))
		}
	}
	if len(lists) > 0 {
		b.WriteString("\n| workload | tool | keys | seconds | keys/s | time to first key s | CPU s | peak RSS MB |\n")
		b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
		for _, r := range lists {
			fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %.0f | %s | %s | %.0f |\n",
				mdCell(r.Workload), mdCell(r.Tool), r.Objects, r.MedianSeconds, r.ObjectsPerSec,
				orDash(r.TTFBSeconds, "%.3f"), orDash(r.CPUSeconds, "%.2f"), r.PeakRSSMB)
		}
	}

	if s := settingsLines(m, rows); len(s) > 0 {
		b.WriteString("\nSettings:\n")
		for _, l := range s {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	if len(m.Versions) > 0 {
		b.WriteString("\nVersions:\n")
		keys := make([]string, 0, len(m.Versions))
		for k := range m.Versions {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %s\n", k, m.Versions[k])
		}
	}
	return b.String()
}

// settingsLines lists each tool once, in row order; a tool whose settings
// differ between workloads (e.g. list vs copy flags) gets one line per
// workload, so no setting silently hides another.
func settingsLines(m Meta, rows []Row) []string {
	type ws struct{ workload, settings string }
	var order []string
	per := map[string][]ws{}
	for _, r := range rows {
		if r.Settings == "" {
			continue
		}
		if _, ok := per[r.Tool]; !ok {
			order = append(order, r.Tool)
		}
		if !slices.ContainsFunc(per[r.Tool], func(x ws) bool { return x.settings == r.Settings }) {
			per[r.Tool] = append(per[r.Tool], ws{r.Workload, r.Settings})
		}
	}
	var out []string
	for _, t := range order {
		if len(per[t]) == 1 {
			out = append(out, fmt.Sprintf("%s: %s", t, per[t][0].settings))
			continue
		}
		for _, x := range per[t] {
			out = append(out, fmt.Sprintf("%s (%s): %s", t, x.workload, x.settings))
		}
	}
	var rest []string
	for t, s := range m.Settings {
		if _, ok := per[t]; !ok && s != "" {
			rest = append(rest, fmt.Sprintf("%s: %s", t, s))
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// Chart geometry and colours; the test reads the colours to find bars.
const (
	chartWidth   = 1000
	chartMargin  = 16
	chartTitleH  = 40
	panelTitleH  = 24
	barH         = 22
	barGap       = 6
	panelPadH    = 16
	labelPad     = 10
	valueW       = 110
	maxLabelW    = 260
	glyphW       = 8  // inconsolata 8x16
	textBaseline = 14 // the face's ascent
)

var (
	colBackground = color.RGBA{0xff, 0xff, 0xff, 0xff}
	colText       = color.RGBA{0x20, 0x20, 0x20, 0xff}
	colAxis       = color.RGBA{0xb0, 0xb0, 0xb0, 0xff}
	colSkyplane   = color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	colPeer       = color.RGBA{0xff, 0x7f, 0x0e, 0xff}
)

type panel struct {
	workload, unit string
	rows           []Row
}

func panels(rows []Row) []panel {
	var ps []panel
	idx := map[string]int{}
	for _, r := range rows {
		i, ok := idx[r.Workload]
		if !ok {
			unit := "goodput MB/s"
			if r.Kind == listKind {
				unit = "keys/s"
			}
			i = len(ps)
			idx[r.Workload] = i
			ps = append(ps, panel{workload: r.Workload, unit: unit})
		}
		ps[i].rows = append(ps[i].rows, r)
	}
	return ps
}

func fmtValue(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func drawText(img draw.Image, face font.Face, x, baseline int, c color.Color, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: face, Dot: fixed.P(x, baseline)}
	d.DrawString(s)
}

// clip shortens s to fit maxPx pixels of the monospace face.
func clip(s string, maxPx int) string {
	n := maxPx / glyphW
	if len(s) <= n {
		return s
	}
	if n <= 1 {
		return ""
	}
	return s[:n-1] + "~"
}

func chart(m Meta, rows []Row) *image.RGBA {
	ps := panels(rows)
	h := chartTitleH + chartMargin
	for _, p := range ps {
		h += panelTitleH + len(p.rows)*(barH+barGap) + panelPadH
	}
	if len(ps) == 0 {
		h += panelTitleH
	}
	img := image.NewRGBA(image.Rect(0, 0, chartWidth, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(colBackground), image.Point{}, draw.Src)

	regular, bold := inconsolata.Regular8x16, inconsolata.Bold8x16
	title := fmt.Sprintf("WAN lab %s | %s | %s", m.Date.Format("2006-01-02 15:04 UTC"), linkSummary(m), runsSummary(rows))
	if m.Quick {
		title += " (quick)"
	}
	drawText(img, bold, chartMargin, chartMargin+textBaseline, colText, clip(title, chartWidth-2*chartMargin))

	labelW := 0
	for _, r := range rows {
		labelW = max(labelW, len(r.Tool)*glyphW)
	}
	labelW = min(labelW, maxLabelW)
	barX0 := chartMargin + labelW + labelPad
	barMax := chartWidth - chartMargin - valueW - barX0

	y := chartTitleH
	if len(ps) == 0 {
		drawText(img, regular, chartMargin, y+textBaseline, colText, "no results")
	}
	for _, p := range ps {
		drawText(img, bold, chartMargin, y+textBaseline, colText, clip(p.workload+" - "+p.unit, chartWidth-2*chartMargin))
		y += panelTitleH
		// Each panel has its own scale: MB/s and keys/s are not comparable.
		top := 0.0
		for _, r := range p.rows {
			top = max(top, figure(r))
		}
		for _, r := range p.rows {
			v := figure(r)
			name := clip(r.Tool, labelW)
			drawText(img, regular, barX0-labelPad-len(name)*glyphW, y+(barH+textBaseline)/2, colText, name)
			n := 0
			if top > 0 && v > 0 {
				n = max(1, int(math.Round(v/top*float64(barMax))))
			}
			c := colPeer
			if isSkyplane(r) {
				c = colSkyplane
			}
			draw.Draw(img, image.Rect(barX0, y, barX0+n, y+barH), image.NewUniform(c), image.Point{}, draw.Src)
			drawText(img, regular, barX0+n+6, y+(barH+textBaseline)/2, colText, fmtValue(v))
			y += barH + barGap
		}
		draw.Draw(img, image.Rect(barX0-1, y-len(p.rows)*(barH+barGap)-barGap/2, barX0, y-barGap/2),
			image.NewUniform(colAxis), image.Point{}, draw.Src)
		y += panelPadH
	}
	return img
}
