package planner

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Problem is what a solver plans for.
type Problem struct {
	// Src and Dsts are regions ("aws:us-east-1"); a transfer to several
	// destinations sends every byte to each.
	Src  string
	Dsts []string
	// Bytes to each destination: what the ilp minimises the cost of.
	Bytes int64
	// TargetGbps is the rate the ilp must reach to each destination.
	TargetGbps float64
	// Gateways is the VMs per region of direct and ron plans, and the most
	// the ilp may use in one region (max_instances).
	Gateways int
	// Connections is the TCP connections per gateway pair of direct and
	// ron plans (num_connections), at most 64.
	Connections int
	// Classes maps a cloud ("aws") to its gateways' instance class.
	Classes map[string]string
	// Relays is how many relay regions the ilp considers, the best by the
	// bottleneck of their two hops (0: DefaultRelays).
	Relays int
	// CanHost says whether gateways can run in a region (nil: everywhere).
	CanHost func(region string) bool
	Data    *Data
}

// DefaultRelays is the relay candidates the ilp keeps after pruning.
const DefaultRelays = 8

// MaxConnectionsPerVM bounds the connections one VM sends on.
const MaxConnectionsPerVM = 64

// Solver turns a problem into a plan.
type Solver interface {
	Solve(p Problem) (*Plan, error)
}

var solvers = map[string]Solver{"direct": directSolver{}, "ron": ronSolver{}, "ilp": ilpSolver{}}

// Solvers are the solvers' names.
func Solvers() []string {
	out := make([]string, 0, len(solvers))
	for n := range solvers {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ErrUnknownSolver marks a solver name that does not exist.
var ErrUnknownSolver = errors.New("unknown solver")

// Solve plans p with the named solver.
func Solve(name string, p Problem) (*Plan, error) {
	s, ok := solvers[name]
	if !ok {
		return nil, fmt.Errorf("%w %q: want one of %s", ErrUnknownSolver, name, strings.Join(Solvers(), ", "))
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	return s.Solve(p)
}

func (p *Problem) check() error {
	switch {
	case p.Src == "":
		return errors.New("a plan needs a source region")
	case len(p.Dsts) == 0:
		return errors.New("a plan needs at least one destination region")
	case p.Gateways < 1:
		return fmt.Errorf("gateways per region must be ≥ 1, got %d", p.Gateways)
	case p.Data == nil:
		return errors.New("a plan needs planner data")
	case p.Bytes < 0, p.TargetGbps < 0, math.IsNaN(p.TargetGbps), math.IsInf(p.TargetGbps, 0):
		return errors.New("size and throughput target must be ≥ 0")
	}
	if p.Connections < 1 || p.Connections > MaxConnectionsPerVM {
		p.Connections = MaxConnectionsPerVM
	}
	return nil
}

func (p *Problem) canHost(region string) bool { return p.CanHost == nil || p.CanHost(region) }

func (p *Problem) class(region string) string { return p.Classes[Cloud(region)] }

// hop is what one VM pair can carry from a to b: the grid's figure for
// conns connections, within a's send and b's receive caps (a side without
// gateways has no VM cap: its store is reached directly).
func (p *Problem) hop(a, b string, conns int, hostA, hostB bool) (float64, error) {
	g, _, ok := p.Data.Throughput(a, b)
	if !ok {
		return 0, fmt.Errorf("%w: no throughput figure for %s → %s: add a throughput row to planner_data_file", ErrNoData, a, b)
	}
	rate := g * float64(conns) / MaxConnectionsPerVM
	if hostA {
		e, _, err := p.Data.Caps(a)
		if err != nil {
			return 0, err
		}
		rate = min(rate, e)
	}
	if hostB {
		_, i, err := p.Data.Caps(b)
		if err != nil {
			return 0, err
		}
		rate = min(rate, i)
	}
	return rate, nil
}

type directSolver struct{}

// Solve plans one hop to each destination with p.Gateways VMs at each
// end. A side that cannot host gateways gets none: the other side's
// gateways read or write its store (a one-sided plan).
func (directSolver) Solve(p Problem) (*Plan, error) {
	n := p.Gateways
	hostSrc := p.canHost(p.Src)
	b := newBuilder("direct")
	src := b.add(p.Src, RoleSource, gatewaysIf(hostSrc, n), p.class(p.Src))
	rate := math.Inf(1)
	var unknown error
	for _, r := range p.Dsts {
		hostDst := p.canHost(r)
		if !hostSrc && !hostDst {
			return nil, fmt.Errorf("neither %s nor %s can host gateways: a transfer needs gateways on one side at least", p.Src, r)
		}
		d := b.add(r, RoleDestination, gatewaysIf(hostDst, n), p.class(r))
		b.route(d, src, d)
		conns := n * p.Connections
		h, err := p.hop(p.Src, r, p.Connections, hostSrc, hostDst)
		if err != nil {
			unknown = err
		}
		b.p.Edges = append(b.p.Edges, Edge{From: src, To: d, Connections: conns, Gbps: h * float64(n), Share: 1})
		rate = min(rate, h*float64(n))
	}
	// The source's VMs send to every destination at once.
	if hostSrc && unknown == nil {
		e, _, err := p.Data.Caps(p.Src)
		if err != nil {
			unknown = err
		} else {
			rate = min(rate, e*float64(n)/float64(len(p.Dsts)))
		}
	}
	finish(b.p, rate, unknown)
	return b.p, nil
}

func gatewaysIf(ok bool, n int) int {
	if ok {
		return n
	}
	return 0
}

// finish sets the plan's rate, or says which figure was missing.
func finish(p *Plan, rate float64, unknown error) {
	if unknown != nil {
		p.ThroughputGbps, p.Unknown = 0, unknown.Error()
		for i := range p.Edges {
			p.Edges[i].Gbps = 0
		}
		return
	}
	p.ThroughputGbps = rate
	for i := range p.Edges {
		p.Edges[i].Gbps = min(p.Edges[i].Gbps, rate*p.Edges[i].Share)
	}
}
