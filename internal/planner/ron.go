package planner

import (
	"math"
)

type ronSolver struct{}

// route is one candidate path to a destination.
type ronPath struct {
	relay string // "" for the direct hop
	gbps  float64
	usd   float64 // egress per GiB along the path
}

// Solve picks, for each destination, the best of the direct hop and every
// path through one relay region by bottleneck throughput (the cheaper
// egress on a tie), like RON's one-hop detours, with p.Gateways VMs in
// every region used.
func (ronSolver) Solve(p Problem) (*Plan, error) {
	if !p.canHost(p.Src) || !anyHostable(p) {
		// One-sided transfers have no VM to relay from: direct only.
		return ronDirect(p)
	}
	n := float64(p.Gateways)
	avoid := map[string]bool{Normalize(p.Src): true}
	for _, d := range p.Dsts {
		avoid[Normalize(d)] = true
	}
	var chosen []ronPath
	for _, d := range p.Dsts {
		best, err := bestPath(p, d, avoid)
		if err != nil {
			// The direct hop itself lacks figures: a direct plan says which.
			return ronDirect(p)
		}
		chosen = append(chosen, best)
	}

	b := newBuilder("ron")
	src := b.add(p.Src, RoleSource, p.Gateways, p.class(p.Src))
	dstKeys := make([]string, len(p.Dsts))
	for i, d := range p.Dsts {
		dstKeys[i] = b.add(d, RoleDestination, gatewaysIf(p.canHost(d), p.Gateways), p.class(d))
	}
	relayKey := map[string]string{}
	users := map[string]int{} // destinations through each relay
	edges := map[[2]string]int{}
	var order [][2]string
	use := func(a, z string) {
		k := [2]string{a, z}
		if edges[k] == 0 {
			order = append(order, k)
		}
		edges[k]++
	}
	rate := math.Inf(1)
	for i, c := range chosen {
		rate = min(rate, c.gbps*n)
		if c.relay == "" {
			b.route(dstKeys[i], src, dstKeys[i])
			use(src, dstKeys[i])
			continue
		}
		rk, ok := relayKey[c.relay]
		if !ok {
			rk = b.add(c.relay, RoleRelay, p.Gateways, p.class(c.relay))
			relayKey[c.relay] = rk
		}
		users[rk]++
		b.route(dstKeys[i], src, rk, dstKeys[i])
		use(src, rk)
		use(rk, dstKeys[i])
	}
	// VMs sending to several destinations (or relays) share their caps.
	out := map[string]int{}
	for k, m := range edges {
		out[k[0]] += m
	}
	for from, m := range out {
		g, _ := b.p.Group(from)
		e, _, err := p.Data.Caps(g.Region)
		if err != nil {
			return nil, err
		}
		rate = min(rate, e*n/float64(m))
	}
	for _, k := range order {
		b.p.Edges = append(b.p.Edges, Edge{From: k[0], To: k[1], Connections: p.Gateways * p.Connections,
			Gbps: math.Inf(1), Share: float64(edges[k])})
	}
	finish(b.p, rate, nil)
	return b.p, nil
}

// ronDirect is ron's answer when no relay can be compared: the direct hop.
func ronDirect(p Problem) (*Plan, error) {
	plan, err := directSolver{}.Solve(p)
	if err != nil {
		return nil, err
	}
	plan.Solver = "ron"
	return plan, nil
}

func anyHostable(p Problem) bool {
	for _, d := range p.Dsts {
		if !p.canHost(d) {
			return false
		}
	}
	return true
}

// bestPath is the best route to dst: the direct hop or one relay.
func bestPath(p Problem, dst string, avoid map[string]bool) (ronPath, error) {
	direct, err := p.hop(p.Src, dst, p.Connections, true, true)
	if err != nil {
		return ronPath{}, err
	}
	price, _, err := p.Data.EgressPrice(p.Src, dst)
	if err != nil {
		return ronPath{}, err
	}
	best := ronPath{gbps: direct, usd: price}
	for _, r := range p.Data.Regions() {
		if avoid[r] || !p.canHost(r) {
			continue
		}
		h1, err1 := p.hop(p.Src, r, p.Connections, true, true)
		h2, err2 := p.hop(r, dst, p.Connections, true, true)
		p1, _, err3 := p.Data.EgressPrice(p.Src, r)
		p2, _, err4 := p.Data.EgressPrice(r, dst)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue
		}
		c := ronPath{relay: r, gbps: min(h1, h2), usd: p1 + p2}
		if c.gbps > best.gbps+1e-9 || (math.Abs(c.gbps-best.gbps) <= 1e-9 && c.usd < best.usd) {
			best = c
		}
	}
	return best, nil
}
