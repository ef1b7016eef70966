package planner

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
)

// InfeasibleError says a throughput target no plan can reach, and the
// best one can.
type InfeasibleError struct {
	TargetGbps, BestGbps float64
	MaxInstances         int
}

func (e *InfeasibleError) Error() string {
	return fmt.Sprintf("no plan reaches %.2f Gbit/s with at most %d VM(s) per region: the best reachable is %.2f Gbit/s (lower the target or allow more VMs per region)",
		e.TargetGbps, e.MaxInstances, e.BestGbps)
}

// ErrInfeasible is what an *InfeasibleError wraps.
var ErrInfeasible = errors.New("throughput target out of reach")

func (e *InfeasibleError) Unwrap() error { return ErrInfeasible }

type ilpSolver struct{}

// net is the graph the ilp works on: the source, the destinations and the
// candidate relays; edges from every node but a destination to every
// node but the source, where the grid has a figure.
type net struct {
	p     Problem
	nodes []string // regions; 0 is the source, 1..len(Dsts) the destinations
	roles []Role
	edges []netEdge
	// per node: send and receive caps (Gbit/s per VM), VM USD per hour
	egr, ing, vmUSD []float64
	lo, hi          []int
}

type netEdge struct {
	from, to int
	grid     float64 // Gbit/s for one VM pair over 64 connections
	usdGiB   float64
}

// Solve finds the VMs per region, relays and per-hop flows that deliver
// p.TargetGbps to every destination at least cost (egress plus VM time),
// by branch and bound on the VM counts over the LP relaxation. Without a
// target it plans the best reachable throughput.
func (ilpSolver) Solve(p Problem) (*Plan, error) {
	nw, err := newNet(p)
	if err != nil {
		return nil, err
	}
	best, err := nw.maxThroughput()
	if err != nil {
		return nil, err
	}
	target := p.TargetGbps
	if target == 0 {
		target = best * (1 - 1e-6)
	}
	if target > best*(1+1e-9) {
		return nil, &InfeasibleError{TargetGbps: target, BestGbps: best, MaxInstances: p.Gateways}
	}
	_, n, err := nw.branchAndBound(target)
	if err != nil {
		return nil, err
	}
	_, x, err := nw.minCost(target, n, n)
	if err != nil {
		return nil, err
	}
	return nw.plan(target, n, x), nil
}

func newNet(p Problem) (*net, error) {
	nw := &net{p: p}
	add := func(r string, role Role) error {
		if !p.canHost(r) {
			return fmt.Errorf("the ilp plans gateways in every region it uses and %s cannot host them: use the direct solver", r)
		}
		e, i, err := p.Data.Caps(r)
		if err != nil {
			return err
		}
		price, _, err := p.Data.VMPrice(r, p.class(r))
		if err != nil {
			return err
		}
		lo := 1
		if role == RoleRelay {
			lo = 0
		}
		nw.nodes, nw.roles = append(nw.nodes, r), append(nw.roles, role)
		nw.egr, nw.ing, nw.vmUSD = append(nw.egr, e), append(nw.ing, i), append(nw.vmUSD, price)
		nw.lo, nw.hi = append(nw.lo, lo), append(nw.hi, p.Gateways)
		return nil
	}
	if err := add(p.Src, RoleSource); err != nil {
		return nil, err
	}
	for _, d := range p.Dsts {
		if err := add(d, RoleDestination); err != nil {
			return nil, err
		}
	}
	for _, r := range candidates(p) {
		if err := add(r, RoleRelay); err != nil {
			return nil, err
		}
	}
	for u := range nw.nodes {
		for v := range nw.nodes {
			if u == v || v == 0 || nw.roles[u] == RoleDestination {
				continue
			}
			g, _, ok := p.Data.Throughput(nw.nodes[u], nw.nodes[v])
			if !ok || g <= 0 {
				if u == 0 && nw.roles[v] == RoleDestination {
					return nil, fmt.Errorf("%w: no throughput figure for %s → %s: add a throughput row to planner_data_file", ErrNoData, nw.nodes[u], nw.nodes[v])
				}
				continue
			}
			price, _, err := p.Data.EgressPrice(nw.nodes[u], nw.nodes[v])
			if err != nil {
				return nil, err
			}
			nw.edges = append(nw.edges, netEdge{from: u, to: v, grid: g, usdGiB: price})
		}
	}
	return nw, nil
}

// candidates are the relay regions worth considering: hostable regions
// other than the ends, the best p.Relays by the worse of their two hops
// (to the worst-served destination), the cheaper on a tie.
func candidates(p Problem) []string {
	k := p.Relays
	if k <= 0 {
		k = DefaultRelays
	}
	avoid := map[string]bool{Normalize(p.Src): true}
	for _, d := range p.Dsts {
		avoid[Normalize(d)] = true
	}
	type cand struct {
		region    string
		gbps, usd float64
	}
	var cs []cand
	for _, r := range p.Data.Regions() {
		if avoid[r] || !p.canHost(r) {
			continue
		}
		c := cand{region: r, gbps: math.Inf(1)}
		ok := true
		for _, d := range p.Dsts {
			h1, err1 := p.hop(p.Src, r, MaxConnectionsPerVM, true, true)
			h2, err2 := p.hop(r, d, MaxConnectionsPerVM, true, true)
			p1, _, err3 := p.Data.EgressPrice(p.Src, r)
			p2, _, err4 := p.Data.EgressPrice(r, d)
			if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
				ok = false
				break
			}
			c.gbps = min(c.gbps, h1, h2)
			c.usd = max(c.usd, p1+p2)
		}
		if ok {
			cs = append(cs, c)
		}
	}
	slices.SortFunc(cs, func(a, b cand) int {
		if c := cmp.Compare(b.gbps, a.gbps); c != 0 {
			return c
		}
		if c := cmp.Compare(a.usd, b.usd); c != 0 {
			return c
		}
		return cmp.Compare(a.region, b.region)
	})
	out := make([]string, 0, k)
	for i := 0; i < len(cs) && i < k; i++ {
		out = append(out, cs[i].region)
	}
	return out
}

// lpVars indexes the LP's variables.
type lpVars struct {
	n    []int   // VMs per node
	f    [][]int // f[k][e]: flow of destination k's bytes on edge e (-1: none)
	rate int     // the throughput, when it is a variable (-1 otherwise)
}

// build writes the LP: flows of each destination's bytes conserved, hop
// connections within 64 per sending VM (connections = 64·flow/grid),
// VM send and receive caps, lo ≤ n ≤ hi. With target > 0 the rate is
// fixed and the cost per GiB delivered is minimised; with target 0 the
// rate is maximised.
func (nw *net) build(target float64, lo, hi []int) (*lpModel, lpVars) {
	m := &lpModel{}
	var v lpVars
	seconds := 0.0
	if target > 0 {
		seconds = GiB * 8 / (target * 1e9) // VM time per GiB delivered
	}
	for i := range nw.nodes {
		v.n = append(v.n, m.newVar(nw.vmUSD[i]*seconds/3600))
	}
	v.rate = -1
	if target == 0 {
		v.rate = m.newVar(-1)
	}
	k := len(nw.p.Dsts)
	v.f = make([][]int, k)
	for d := range k {
		v.f[d] = make([]int, len(nw.edges))
		for e, ed := range nw.edges {
			v.f[d][e] = -1
			// Destination d's bytes never enter another destination.
			if nw.roles[ed.to] == RoleDestination && ed.to != d+1 {
				continue
			}
			cost := 0.0
			if target > 0 {
				cost = ed.usdGiB / target
			}
			v.f[d][e] = m.newVar(cost)
		}
	}
	for d := range k {
		for node := range nw.nodes {
			if node == d+1 || (nw.roles[node] == RoleDestination) {
				continue // the sink's row is implied; other sinks have no flow of d
			}
			var r lpRow
			for e, ed := range nw.edges {
				if v.f[d][e] < 0 {
					continue
				}
				if ed.from == node {
					r.idx, r.val = append(r.idx, v.f[d][e]), append(r.val, 1)
				}
				if ed.to == node {
					r.idx, r.val = append(r.idx, v.f[d][e]), append(r.val, -1)
				}
			}
			if len(r.idx) == 0 && node != 0 {
				continue // a relay no hop of d's bytes touches
			}
			if node == 0 {
				if target > 0 {
					r.rhs = target
				} else {
					r.idx, r.val = append(r.idx, v.rate), append(r.val, -1)
				}
			}
			m.addEQ(r)
		}
	}
	for node := range nw.nodes {
		var conns, out, in lpRow
		for e, ed := range nw.edges {
			for d := range k {
				x := v.f[d][e]
				if x < 0 {
					continue
				}
				if ed.from == node {
					conns.idx, conns.val = append(conns.idx, x), append(conns.val, 1/ed.grid)
					out.idx, out.val = append(out.idx, x), append(out.val, 1)
				}
				if ed.to == node {
					in.idx, in.val = append(in.idx, x), append(in.val, 1)
				}
			}
		}
		for _, r := range []struct {
			row lpRow
			per float64
		}{{conns, 1}, {out, nw.egr[node]}, {in, nw.ing[node]}} {
			if len(r.row.idx) == 0 {
				continue
			}
			r.row.idx, r.row.val = append(r.row.idx, v.n[node]), append(r.row.val, -r.per)
			m.addLE(r.row)
		}
		m.addLE(lpRow{idx: []int{v.n[node]}, val: []float64{1}, rhs: float64(hi[node])})
		if lo[node] > 0 {
			m.addLE(lpRow{idx: []int{v.n[node]}, val: []float64{-1}, rhs: -float64(lo[node])})
		}
	}
	return m, v
}

// maxThroughput is the best rate to every destination with every region
// at its most VMs.
func (nw *net) maxThroughput() (float64, error) {
	m, v := nw.build(0, nw.lo, nw.hi)
	_, x, err := m.solve()
	if err != nil {
		return 0, fmt.Errorf("maximum throughput: %w", err)
	}
	return x[v.rate], nil
}

// minCost is the least cost per GiB at rate target with lo ≤ n ≤ hi, and
// the LP's solution.
func (nw *net) minCost(target float64, lo, hi []int) (float64, []float64, error) {
	m, _ := nw.build(target, lo, hi)
	return m.solve()
}
