package skyplane

import "math"

// costAfter prices what the run moved: each hop's bytes as its receiving
// gateways counted them on the wire, every gateway for the run's duration,
// and beside it the plan's estimate for the same bytes.
func (dp *Dataplane) costAfter(res *Result) {
	if res == nil {
		return
	}
	plan := dp.inner.Plan()
	d, err := dp.c.plannerData()
	if err != nil {
		res.CostUnknown = err.Error()
		return
	}
	wire, raw := map[string]int64{}, map[string]int64{}
	dp.mu.Lock()
	if dp.recv == nil {
		dp.recv = map[string][2]int64{}
	}
	for _, s := range res.Stats {
		g := dp.inner.GroupOf(s.ID)
		before := dp.recv[s.ID]
		wire[g] += s.WireBytesRecv - before[0]
		raw[g] += s.RawBytesRecv - before[1]
		dp.recv[s.ID] = [2]int64{s.WireBytesRecv, s.RawBytesRecv}
	}
	dp.mu.Unlock()
	// Each hop of a plan that runs ends at a destination group, whose
	// gateways received exactly that hop's bytes.
	wireEdges, rawEdges := map[[2]string]int64{}, map[[2]string]int64{}
	for _, e := range plan.Edges {
		wireEdges[[2]string{e.From, e.To}] = wire[e.To]
		rawEdges[[2]string{e.From, e.To}] = raw[e.To]
	}
	secs := res.Duration.Seconds()
	if res.InProcess {
		secs = 0 // no gateway ran: no VM time to pay
	}
	after, err := plan.CostOf(d, wireEdges, secs)
	if err != nil {
		res.CostUnknown = err.Error()
		return
	}
	uncompressed, err := plan.CostOf(d, rawEdges, secs)
	if err != nil {
		res.CostUnknown = err.Error()
		return
	}
	res.Cost = costOf(after)
	res.Cost.UncompressedEgressUSD = uncompressed.EgressUSD
	var wireN, rawN int64
	for k := range wireEdges {
		wireN, rawN = wireN+wireEdges[k], rawN+rawEdges[k]
	}
	switch {
	case uncompressed.EgressUSD > 0:
		res.Cost.CompressionSavedPct = 100 * (1 - after.EgressUSD/uncompressed.EgressUSD)
	case rawN > 0:
		res.Cost.CompressionSavedPct = 100 * (1 - float64(wireN)/float64(rawN))
	}
	// Framing costs a little on incompressible data: no saving, never a
	// negative one.
	res.Cost.CompressionSavedPct = math.Max(0, res.Cost.CompressionSavedPct)
	if n := len(plan.Destinations()); n > 0 {
		if est, err := plan.Estimate(d, res.Bytes/int64(n)); err == nil {
			res.Estimate = costOf(est)
		}
	}
}
