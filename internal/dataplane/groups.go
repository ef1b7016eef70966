package dataplane

// GroupOf is the plan group (planner.Group.Key) gateway id belongs to, ""
// for none: what lets a caller turn per-gateway stats into per-hop bytes.
func (d *Dataplane) GroupOf(id string) string {
	for gi, g := range d.plan.Groups {
		for i := range g.Gateways {
			if gatewayID(gi, g, i) == id {
				return g.Key
			}
		}
	}
	return ""
}
