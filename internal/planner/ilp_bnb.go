package planner

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// intTol is how far from a whole number a VM count may be and count as one.
const intTol = 1e-6

// flowTol is the share of the rate below which a hop's flow counts as none.
const flowTol = 1e-4

// maxNodes bounds the branch and bound; past it the best plan found so
// far stands (a few dozen nodes are typical).
const maxNodes = 20000

// branchAndBound finds the whole VM counts of least cost at rate target:
// depth first over the LP relaxation, branching on the most fractional
// count, pruning nodes whose relaxation costs no less than the best plan.
func (nw *net) branchAndBound(target float64) (float64, []int, error) {
	type node struct{ lo, hi []int }
	best, bestN := math.Inf(1), []int(nil)
	stack := []node{{slices.Clone(nw.lo), slices.Clone(nw.hi)}}
	var firstErr error
	for visited := 0; len(stack) > 0 && visited < maxNodes; visited++ {
		nd := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		m, v := nw.build(target, nd.lo, nd.hi)
		cost, x, err := m.solve()
		if err != nil {
			if err != errLPInfeasible && firstErr == nil {
				firstErr = err
			}
			continue
		}
		if cost >= best-1e-12*math.Max(1, math.Abs(best)) {
			continue
		}
		branch, frac := -1, 0.0
		for i, idx := range v.n {
			f := x[idx] - math.Floor(x[idx])
			if d := math.Min(f, 1-f); d > intTol && d > frac {
				branch, frac = i, d
			}
		}
		if branch < 0 {
			best, bestN = cost, make([]int, len(v.n))
			for i, idx := range v.n {
				bestN[i] = int(math.Round(x[idx]))
			}
			continue
		}
		val := x[v.n[branch]]
		down := node{slices.Clone(nd.lo), slices.Clone(nd.hi)}
		down.hi[branch] = int(math.Floor(val))
		up := node{slices.Clone(nd.lo), slices.Clone(nd.hi)}
		up.lo[branch] = int(math.Ceil(val))
		// Rounding up first finds a feasible plan soon, which prunes.
		stack = append(stack, down, up)
	}
	if bestN == nil {
		if firstErr != nil {
			return 0, nil, firstErr
		}
		return 0, nil, &InfeasibleError{TargetGbps: target, MaxInstances: nw.p.Gateways}
	}
	return best, bestN, nil
}

// plan turns the LP's flows at whole VM counts n into a Plan.
func (nw *net) plan(target float64, n []int, x []float64) *Plan {
	_, v := nw.build(target, n, n)
	// Flows below this are the simplex's rounding noise, not hops.
	tol := flowTol * target
	b := newBuilder("ilp")
	keys := make([]string, len(nw.nodes))
	for i, r := range nw.nodes {
		if nw.roles[i] == RoleRelay {
			continue
		}
		keys[i] = b.add(r, nw.roles[i], n[i], nw.p.class(r))
	}
	flow := func(e int) float64 {
		s := 0.0
		for d := range v.f {
			if v.f[d][e] >= 0 {
				s += x[v.f[d][e]]
			}
		}
		return s
	}
	// Relays in region order, those that carry something.
	var relays []int
	for i := range nw.nodes {
		if nw.roles[i] != RoleRelay || n[i] == 0 {
			continue
		}
		for e, ed := range nw.edges {
			if ed.from == i && flow(e) > tol {
				relays = append(relays, i)
				break
			}
		}
	}
	slices.SortFunc(relays, func(a, c int) int { return strings.Compare(nw.nodes[a], nw.nodes[c]) })
	for _, i := range relays {
		keys[i] = b.add(nw.nodes[i], RoleRelay, n[i], nw.p.class(nw.nodes[i]))
	}
	// Connections: 64·flow/grid per hop, whole, within 64 per sending VM.
	conns := map[int]int{}
	for u := range nw.nodes {
		type part struct {
			e    int
			frac float64
		}
		var parts []part
		budget := MaxConnectionsPerVM * n[u]
		for e, ed := range nw.edges {
			if ed.from != u || flow(e) <= tol {
				continue
			}
			c := MaxConnectionsPerVM * flow(e) / ed.grid
			conns[e] = max(1, int(math.Floor(c+intTol)))
			budget -= conns[e]
			parts = append(parts, part{e, c - math.Floor(c+intTol)})
		}
		slices.SortFunc(parts, func(a, c part) int { return cmp.Compare(c.frac, a.frac) })
		for _, pt := range parts {
			if budget <= 0 || pt.frac <= intTol {
				break
			}
			conns[pt.e]++
			budget--
		}
	}
	for e, ed := range nw.edges {
		f := flow(e)
		if f <= tol || keys[ed.from] == "" || keys[ed.to] == "" {
			continue
		}
		b.p.Edges = append(b.p.Edges, Edge{From: keys[ed.from], To: keys[ed.to], Connections: conns[e], Gbps: f, Share: f / target})
	}
	// Next hop per destination: the hop carrying most of its bytes.
	for d := range v.f {
		target := keys[d+1]
		for u := range nw.nodes {
			bestE, bestF := -1, tol
			for e, ed := range nw.edges {
				if ed.from == u && v.f[d][e] >= 0 && x[v.f[d][e]] > bestF {
					bestE, bestF = e, x[v.f[d][e]]
				}
			}
			if bestE >= 0 && keys[u] != "" {
				b.route(target, keys[u], keys[nw.edges[bestE].to])
			}
		}
	}
	b.p.ThroughputGbps = target
	return b.p
}
