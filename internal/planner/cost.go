package planner

import (
	"fmt"
	"math"
)

// GiB is the unit the clouds bill transfer by ("GB" on their pages).
const GiB = 1 << 30

// EdgeCost is what one hop costs.
type EdgeCost struct {
	From, To string // group keys
	Bytes    int64
	USD      float64
}

// Cost splits what a transfer costs between egress (per hop) and VM time.
type Cost struct {
	Edges     []EdgeCost
	EgressUSD float64
	VMUSD     float64
	// Seconds is the VM time each gateway is paid for.
	Seconds float64
	// VMUnknown: the plan's rate is unknown, so its VM time is, and some
	// VM has a price (VMUSD is then 0).
	VMUnknown bool
}

// TotalUSD is egress plus VM time.
func (c Cost) TotalUSD() float64 { return c.EgressUSD + c.VMUSD }

// Seconds is the time bytes take to each destination at the plan's rate
// (0 when the rate is unknown).
func (p *Plan) Seconds(bytes int64) float64 {
	if p.ThroughputGbps <= 0 {
		return 0
	}
	return float64(bytes) * 8 / (p.ThroughputGbps * 1e9)
}

// Estimate is what sending bytes to each destination should cost: each
// hop carries its share of them, each VM runs for the expected time.
func (p *Plan) Estimate(d *Data, bytes int64) (Cost, error) {
	edge := map[[2]string]int64{}
	for _, e := range p.Edges {
		edge[[2]string{e.From, e.To}] += int64(math.Round(e.Share * float64(bytes)))
	}
	return p.CostOf(d, edge, p.Seconds(bytes))
}

// CostOf prices the bytes that crossed each hop (keyed by its groups'
// keys, as they crossed: compressed, framed) and seconds of every
// gateway of the plan: the cost after a transfer, from what its gateways
// counted.
func (p *Plan) CostOf(d *Data, edgeBytes map[[2]string]int64, seconds float64) (Cost, error) {
	var c Cost
	c.Seconds = seconds
	for _, e := range p.Edges {
		from, ok1 := p.Group(e.From)
		to, ok2 := p.Group(e.To)
		if !ok1 || !ok2 {
			return Cost{}, fmt.Errorf("plan edge %s → %s names no group", e.From, e.To)
		}
		price, _, err := d.EgressPrice(from.Region, to.Region)
		if err != nil {
			return Cost{}, err
		}
		n := edgeBytes[[2]string{e.From, e.To}]
		usd := price * float64(n) / GiB
		c.Edges = append(c.Edges, EdgeCost{From: e.From, To: e.To, Bytes: n, USD: usd})
		c.EgressUSD += usd
	}
	for _, g := range p.Groups {
		if g.Gateways == 0 {
			continue
		}
		price, _, err := d.VMPrice(g.Region, g.Class)
		if err != nil {
			return Cost{}, err
		}
		c.VMUSD += price * float64(g.Gateways) * seconds / 3600
		c.VMUnknown = c.VMUnknown || (seconds == 0 && price > 0 && p.ThroughputGbps == 0)
	}
	return c, nil
}
