// Package quota fits a plan's gateway VMs into each region's vCPU quota
// before anything is provisioned, for every cloud alike.
//
// The rule, per region (groups that share a region, e.g. the source and
// destination of a copy within one region, share its quota):
//
//  1. If every group fits as asked, nothing changes.
//  2. Otherwise every group of the region steps down its cloud's ladder
//     (Ladders) together, one class at a time, until the region fits.
//  3. If even the smallest classes do not fit, the group with the most VMs
//     loses one (on a tie, the later group: destinations before sources),
//     again and again, until the region fits; no group goes below one VM.
//  4. If one smallest VM per group still does not fit, Fit fails naming the
//     region, the vCPUs needed and those available.
//
// A class that is not on its cloud's ladder is left as asked (its vCPUs
// are unknown), and so is a region whose quota is unknown.
package quota

import (
	"fmt"
	"slices"
	"strings"
)

// Class is an instance class and its vCPUs.
type Class struct {
	Name  string
	VCPUs int
}

// Ladders lists, per cloud, the gateway classes from the default down: the
// order in which Fit falls back. They are the general-purpose families the
// config defaults use (aws_instance_class, gcp_instance_class,
// azure_instance_class).
var Ladders = map[string][]Class{
	"aws":   {{"m5.8xlarge", 32}, {"m5.4xlarge", 16}, {"m5.2xlarge", 8}, {"m5.xlarge", 4}, {"m5.large", 2}},
	"gcp":   {{"n2-standard-32", 32}, {"n2-standard-16", 16}, {"n2-standard-8", 8}, {"n2-standard-4", 4}, {"n2-standard-2", 2}},
	"azure": {{"Standard_D32_v5", 32}, {"Standard_D16_v5", 16}, {"Standard_D8_v5", 8}, {"Standard_D4_v5", 4}, {"Standard_D2_v5", 2}},
}

// Group is a number of VMs of one class in one region ("aws:us-east-1").
type Group struct {
	Region string
	Class  string
	VMs    int
}

// ShortError is a region whose quota cannot hold one smallest VM per group.
type ShortError struct {
	Region            string
	Needed, Available int // vCPUs
}

func (e *ShortError) Error() string {
	return fmt.Sprintf("%s: the vCPU quota leaves %d vCPUs, and the smallest gateways need %d: raise the quota or free vCPUs in that region",
		e.Region, e.Available, e.Needed)
}

// Fit returns groups (same order) that fit available (region tag →
// vCPUs free under the quota) and a note per region it changed.
func Fit(groups []Group, available map[string]int) ([]Group, []string, error) {
	out := slices.Clone(groups)
	var notes []string
	var regions []string
	for _, g := range groups {
		if !slices.Contains(regions, g.Region) {
			regions = append(regions, g.Region)
		}
	}
	for _, r := range regions {
		avail, known := available[r]
		if !known {
			continue
		}
		var idx []int
		for i, g := range out {
			if g.Region == r {
				idx = append(idx, i)
			}
		}
		note, err := fitRegion(out, idx, r, avail)
		if err != nil {
			return nil, notes, err
		}
		if note != "" {
			notes = append(notes, note)
		}
	}
	return out, notes, nil
}

// step is where class sits on its cloud's ladder, or -1.
func step(region, class string) ([]Class, int) {
	cloud, _, _ := strings.Cut(region, ":")
	l := Ladders[cloud]
	return l, slices.IndexFunc(l, func(c Class) bool { return c.Name == class })
}

func fitRegion(out []Group, idx []int, region string, avail int) (string, error) {
	type pos struct {
		ladder []Class
		at     int
	}
	ps := make([]pos, len(idx))
	for k, i := range idx {
		l, at := step(region, out[i].Class)
		if at < 0 {
			return "", nil // unknown class: its vCPUs, hence the fit, are unknown
		}
		ps[k] = pos{l, at}
	}
	need := func(down int) int {
		n := 0
		for k, i := range idx {
			n += out[i].VMs * ps[k].ladder[min(ps[k].at+down, len(ps[k].ladder)-1)].VCPUs
		}
		return n
	}
	asked := need(0)
	if asked <= avail {
		return "", nil
	}
	before := make([]Group, len(idx))
	for k, i := range idx {
		before[k] = out[i]
	}
	maxDown := 0
	for _, p := range ps {
		maxDown = max(maxDown, len(p.ladder)-1-p.at)
	}
	down := 0
	for down < maxDown && need(down) > avail {
		down++
	}
	for k, i := range idx {
		out[i].Class = ps[k].ladder[min(ps[k].at+down, len(ps[k].ladder)-1)].Name
	}
	for need(down) > avail {
		big := -1
		for k, i := range idx {
			if out[i].VMs > 1 && (big < 0 || out[i].VMs >= out[idx[big]].VMs) {
				big = k
			}
		}
		if big < 0 {
			return "", &ShortError{Region: region, Needed: need(down), Available: avail}
		}
		out[idx[big]].VMs--
	}
	var changes []string
	for k, i := range idx {
		changes = append(changes, fmt.Sprintf("%d×%s → %d×%s", before[k].VMs, before[k].Class, out[i].VMs, out[i].Class))
	}
	return fmt.Sprintf("%s: vCPU quota leaves %d, the plan asked %d: %s", region, avail, asked, strings.Join(changes, ", ")), nil
}
