// Package hostlab measures skyplane with gateways on the host lab's hosts
// (scripts/hostlab.sh) against single-host peers, side by side in one run.
// The benchmark is BenchmarkHosts (hostlab_test.go); this file holds its
// rows and report.
package hostlab

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Row is one (workload, tool) result: medians of Runs runs.
type Row struct {
	Workload string `json:"workload"` // e.g. "large-4x48MiB"
	Tool     string `json:"tool"`     // "skyplane -n 2", "rclone", "s5cmd", "aws-cli"
	Settings string `json:"settings"`
	// Hosts is how many hosts per region the tool used: skyplane's gateways
	// per region, 1 for a peer (it runs on one host of the destination).
	Hosts int `json:"hosts"`
	// HostMbps is each host's NIC cap for traffic leaving its region.
	HostMbps      float64 `json:"host_mbps"`
	Runs          int     `json:"runs"`
	MedianSeconds float64 `json:"median_s"`
	// TransferSeconds is skyplane's own runtime of the median run: the
	// transfer without provisioning (deploy over SSH) and teardown.
	TransferSeconds float64 `json:"transfer_s,omitempty"`
	RawBytes        int64   `json:"raw_bytes"`
	Objects         int     `json:"objects"`
	GoodputMBps     float64 `json:"goodput_mbps"` // raw bytes / 1e6 / median seconds
	ObjectsPerSec   float64 `json:"objects_per_s"`
	// PctOfLink is goodput against the NIC caps the tool could use
	// (hosts × host_mbps); above 100 means compression carried more data
	// than the links did.
	PctOfLink float64 `json:"pct_of_link"`
	// RatioVsBestPeer is goodput over the best peer's of the same workload.
	RatioVsBestPeer float64 `json:"ratio_vs_best_peer"`
	// CPUSeconds is the median run's CPU time (user + system) of the tool:
	// for skyplane its client plus every gateway, wherever they ran.
	CPUSeconds   float64 `json:"cpu_s"`
	CPUSecPerGiB float64 `json:"cpu_s_per_gib"`
	WireBytes    int64   `json:"wire_bytes,omitempty"` // skyplane: bytes between gateways
}

// Meta describes the run.
type Meta struct {
	Date      time.Time         `json:"date"`
	Mode      string            `json:"mode"` // quick, full or smoke
	HostMbps  float64           `json:"host_mbps"`
	RTTms     float64           `json:"rtt_ms"`
	FlowMbps  float64           `json:"flow_mbps"`
	PerRegion int               `json:"hosts_per_region"`
	Versions  map[string]string `json:"versions"`
}

func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// Finish fills the derived columns: goodput, objects/s, share of the link,
// CPU per GiB and the ratio to the best peer of the same workload.
func Finish(rows []Row) {
	best := map[string]float64{}
	for i := range rows {
		r := &rows[i]
		if r.MedianSeconds > 0 {
			r.GoodputMBps = finite(float64(r.RawBytes) / 1e6 / r.MedianSeconds)
			r.ObjectsPerSec = finite(float64(r.Objects) / r.MedianSeconds)
		}
		if link := float64(r.Hosts) * r.HostMbps; link > 0 {
			r.PctOfLink = finite(100 * r.GoodputMBps * 8 / link)
		}
		if r.RawBytes > 0 {
			r.CPUSecPerGiB = finite(r.CPUSeconds / (float64(r.RawBytes) / (1 << 30)))
		}
		if !strings.HasPrefix(r.Tool, "skyplane") {
			best[r.Workload] = max(best[r.Workload], r.GoodputMBps)
		}
	}
	for i := range rows {
		if b := best[rows[i].Workload]; b > 0 {
			rows[i].RatioVsBestPeer = finite(rows[i].GoodputMBps / b)
		}
	}
}

// Markdown renders the rows as one table per run.
func Markdown(m Meta, rows []Row) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Host lab, %s mode, %s: %d hosts per region, each NIC capped at %.0f Mbit/s for traffic leaving its region; "+
		"between regions %.0f ms RTT and %.0f Mbit/s per connection (gateway data only).\n\n",
		m.Mode, m.Date.UTC().Format("2006-01-02 15:04 UTC"), m.PerRegion, m.HostMbps, m.RTTms, m.FlowMbps)
	b.WriteString("| workload | tool | hosts | median s | of which transfer s | MB/s | obj/s | % of NICs | vs best peer | CPU s | CPU s/GiB |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		transfer := "-"
		if r.TransferSeconds > 0 {
			transfer = fmt.Sprintf("%.2f", r.TransferSeconds)
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %s | %.1f | %.0f | %.0f | %.2f | %.1f | %.2f |\n",
			r.Workload, r.Tool, r.Hosts, r.MedianSeconds, transfer, r.GoodputMBps, r.ObjectsPerSec, r.PctOfLink,
			r.RatioVsBestPeer, r.CPUSeconds, r.CPUSecPerGiB)
	}
	b.WriteString("\nSettings:\n\n")
	seen := map[string]bool{}
	for _, r := range rows {
		if !seen[r.Tool] {
			seen[r.Tool] = true
			fmt.Fprintf(&b, "- %s: %s\n", r.Tool, r.Settings)
		}
	}
	if len(m.Versions) > 0 {
		b.WriteString("\nVersions:")
		for _, t := range []string{"skyplane", "rclone", "s5cmd", "aws-cli"} {
			if v := m.Versions[t]; v != "" {
				fmt.Fprintf(&b, " %s %s;", t, v)
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}

// WriteReport writes hostlab-<mode>.json and .md into dir and returns the
// markdown.
func WriteReport(dir string, m Meta, rows []Row) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	js, err := json.MarshalIndent(struct {
		Meta Meta  `json:"meta"`
		Rows []Row `json:"rows"`
	}{m, rows}, "", "  ")
	if err != nil {
		return "", err
	}
	md := Markdown(m, rows)
	base := filepath.Join(dir, "hostlab-"+m.Mode)
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		return "", err
	}
	return md, os.WriteFile(base+".md", []byte(md), 0o644)
}
