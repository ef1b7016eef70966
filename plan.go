package skyplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/skyplane-project/skyplane-go/internal/planner"
)

// TransferPlan is a solver's plan for a transfer: where gateways run, how
// chunks hop, what it should take and cost (docs/planner.md).
type TransferPlan struct {
	// Solver that made the plan: direct, ron or ilp.
	Solver string
	// Groups: the source first, then the destinations, then relays.
	Groups []PlanGroup
	Edges  []PlanEdge
	// ThroughputGbps is the expected rate to each destination; 0 when the
	// planner data lack a figure (Unknown says which).
	ThroughputGbps float64
	Unknown        string
	// Bytes to each destination and the Seconds they should take.
	Bytes   int64
	Seconds float64
	// Estimate is the expected cost of Bytes; nil when a price is missing
	// (CostUnknown says which).
	Estimate    *Cost
	CostUnknown string
	// Executable: this build's gateways can run the plan. Relay gateways
	// do not execute yet, nor plans with a side without gateways; copies
	// run the direct plan.
	Executable bool
}

// PlanEdge is one hop of a plan.
type PlanEdge struct {
	From, To    string // PlanGroup keys
	Connections int
	// Gbps is the rate the plan expects on the hop; Share the bytes that
	// cross it per byte delivered to one destination.
	Gbps, Share float64
}

// Cost is what a transfer costs at the planner's prices: egress per hop
// and VM time.
type Cost struct {
	EgressUSD, VMUSD, TotalUSD float64
	Edges                      []EdgeCost
	// Seconds of VM time per gateway.
	Seconds float64
	// VMUnknown: the plan's throughput is unknown, so is its VM time
	// (VMUSD and TotalUSD count egress only).
	VMUnknown bool
	// After a transfer (Result.Cost): UncompressedEgressUSD is the egress
	// had the hops carried the bytes uncompressed, CompressionSavedPct the
	// share of the egress fees compression saved (of the egress bytes
	// where egress is free), ≥ 0.
	UncompressedEgressUSD, CompressionSavedPct float64
}

// EdgeCost is what one hop's bytes cost.
type EdgeCost struct {
	From, To string
	Bytes    int64
	USD      float64
}

// TargetError says that no plan reaches a throughput target, and the best
// throughput one can. It wraps ErrInvalidInput.
type TargetError struct {
	TargetGbps, BestGbps float64
	MaxInstances         int
}

func (e *TargetError) Error() string {
	return fmt.Sprintf("no plan reaches %.2f Gbit/s with at most %d gateway(s) per region: the best reachable is %.2f Gbit/s",
		e.TargetGbps, e.MaxInstances, e.BestGbps)
}

func (e *TargetError) Unwrap() error { return ErrInvalidInput }

// Solvers are the planner's solvers: direct, ilp, ron.
func Solvers() []string { return planner.Solvers() }

// PlanRegions plans a transfer between regions ("aws:us-east-1",
// "gcp:us-central1-a", "azure:eastus") without any bucket: what `skyplane
// plan` shows. A region of another kind than aws, gcp, azure or local
// hosts gateways only if the planner data give its VM caps; a side that
// cannot gets none (a one-sided plan, direct solver only).
func (c *Client) PlanRegions(ctx context.Context, from string, to []string, opts PlanOptions) (*TransferPlan, error) {
	if len(to) == 0 {
		return nil, fmt.Errorf("%w: no destination region given", ErrInvalidInput)
	}
	for _, r := range append([]string{from}, to...) {
		if cloud, region, ok := strings.Cut(r, ":"); !ok || cloud == "" || region == "" {
			return nil, fmt.Errorf("%w: region %q: name it cloud:region, as aws:us-east-1, gcp:us-central1 or azure:eastus", ErrInvalidInput, r)
		}
	}
	d, err := c.plannerData()
	if err != nil {
		return nil, err
	}
	hostable := func(r string) bool {
		switch planner.Cloud(r) {
		case "aws", "gcp", "azure", "local":
			return true
		}
		_, _, err := d.Caps(r)
		return err == nil
	}
	return c.planWith(from, to, opts, hostable)
}

// PlanTransfer plans a copy from src to dsts (URLs) with opts.Solver at
// the regions of their buckets. Copies run the direct plan while relays
// do not execute (TransferPlan.Executable).
func (c *Client) PlanTransfer(ctx context.Context, src string, dsts []string, opts PlanOptions) (*TransferPlan, error) {
	job, err := c.job(src, dsts, opts.Recursive)
	if err != nil {
		return nil, err
	}
	r := c.resolver.Resolve(job)
	from, to := r.Regions(ctx)
	tp, err := c.planWith(from, to, opts, nil)
	if err != nil || tp.Solver != "direct" {
		return tp, err
	}
	// The direct plan is the one transfers run: say where its gateways go.
	dp, err := c.newDataplane(ctx, r, opts.Gateways)
	if err != nil {
		return nil, err
	}
	return tp, c.place(dp, tp.Groups)
}

func (c *Client) planWith(from string, to []string, opts PlanOptions, canHost func(string) bool) (*TransferPlan, error) {
	n, err := c.gateways(opts.Gateways)
	if err != nil {
		return nil, err
	}
	solver := opts.Solver
	if solver == "" {
		solver = c.cfg.Solver
	}
	d, err := c.plannerData()
	if err != nil {
		return nil, err
	}
	pr := c.problem(d, from, to, n)
	pr.TargetGbps, pr.Bytes, pr.CanHost = opts.TargetGbps, opts.Bytes, canHost
	p, err := planner.Solve(solver, pr)
	var ie *planner.InfeasibleError
	switch {
	case errors.As(err, &ie):
		return nil, &TargetError{TargetGbps: ie.TargetGbps, BestGbps: ie.BestGbps, MaxInstances: ie.MaxInstances}
	case errors.Is(err, planner.ErrUnknownSolver), errors.Is(err, planner.ErrNoData):
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	case err != nil:
		return nil, err
	}
	return transferPlanOf(p, d, opts.Bytes), nil
}

// directPlan is the plan transfers run: n gateways at each end, one hop,
// with the classes and figures the cost reports need.
func (c *Client) directPlan(src string, dsts []string, n int) (*planner.Plan, error) {
	d, err := c.plannerData()
	if err != nil {
		return nil, err
	}
	return planner.Solve("direct", c.problem(d, src, dsts, n))
}

func (c *Client) problem(d *planner.Data, src string, dsts []string, n int) planner.Problem {
	return planner.Problem{
		Src: src, Dsts: dsts, Gateways: n, Connections: c.cfg.NumConnections, Data: d,
		Classes: map[string]string{"aws": c.cfg.AWSInstanceClass, "gcp": c.cfg.GCPInstanceClass, "azure": c.cfg.AzureInstanceClass},
	}
}

// plannerData is the shipped data with the rows of planner_data_file.
func (c *Client) plannerData() (*planner.Data, error) {
	path := c.cfg.PlannerDataFile
	if path == "" {
		return planner.DefaultData()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: planner_data_file: %w", ErrInvalidInput, err)
	}
	defer f.Close()
	d, err := planner.LoadData(f, path)
	if err != nil {
		return nil, fmt.Errorf("%w: planner_data_file: %w", ErrInvalidInput, err)
	}
	return d, nil
}

func transferPlanOf(p *planner.Plan, d *planner.Data, bytes int64) *TransferPlan {
	out := &TransferPlan{Solver: p.Solver, ThroughputGbps: p.ThroughputGbps, Unknown: p.Unknown,
		Bytes: bytes, Seconds: p.Seconds(bytes), Executable: p.Executable()}
	for _, g := range p.Groups {
		out.Groups = append(out.Groups, PlanGroup{Region: g.Region, Role: string(g.Role), Gateways: g.Gateways, Key: g.Key, Class: g.Class})
	}
	for _, e := range p.Edges {
		out.Edges = append(out.Edges, PlanEdge{From: e.From, To: e.To, Connections: e.Connections, Gbps: e.Gbps, Share: e.Share})
	}
	est, err := p.Estimate(d, bytes)
	if err != nil {
		out.CostUnknown = err.Error()
		return out
	}
	out.Estimate = costOf(est)
	return out
}

func costOf(c planner.Cost) *Cost {
	out := &Cost{EgressUSD: c.EgressUSD, VMUSD: c.VMUSD, TotalUSD: c.TotalUSD(), Seconds: c.Seconds, VMUnknown: c.VMUnknown}
	for _, e := range c.Edges {
		out.Edges = append(out.Edges, EdgeCost(e))
	}
	return out
}
