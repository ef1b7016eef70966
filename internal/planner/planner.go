// Package planner decides where gateways run, how many VMs each region
// gets, how chunks hop between regions and over how many connections, and
// what that costs, from shipped data a user file can override (data.go,
// docs/planner.md). Three solvers fill the same Plan: direct (one hop),
// ron (the best single relay) and ilp (least cost for a throughput target).
package planner

import (
	"fmt"
	"strconv"
)

// Role of a gateway group.
type Role string

const (
	RoleSource      Role = "source"
	RoleDestination Role = "destination"
	RoleRelay       Role = "relay"
)

// Group is a set of identical gateways in one region.
type Group struct {
	// Key is unique in the plan. It equals Region unless two groups share a
	// region (a copy within one region, a broadcast to two buckets of one
	// region), then a "#n" suffix tells them apart.
	Key    string
	Region string
	Role   Role
	// Gateways is the VMs of the group; 0 in a one-sided plan for a side
	// that cannot host gateways (the other side's gateways reach its store).
	Gateways int
	// Class is the instance class of its VMs ("" where none applies).
	Class string
}

// Edge is one hop of the plan between two groups.
type Edge struct {
	From, To string // group keys
	// Connections is the TCP connections the hop uses, over all its VMs.
	Connections int
	// Gbps is the rate the plan expects on the hop.
	Gbps float64
	// Share is the bytes crossing the hop per byte delivered to one
	// destination (1 on a path every byte takes; a split hop carries part,
	// a hop shared by several destinations more than 1).
	Share float64
}

// Plan is the gateway topology of one dataplane.
type Plan struct {
	Solver string
	Groups []Group // the source group first, then destinations, then relays
	// Next[from][target] is the group a gateway of group from sends a chunk
	// bound for destination group target to: the hop carrying most of it
	// where the plan splits (Edges has the split).
	Next  map[string]map[string]string
	Edges []Edge
	// ThroughputGbps is the rate the plan expects to each destination; 0
	// when the data lack a figure it needs (Unknown says which).
	ThroughputGbps float64
	Unknown        string
}

// Source is the source group.
func (p *Plan) Source() Group { return p.Groups[0] }

// Destinations are the destination groups in the order asked for.
func (p *Plan) Destinations() []Group { return p.withRole(RoleDestination) }

// Relays are the relay groups.
func (p *Plan) Relays() []Group { return p.withRole(RoleRelay) }

func (p *Plan) withRole(r Role) []Group {
	var out []Group
	for _, g := range p.Groups {
		if g.Role == r {
			out = append(out, g)
		}
	}
	return out
}

// Group is the group of key k.
func (p *Plan) Group(k string) (Group, bool) {
	for _, g := range p.Groups {
		if g.Key == k {
			return g, true
		}
	}
	return Group{}, false
}

// Executable says whether today's dataplane can run the plan: every
// group has gateways and every destination is one hop from the source.
// Relay gateways do not execute yet, so a relay plan is not.
func (p *Plan) Executable() bool {
	for _, g := range p.Groups {
		if g.Gateways < 1 || g.Role == RoleRelay {
			return false
		}
	}
	return true
}

// Direct plans n gateways in the source region and n in each destination
// region, every destination one hop from the source, without figures
// (Solve("direct", …) adds them).
func Direct(srcRegion string, dstRegions []string, n int) (*Plan, error) {
	if n < 1 {
		return nil, fmt.Errorf("gateways per region must be ≥ 1, got %d", n)
	}
	if len(dstRegions) == 0 {
		return nil, fmt.Errorf("a plan needs at least one destination")
	}
	b := newBuilder("direct")
	src := b.add(srcRegion, RoleSource, n, "")
	for _, r := range dstRegions {
		d := b.add(r, RoleDestination, n, "")
		b.route(d, src, d)
	}
	return b.p, nil
}

// builder assembles a plan, keying groups uniquely.
type builder struct {
	p    *Plan
	seen map[string]int
}

func newBuilder(solver string) *builder {
	return &builder{p: &Plan{Solver: solver, Next: map[string]map[string]string{}}, seen: map[string]int{}}
}

// add appends a group and returns its key. A region's second group (a
// copy within a region, two buckets of one region) gets a "#n" suffix.
func (b *builder) add(region string, role Role, n int, class string) string {
	b.seen[region]++
	k := region
	if b.seen[region] > 1 {
		k += "#" + strconv.Itoa(b.seen[region])
	}
	b.p.Groups = append(b.p.Groups, Group{Key: k, Region: region, Role: role, Gateways: n, Class: class})
	return k
}

// route sends chunks bound for target along the hops of path (group keys).
func (b *builder) route(target string, path ...string) {
	for i := 0; i+1 < len(path); i++ {
		if b.p.Next[path[i]] == nil {
			b.p.Next[path[i]] = map[string]string{}
		}
		b.p.Next[path[i]][target] = path[i+1]
	}
}
