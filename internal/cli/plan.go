package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skyplane-project/skyplane-go"
)

func newPlan(e *env) *cobra.Command {
	var (
		from, size, solver string
		to                 []string
		target             float64
		n                  int
		jsonOut            bool
	)
	cmd := &cobra.Command{
		Use:   "plan --from REGION --to REGION[,REGION...] --size SIZE",
		Short: "Show the plan of a transfer between regions (gateways, hops, throughput, cost) without moving data",
		Example: `  skyplane plan --from aws:us-east-1 --to gcp:europe-west1 --size 1TB
  skyplane plan --from aws:us-east-1 --to azure:westeurope --size 500GiB --solver ilp -t 10 -n 4`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if from == "" || len(to) == 0 || size == "" {
				return usageErr(fmt.Errorf("plan needs --from, --to and --size: usage: %s", cmd.UseLine()))
			}
			bytes, err := parseSize(size)
			if err != nil {
				return usageErr(fmt.Errorf("--size %s: %w", size, err))
			}
			cfg, err := loadConfig()
			if err != nil {
				return err
			}
			if err := applyFlagKeys(cmd, &cfg); err != nil {
				return err
			}
			client := skyplane.NewClient(cfg)
			tp, err := client.PlanRegions(cmd.Context(), from, to, skyplane.PlanOptions{Solver: solver, TargetGbps: target, Bytes: bytes, Gateways: n})
			if err != nil {
				return planError(err)
			}
			p := newPrinter(e, jsonOut)
			if jsonOut {
				p.event("plan", planFields(tp))
				return nil
			}
			fmt.Fprintf(e.stdout, "Plan (solver %s): %s → %s, %s to each destination\n", tp.Solver, from, strings.Join(to, ", "), humanBytes(bytes))
			writePlan(e.stdout, tp)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "source region, cloud:region (aws:us-east-1, gcp:us-central1, azure:eastus)")
	fl.StringSliceVar(&to, "to", nil, "destination region(s), comma-separated")
	fl.StringVar(&size, "size", "", "bytes to each destination: 500GB, 1.5TiB, 10M (K, M, G, T powers of 1000; Ki, Mi, Gi, Ti of 1024)")
	fl.StringVar(&solver, "solver", "", "direct, ron or ilp (default: config solver)")
	fl.Float64VarP(&target, "throughput", "t", 0, "ilp: throughput to reach to each destination, Gbit/s (default: the best reachable)")
	fl.IntVarP(&n, "max-instances", "n", 0, "gateways per region; the ilp uses up to this many (default: config max_instances)")
	fl.BoolVar(&jsonOut, "json", false, "print the plan as one JSON event")
	return cmd
}

// planError adds the flags that fix a target out of reach.
func planError(err error) error {
	var te *skyplane.TargetError
	if errors.As(err, &te) {
		return usageErr(fmt.Errorf("%w: lower -t or raise -n", err))
	}
	return classify(err, true)
}

var sizeRE = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?)(I?)B?$`)

// parseSize reads 500GB, 1.5TiB, 10M or a count of bytes.
func parseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.ToUpper(strings.TrimSpace(s)))
	if m == nil {
		return 0, errors.New("not a size: write a number with an optional unit, as 500GB, 1.5TiB or 10M")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, err
	}
	base := 1000.0
	if m[3] != "" {
		base = 1024
	}
	exp := strings.Index("KMGTP", m[2]) + 1
	if m[2] == "" {
		exp = 0
	}
	b := v * math.Pow(base, float64(exp))
	if b < 1 || b > math.MaxInt64/2 {
		return 0, errors.New("size out of range: give at least one byte")
	}
	return int64(b), nil
}

// writePlan prints a plan's gateways, hops, throughput and cost.
func writePlan(w io.Writer, tp *skyplane.TransferPlan) {
	for _, g := range tp.Groups {
		vms := fmt.Sprintf("%d gateway(s)", g.Gateways)
		if g.Class != "" {
			vms = fmt.Sprintf("%d × %s", g.Gateways, g.Class)
		}
		if g.Gateways == 0 {
			vms = "no gateways (reached from the other side)"
		}
		fmt.Fprintf(w, "  %-12s %-28s %s\n", g.Role, g.Key, vms)
	}
	edgeUSD := map[[2]string]skyplane.EdgeCost{}
	if tp.Estimate != nil {
		for _, c := range tp.Estimate.Edges {
			edgeUSD[[2]string{c.From, c.To}] = c
		}
	}
	for _, e := range tp.Edges {
		line := fmt.Sprintf("  hop          %s → %s: %d connection(s)", e.From, e.To, e.Connections)
		if tp.ThroughputGbps > 0 {
			line += fmt.Sprintf(", %.2f Gbit/s", e.Gbps)
		}
		if e.Share != 1 {
			line += fmt.Sprintf(", %.0f%% of the bytes", 100*e.Share)
		}
		if c, ok := edgeUSD[[2]string{e.From, e.To}]; ok {
			line += fmt.Sprintf(", egress %s", usd(c.USD))
		}
		fmt.Fprintln(w, line)
	}
	if tp.ThroughputGbps > 0 {
		fmt.Fprintf(w, "  throughput   %.2f Gbit/s to each destination", tp.ThroughputGbps)
		if tp.Bytes > 0 {
			fmt.Fprintf(w, ": %s", time.Duration(tp.Seconds*float64(time.Second)).Round(time.Second))
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintf(w, "  throughput   unknown (%s)\n", tp.Unknown)
	}
	switch {
	case tp.Estimate == nil:
		fmt.Fprintf(w, "  cost         unknown (%s)\n", tp.CostUnknown)
	case tp.Bytes > 0 && tp.Estimate.VMUnknown:
		fmt.Fprintf(w, "  cost         egress %s; VM time unknown without a throughput figure\n", usd(tp.Estimate.EgressUSD))
	case tp.Bytes > 0:
		fmt.Fprintf(w, "  cost         %s: egress %s, VMs %s\n", usd(tp.Estimate.TotalUSD), usd(tp.Estimate.EgressUSD), usd(tp.Estimate.VMUSD))
	}
	if !tp.Executable {
		fmt.Fprintln(w, "  relays and one-sided plans are planned but not executed yet: transfers run the direct plan")
	}
}

func usd(v float64) string {
	if v != 0 && math.Abs(v) < 0.01 {
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprintf("$%.2f", v)
}

// planFields is a plan as a --json event.
func planFields(tp *skyplane.TransferPlan) map[string]any {
	var groups, edges []map[string]any
	for _, g := range tp.Groups {
		groups = append(groups, map[string]any{"key": g.Key, "region": g.Region, "role": g.Role, "gateways": g.Gateways, "class": g.Class})
	}
	for _, e := range tp.Edges {
		edges = append(edges, map[string]any{"from": e.From, "to": e.To, "connections": e.Connections, "gbps": e.Gbps, "share": e.Share})
	}
	f := map[string]any{"solver": tp.Solver, "groups": groups, "edges": edges, "throughput_gbps": tp.ThroughputGbps,
		"bytes": tp.Bytes, "seconds": tp.Seconds, "executable": tp.Executable}
	if tp.Unknown != "" {
		f["throughput_unknown"] = tp.Unknown
	}
	if tp.Estimate != nil {
		f["cost_usd"], f["egress_usd"], f["vm_usd"] = tp.Estimate.TotalUSD, tp.Estimate.EgressUSD, tp.Estimate.VMUSD
	} else {
		f["cost_unknown"] = tp.CostUnknown
	}
	return f
}

// alternative is the plan of the solver asked for, shown beside the
// direct plan a copy runs.
type alternative struct {
	solver string
	plan   *skyplane.TransferPlan
	// err says why the solver has no plan here (figures missing for these
	// regions, a target out of reach): the copy runs direct all the same.
	err error
}

// transferPlans are the plan a copy runs (direct) and, when another
// solver is asked for, that solver's plan.
func transferPlans(ctx context.Context, client *skyplane.Client, src string, dsts []string, f *transferFlags, solver string, gateways int, pv *skyplane.Preview) (*skyplane.TransferPlan, *alternative, error) {
	if !slices.Contains(skyplane.Solvers(), solver) {
		return nil, nil, usageErr(fmt.Errorf("--solver %s: want one of %s", solver, strings.Join(skyplane.Solvers(), ", ")))
	}
	opts := skyplane.PlanOptions{Recursive: f.recursive, Gateways: gateways, Solver: "direct"}
	if pv != nil {
		opts.Bytes = pv.Bytes
	}
	run, err := client.PlanTransfer(ctx, src, dsts, opts)
	if err != nil || solver == "direct" {
		return run, nil, err
	}
	opts.Solver, opts.TargetGbps = solver, f.target
	alt := &alternative{solver: solver}
	alt.plan, alt.err = client.PlanTransfer(ctx, src, dsts, opts)
	return run, alt, nil
}

// writeCost prints what a transfer cost (egress from the bytes that
// crossed each hop, VM time) beside the plan's estimate, and what
// compression saved of the egress fees.
func writeCost(w io.Writer, r *skyplane.Result) {
	c := r.Cost
	if c == nil {
		fmt.Fprintf(w, "  Cost:        unknown (%s)\n", r.CostUnknown)
		return
	}
	line := fmt.Sprintf("  Cost:        %s (egress %s for the bytes sent, VMs %s for %.1f s)", usd(c.TotalUSD), usd(c.EgressUSD), usd(c.VMUSD), c.Seconds)
	if e := r.Estimate; e != nil && !e.VMUnknown {
		line += fmt.Sprintf("; estimated %s", usd(e.TotalUSD))
	} else if e != nil {
		line += fmt.Sprintf("; estimated egress %s", usd(e.EgressUSD))
	}
	fmt.Fprintln(w, line)
	if c.UncompressedEgressUSD > 0 {
		fmt.Fprintf(w, "  Compression saved %.1f %% of egress fees (%s of %s)\n", c.CompressionSavedPct, usd(c.UncompressedEgressUSD-c.EgressUSD), usd(c.UncompressedEgressUSD))
	} else {
		fmt.Fprintf(w, "  Compression saved %.1f %% of egress bytes (egress is free between these regions)\n", c.CompressionSavedPct)
	}
}

// costFields adds the cost after a transfer to its done event.
func costFields(f map[string]any, r *skyplane.Result) {
	if r.Cost == nil {
		f["cost_usd"], f["cost_unknown"] = nil, r.CostUnknown
		return
	}
	f["cost_usd"], f["egress_usd"], f["vm_usd"] = r.Cost.TotalUSD, r.Cost.EgressUSD, r.Cost.VMUSD
	f["egress_uncompressed_usd"], f["compression_saved_fees_pct"] = r.Cost.UncompressedEgressUSD, r.Cost.CompressionSavedPct
	if r.Estimate != nil && !r.Estimate.VMUnknown {
		f["cost_estimate_usd"] = r.Estimate.TotalUSD
	}
}
