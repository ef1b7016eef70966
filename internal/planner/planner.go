// Package planner decides where gateways run and how chunks hop between
// them. Today: the direct plan (n gateways at the source, n at each
// destination, one hop). Relay plans (ron, ilp) fill the same Plan shape.
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
	Key      string
	Region   string
	Role     Role
	Gateways int
}

// Plan is the gateway topology of one dataplane.
type Plan struct {
	Solver string
	Groups []Group // the source group first, then destinations, then relays
	// Next[from][target] is the group a gateway of group from sends a chunk
	// bound for destination group target to.
	Next map[string]map[string]string
}

// Source is the source group.
func (p *Plan) Source() Group { return p.Groups[0] }

// Destinations are the destination groups in the order asked for.
func (p *Plan) Destinations() []Group {
	var out []Group
	for _, g := range p.Groups {
		if g.Role == RoleDestination {
			out = append(out, g)
		}
	}
	return out
}

// Direct plans n gateways in the source region and n in each destination
// region, every destination one hop from the source.
func Direct(srcRegion string, dstRegions []string, n int) (*Plan, error) {
	if n < 1 {
		return nil, fmt.Errorf("gateways per region must be ≥ 1, got %d", n)
	}
	if len(dstRegions) == 0 {
		return nil, fmt.Errorf("a plan needs at least one destination")
	}
	p := &Plan{Solver: "direct", Next: map[string]map[string]string{}}
	seen := map[string]int{}
	key := func(region string) string {
		seen[region]++
		if seen[region] == 1 {
			return region
		}
		return region + "#" + strconv.Itoa(seen[region])
	}
	src := Group{Key: key(srcRegion), Region: srcRegion, Role: RoleSource, Gateways: n}
	p.Groups = append(p.Groups, src)
	p.Next[src.Key] = map[string]string{}
	for _, r := range dstRegions {
		g := Group{Key: key(r), Region: r, Role: RoleDestination, Gateways: n}
		p.Groups = append(p.Groups, g)
		p.Next[src.Key][g.Key] = g.Key
	}
	return p, nil
}
