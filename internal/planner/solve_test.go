package planner

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

var classes = map[string]string{"aws": "m5.8xlarge", "gcp": "n2-standard-32", "azure": "Standard_D32_v5"}

func shippedData(t testing.TB) *Data {
	t.Helper()
	d, err := DefaultData()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// labData is a three-region lab: the direct link a→c is throttled, a→b→c
// is not.
func labData(t testing.TB) *Data {
	t.Helper()
	rows := `throughput,lab:a,lab:b,8,lab
throughput,lab:b,lab:c,8,lab
throughput,lab:a,lab:c,1,lab
throughput,lab:b,lab:a,8,lab
throughput,lab:c,lab:a,1,lab
throughput,lab:c,lab:b,8,lab
egress,lab:*,*,0.02,lab
vm,lab:*,*,1,lab
egress_cap,lab:*,,10,lab
ingress_cap,lab:*,,10,lab
`
	d, err := LoadData(strings.NewReader(rows), "lab.csv")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestSolvers(t *testing.T) {
	lab := labData(t)
	tests := []struct {
		name      string
		solver    string
		p         Problem
		relays    []string
		gbps      float64
		dstVMs    int
		wantErrIs error
	}{
		{"direct aws to gcp", "direct", Problem{Src: "aws:us-east-1", Dsts: []string{"gcp:us-central1"}, Gateways: 2, Connections: 64}, nil, 0, 2, nil},
		{"direct lab", "direct", Problem{Src: "lab:a", Dsts: []string{"lab:c"}, Gateways: 1, Connections: 64, Data: lab}, nil, 1, 1, nil},
		{"direct half the connections", "direct", Problem{Src: "lab:a", Dsts: []string{"lab:b"}, Gateways: 1, Connections: 32, Data: lab}, nil, 4, 1, nil},
		{"ron takes the relay", "ron", Problem{Src: "lab:a", Dsts: []string{"lab:c"}, Gateways: 1, Connections: 64, Data: lab}, []string{"lab:b"}, 8, 1, nil},
		{"ilp meets the target through the relay", "ilp", Problem{Src: "lab:a", Dsts: []string{"lab:c"}, Gateways: 2, TargetGbps: 5, Bytes: GiB, Data: lab}, []string{"lab:b"}, 5, 1, nil},
		{"ilp uses the direct link when it suffices", "ilp", Problem{Src: "lab:a", Dsts: []string{"lab:c"}, Gateways: 2, TargetGbps: 0.5, Bytes: GiB, Data: lab}, nil, 0.5, 1, nil},
		{"ilp target out of reach", "ilp", Problem{Src: "lab:a", Dsts: []string{"lab:c"}, Gateways: 1, TargetGbps: 50, Data: lab}, nil, 0, 0, ErrInfeasible},
		{"unknown pair", "ron", Problem{Src: "lab:a", Dsts: []string{"aws:us-east-1"}, Gateways: 1, Data: lab}, nil, 0, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.p.Data == nil {
				tt.p.Data = shippedData(t)
			}
			tt.p.Classes = classes
			p, err := Solve(tt.solver, tt.p)
			if tt.wantErrIs != nil {
				if !errors.Is(err, tt.wantErrIs) {
					t.Fatalf("err = %v, want %v", err, tt.wantErrIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var relays []string
			for _, g := range p.Relays() {
				relays = append(relays, g.Region)
			}
			if fmt.Sprint(relays) != fmt.Sprint(tt.relays) {
				t.Errorf("relays = %v, want %v (%+v)", relays, tt.relays, p.Edges)
			}
			if tt.gbps > 0 && math.Abs(p.ThroughputGbps-tt.gbps) > 1e-6 {
				t.Errorf("throughput = %v, want %v", p.ThroughputGbps, tt.gbps)
			}
			if tt.gbps == 0 && tt.solver == "direct" && p.ThroughputGbps <= 0 {
				t.Errorf("no throughput: %s", p.Unknown)
			}
			if tt.name == "unknown pair" && (p.ThroughputGbps != 0 || !strings.Contains(p.Unknown, "planner_data_file")) {
				t.Errorf("unknown pair: %v %q", p.ThroughputGbps, p.Unknown)
			}
			if got := p.Destinations()[0].Gateways; got != tt.dstVMs {
				t.Errorf("destination VMs = %d, want %d", got, tt.dstVMs)
			}
			checkShape(t, p)
		})
	}
}

// checkShape: every destination is reached from the source along Next,
// and every hop is an edge with connections.
func checkShape(t *testing.T, p *Plan) {
	t.Helper()
	edges := map[[2]string]Edge{}
	for _, e := range p.Edges {
		edges[[2]string{e.From, e.To}] = e
		if e.Connections < 1 {
			t.Errorf("edge %s → %s has %d connections", e.From, e.To, e.Connections)
		}
	}
	for _, d := range p.Destinations() {
		at := p.Source().Key
		for hops := 0; at != d.Key; hops++ {
			next := p.Next[at][d.Key]
			if _, ok := edges[[2]string{at, next}]; !ok || hops > len(p.Groups) {
				t.Fatalf("no route to %s from %s: %v", d.Key, at, p.Next)
			}
			at = next
		}
	}
}

func TestOneSided(t *testing.T) {
	d := shippedData(t)
	noAzure := func(r string) bool { return Cloud(r) != "azure" }
	p, err := Solve("direct", Problem{Src: "aws:us-east-1", Dsts: []string{"azure:eastus"}, Gateways: 2, Connections: 32, Classes: classes, Data: d, CanHost: noAzure})
	if err != nil {
		t.Fatal(err)
	}
	if p.Source().Gateways != 2 || p.Destinations()[0].Gateways != 0 || p.Executable() {
		t.Errorf("groups = %+v, executable %v", p.Groups, p.Executable())
	}
	c, err := p.Estimate(d, 10*GiB)
	if err != nil || c.VMUSD <= 0 || math.Abs(c.EgressUSD-0.9) > 1e-9 {
		t.Errorf("cost = %+v, %v; want egress $0.90 and the source's VMs", c, err)
	}
	_, err = Solve("direct", Problem{Src: "azure:westus", Dsts: []string{"azure:eastus"}, Gateways: 1, Classes: classes, Data: d, CanHost: noAzure})
	if err == nil || !strings.Contains(err.Error(), "gateways on one side") {
		t.Errorf("both sides without gateways: %v", err)
	}
	if _, err := Solve("ilp", Problem{Src: "aws:us-east-1", Dsts: []string{"azure:eastus"}, Gateways: 1, Classes: classes, Data: d, CanHost: noAzure}); err == nil || !strings.Contains(err.Error(), "direct solver") {
		t.Errorf("ilp one-sided: %v", err)
	}
}

func TestEstimate(t *testing.T) {
	d := shippedData(t)
	p, err := Solve("direct", Problem{Src: "aws:us-east-1", Dsts: []string{"aws:us-west-2"}, Gateways: 1, Connections: 64, Classes: classes, Data: d})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Estimate(d, 100*GiB)
	if err != nil {
		t.Fatal(err)
	}
	secs := 100 * GiB * 8 / (p.ThroughputGbps * 1e9)
	if math.Abs(c.EgressUSD-2) > 1e-9 || math.Abs(c.VMUSD-2*1.536*secs/3600) > 1e-9 || c.Seconds != secs {
		t.Errorf("cost = %+v, want $2 egress and two VMs for %.0f s", c, secs)
	}
}

func TestUnknownSolver(t *testing.T) {
	_, err := Solve("fastest", Problem{Src: "a", Dsts: []string{"b"}, Gateways: 1, Data: shippedData(t)})
	if !errors.Is(err, ErrUnknownSolver) || !strings.Contains(err.Error(), "direct, ilp, ron") {
		t.Errorf("err = %v", err)
	}
}

// exhaustive is the ilp's answer found the slow way: the least-cost LP
// over every whole assignment of VM counts.
func exhaustive(t *testing.T, nw *net, target float64) float64 {
	best := math.Inf(1)
	n := make([]int, len(nw.nodes))
	var rec func(i int)
	rec = func(i int) {
		if i == len(n) {
			cost, _, err := nw.minCost(target, n, n)
			if err == nil && cost < best {
				best = cost
			}
			return
		}
		for c := nw.lo[i]; c <= nw.hi[i]; c++ {
			n[i] = c
			rec(i + 1)
		}
	}
	rec(0)
	return best
}

// randomData is a grid of k regions with random throughput, prices and caps.
func randomData(t *testing.T, rng *rand.Rand, k int) *Data {
	var b strings.Builder
	for i := range k {
		fmt.Fprintf(&b, "vm,r:%d,*,%.3f,random\n", i, 0.5+rng.Float64()*2)
		fmt.Fprintf(&b, "egress_cap,r:%d,,%.1f,random\n", i, 2+rng.Float64()*10)
		fmt.Fprintf(&b, "ingress_cap,r:%d,,%.1f,random\n", i, 4+rng.Float64()*12)
		for j := range k {
			fmt.Fprintf(&b, "throughput,r:%d,r:%d,%.2f,random\n", i, j, 0.5+rng.Float64()*12)
			fmt.Fprintf(&b, "egress,r:%d,r:%d,%.3f,random\n", i, j, rng.Float64()*0.15)
		}
	}
	d, err := LoadData(strings.NewReader(b.String()), "random.csv")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestILPEqualsExhaustiveSearch(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 2026))
	solved, infeasible := 0, 0
	for i := range 24 {
		k := 3 + rng.IntN(2)
		dsts := []string{"r:1"}
		if i%4 == 3 {
			dsts = append(dsts, "r:2")
		}
		p := Problem{Src: "r:0", Dsts: dsts, Gateways: 1 + rng.IntN(3), Bytes: 100 * GiB, Relays: k, Data: randomData(t, rng, k)}
		if err := p.check(); err != nil {
			t.Fatal(err)
		}
		nw, err := newNet(p)
		if err != nil {
			t.Fatal(err)
		}
		best, err := nw.maxThroughput()
		if err != nil {
			t.Fatal(err)
		}
		p.TargetGbps = best * (0.2 + rng.Float64()*0.9)
		t.Run(fmt.Sprintf("%d/%d regions/%d VMs/%.2f of %.2f Gbit/s", i, k, p.Gateways, p.TargetGbps, best), func(t *testing.T) {
			want := exhaustive(t, nw, p.TargetGbps)
			plan, err := Solve("ilp", p)
			if math.IsInf(want, 1) {
				infeasible++
				var ie *InfeasibleError
				if !errors.As(err, &ie) || math.Abs(ie.BestGbps-best) > 1e-6 {
					t.Fatalf("target above %.3f: err = %v", best, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			solved++
			got, n, err := nw.branchAndBound(p.TargetGbps)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-want) > 1e-7*math.Max(1, want) {
				t.Errorf("ilp cost %.9f (VMs %v), exhaustive search %.9f", got, n, want)
			}
			checkShape(t, plan)
			// The plan's own estimate is the optimum, scaled to the size.
			c, err := plan.Estimate(p.Data, p.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(c.TotalUSD()-want*100) > 1e-3*math.Max(1, want*100) {
				t.Errorf("estimate $%.6f, optimum $%.6f", c.TotalUSD(), want*100)
			}
		})
	}
	if solved < 20 {
		t.Errorf("only %d of the instances were feasible", solved)
	}
}

func TestILPInfeasibleSaysBestThroughput(t *testing.T) {
	d := shippedData(t)
	_, err := Solve("ilp", Problem{Src: "aws:us-east-1", Dsts: []string{"gcp:europe-west1"}, Gateways: 1, TargetGbps: 100, Classes: classes, Data: d})
	var ie *InfeasibleError
	if !errors.As(err, &ie) || ie.BestGbps <= 0 || ie.BestGbps >= 100 || !strings.Contains(err.Error(), "best reachable") {
		t.Fatalf("err = %v", err)
	}
	// The best reachable target is reachable.
	p, err := Solve("ilp", Problem{Src: "aws:us-east-1", Dsts: []string{"gcp:europe-west1"}, Gateways: 1, TargetGbps: ie.BestGbps * 0.999, Classes: classes, Data: d})
	if err != nil || p.ThroughputGbps < ie.BestGbps*0.99 {
		t.Fatalf("plan at the best throughput: %v, %v", p, err)
	}
}

func BenchmarkILP(b *testing.B) {
	d := shippedData(b)
	all := d.Regions()
	for _, n := range []int{10, 30, len(all)} {
		in := map[string]bool{}
		for _, r := range all[:n] {
			in[r] = true
		}
		sub := func(r string) bool { return in[r] }
		b.Run(fmt.Sprintf("%d regions", n), func(b *testing.B) {
			p := Problem{Src: all[0], Dsts: []string{all[n-1]}, Gateways: 4, TargetGbps: 8, Bytes: 100 * GiB, Classes: classes, Data: d, CanHost: sub}
			for b.Loop() {
				if _, err := Solve("ilp", p); err != nil && !errors.Is(err, ErrInfeasible) {
					b.Fatal(err)
				}
			}
		})
	}
}
