package hostlab

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestFinish(t *testing.T) {
	rows := []Row{
		{Workload: "w", Tool: "skyplane -n 2", Hosts: 2, HostMbps: 100, MedianSeconds: 4, RawBytes: 100e6, Objects: 4, CPUSeconds: 2},
		{Workload: "w", Tool: "rclone", Hosts: 1, HostMbps: 100, MedianSeconds: 10, RawBytes: 100e6, Objects: 4, CPUSeconds: 1},
		{Workload: "w", Tool: "s5cmd", Hosts: 1, HostMbps: 100, MedianSeconds: 8, RawBytes: 100e6, Objects: 4},
		{Workload: "other", Tool: "skyplane -n 1", Hosts: 1, HostMbps: 100, MedianSeconds: 0, RawBytes: 1},
	}
	Finish(rows)
	near := func(got, want float64) bool { return math.Abs(got-want) < 1e-9 }
	sky, s5 := rows[0], rows[2]
	if !near(sky.GoodputMBps, 25) || !near(sky.ObjectsPerSec, 1) || !near(sky.PctOfLink, 100) {
		t.Errorf("skyplane row: %+v", sky)
	}
	// The best peer is s5cmd (12.5 MB/s): skyplane is 2x it.
	if !near(sky.RatioVsBestPeer, 2) || !near(s5.RatioVsBestPeer, 1) || !near(rows[1].RatioVsBestPeer, 0.8) {
		t.Errorf("ratios: sky %v s5cmd %v rclone %v", sky.RatioVsBestPeer, s5.RatioVsBestPeer, rows[1].RatioVsBestPeer)
	}
	if want := 2 / (100e6 / float64(1<<30)); !near(sky.CPUSecPerGiB, want) {
		t.Errorf("cpu/GiB %v, want %v", sky.CPUSecPerGiB, want)
	}
	if rows[3].GoodputMBps != 0 || rows[3].RatioVsBestPeer != 0 {
		t.Errorf("a zero-time row without peers: %+v", rows[3])
	}
	md := Markdown(Meta{Date: time.Unix(0, 0), Mode: "quick", HostMbps: 100}, rows)
	if !strings.Contains(md, "| w | skyplane -n 2 | 2 | 4.00 | - | 25.0 | 1 | 100 | 2.00 | 2.0 |") {
		t.Errorf("markdown:\n%s", md)
	}
}
