package e2e

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
)

// TestCostAfterTransfer: with prices for local gateways (a planner data
// file), the summary prices the bytes the destination gateways received on
// the wire and the gateways' time, beside the estimate, and says what
// compression saved of the egress fees: much for text, nothing for random
// bytes.
func TestCostAfterTransfer(t *testing.T) {
	const perGiB, perHour = 0.09, 3.6
	tests := []struct {
		name         string
		data         func(t *testing.T, p string)
		minSaved     float64
		maxSaved     float64
		compressible bool
	}{
		{"compressible", func(t *testing.T, p string) { writeFile(t, p, textCorpus(8<<20)) }, 30, 100, true},
		{"incompressible", func(t *testing.T, p string) { writeRandomFile(t, p, 8<<20) }, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			s.useGateways() // priced gateways carry the bytes
			prices := s.path("prices.csv")
			rows := fmt.Sprintf("throughput,local:src,local:dst,8,test\negress,local:src,local:dst,%v,test\nvm,local:*,*,%v,test\n", perGiB, perHour)
			if err := os.WriteFile(prices, []byte(rows), 0o600); err != nil {
				t.Fatal(err)
			}
			s.config("planner_data_file", prices, "max_instances", "2")
			src, dst := s.path("src"), s.path("dst")
			tt.data(t, src+"/data.bin")

			r := s.mustRun("cp", "-r", "-y", "--json", src, dst)
			assertTreesEqual(t, src, dst)
			ev := doneEvent(t, r.stdout)
			num := func(k string) float64 {
				v, ok := ev[k].(float64)
				if !ok {
					t.Fatalf("done event lacks %s: %v", k, ev)
				}
				return v
			}
			wire, raw, secs := num("wire_bytes"), num("bytes"), num("runtime_s")
			wantEgress := wire / (1 << 30) * perGiB
			wantRaw := raw / (1 << 30) * perGiB
			wantVM := 4 * perHour / 3600 * secs // two gateways at each end
			near := func(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Max(1, want) }
			if !near(num("egress_usd"), wantEgress) || !near(num("egress_uncompressed_usd"), wantRaw) ||
				!near(num("vm_usd"), wantVM) || !near(num("cost_usd"), wantEgress+wantVM) {
				t.Errorf("cost: %v; want egress %v (uncompressed %v), VMs %v", ev, wantEgress, wantRaw, wantVM)
			}
			saved := num("compression_saved_fees_pct")
			if !near(saved, max(0, 100*(1-wantEgress/wantRaw))) || saved < tt.minSaved || saved > tt.maxSaved {
				t.Errorf("compression saved %v %% of fees (wire %v of %v bytes)", saved, wire, raw)
			}
			// The estimate: the raw bytes at 8 Gbit/s on four VMs, egress uncompressed.
			wantEst := wantRaw + 4*perHour/3600*raw*8/8e9
			if !near(num("cost_estimate_usd"), wantEst) {
				t.Errorf("estimate %v, want %v", num("cost_estimate_usd"), wantEst)
			}

			// The text summary says the same.
			if err := os.RemoveAll(dst); err != nil {
				t.Fatal(err)
			}
			r = s.mustRun("cp", "-r", "-y", src, dst)
			for _, m := range []string{"  Cost:        $", "for the bytes sent", "; estimated $", "Compression saved "} {
				if !strings.Contains(r.stdout, m) {
					t.Errorf("summary lacks %q:\n%s", m, r.stdout)
				}
			}
			if !tt.compressible && !strings.Contains(r.stdout, "Compression saved 0.0 % of egress fees") {
				t.Errorf("incompressible data saved something:\n%s", r.stdout)
			}
		})
	}
}
