package cli

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/skyplane-project/skyplane-go"
)

// printer renders a transfer: text on a terminal (a live progress line),
// periodic plain lines elsewhere, or NDJSON events with --json.
type printer struct {
	e        *env
	json     bool
	mu       sync.Mutex
	lastLine time.Time
	drawn    bool
	// resumeSaid: the "Resuming:" line was printed.
	resumeSaid bool
}

func newPrinter(e *env, jsonOut bool) *printer { return &printer{e: e, json: jsonOut} }

// eventsVersion is the "v" of every --json event; it changes when a field
// changes meaning or goes away (docs/cli.md has the schema).
const eventsVersion = 1

func (p *printer) event(kind string, fields map[string]any) {
	fields["v"] = eventsVersion
	fields["event"] = kind
	fields["time"] = time.Now().UTC().Format(time.RFC3339Nano)
	b, _ := json.Marshal(fields)
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.e.stdout, "%s\n", b)
}

func (p *printer) note(msg string) {
	if p.json {
		p.event("note", map[string]any{"message": msg})
		return
	}
	fmt.Fprintln(p.e.stdout, msg)
}

// plan shows the plan a transfer runs and, when another solver was asked
// for, that solver's plan beside it (relays do not execute yet).
func (p *printer) plan(src string, dsts []string, run *skyplane.TransferPlan, alt *alternative, pv *skyplane.Preview) {
	groups := run.Groups
	if p.json {
		var regions []string
		for _, g := range groups {
			regions = append(regions, g.Region)
		}
		f := planFields(run)
		f["source"], f["destinations"], f["regions"], f["gateways_per_region"], f["provider"] = src, dsts, regions, groups[0].Gateways, planProvider(groups)
		f["in_process"] = groups[0].InProcess
		switch {
		case alt != nil && alt.err != nil:
			f["planned"] = map[string]any{"solver": alt.solver, "error": alt.err.Error()}
		case alt != nil:
			f["planned"] = planFields(alt.plan)
		}
		if pv != nil {
			f["objects"], f["bytes"], f["deletes"] = pv.Objects, pv.Bytes, pv.Deletes
		} else {
			// Without a preview the size is not known before the transfer.
			delete(f, "bytes")
			delete(f, "seconds")
		}
		p.event("plan", f)
		return
	}
	w := p.e.stdout
	where := func(g skyplane.PlanGroup) string { return fmt.Sprintf("%d gateway(s)%s", g.Gateways, onHosts(g)) }
	if groups[0].InProcess {
		fmt.Fprintf(w, "Transfer plan (solver direct, in-process: no network between source and destination; --gateways starts gateways):\n")
		where = func(skyplane.PlanGroup) string { return "this process" }
	} else {
		fmt.Fprintf(w, "Transfer plan (solver direct, %s gateways):\n", planProvider(groups))
	}
	fmt.Fprintf(w, "  source       %-16s %s  (%s)\n", groups[0].Region, src, where(groups[0]))
	for i, d := range dsts {
		fmt.Fprintf(w, "  destination  %-16s %s  (%s)\n", groups[i+1].Region, d, where(groups[i+1]))
	}
	switch {
	case alt != nil && alt.err != nil:
		fmt.Fprintf(w, "The %s solver has no plan here (%v): this transfer runs the direct plan above\n", alt.solver, alt.err)
	case alt != nil:
		fmt.Fprintf(w, "The %s plan (planned only: this transfer runs the direct plan above):\n", alt.solver)
		writePlan(w, alt.plan)
	}
	if pv == nil {
		fmt.Fprintf(w, "  objects are listed while they transfer\n")
		return
	}
	for _, s := range pv.Samples {
		if s.Op == "delete" {
			fmt.Fprintf(w, "    delete %s\n", s.Dst)
			continue
		}
		fmt.Fprintf(w, "    %s => %s (%s)\n", s.Src, s.Dst, humanBytes(s.Size))
	}
	if n := pv.Objects + pv.Deletes - int64(len(pv.Samples)); n > 0 {
		fmt.Fprintf(w, "    ... and %d more\n", n)
	}
	fmt.Fprintf(w, "  %d object(s), %s", pv.Objects, humanBytes(pv.Bytes))
	if pv.Deletes > 0 {
		fmt.Fprintf(w, ", %d to delete", pv.Deletes)
	}
	fmt.Fprintf(w, "\n  estimated cost: %s\n", estimateLine(run))
}

// estimateLine is a plan's estimated cost in words.
func estimateLine(tp *skyplane.TransferPlan) string {
	e := tp.Estimate
	switch {
	case e == nil:
		return "unknown (" + tp.CostUnknown + ")"
	case e.VMUnknown:
		return fmt.Sprintf("egress %s; VM time unknown (%s)", usd(e.EgressUSD), tp.Unknown)
	}
	return fmt.Sprintf("%s (egress %s, VMs %s, at the planner's prices for these regions)", usd(e.TotalUSD), usd(e.EgressUSD), usd(e.VMUSD))
}

func (p *printer) progress(pr skyplane.Progress) {
	p.resuming(pr)
	if p.json {
		p.event("progress", map[string]any{
			"bytes_done": pr.BytesDone, "bytes_total": pr.BytesTotal,
			"objects_done": pr.ObjectsDone, "objects_total": pr.ObjectsTotal,
			"listing_done": pr.ListingDone, "retries": pr.Retries, "elapsed_s": pr.Elapsed.Seconds(),
		})
		return
	}
	if !pr.ListingDone && pr.Elapsed < time.Second {
		// Most listings end within a second: wait for it, so that a
		// "Resuming:" line comes before the first progress line.
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.e.isTTY {
		fmt.Fprintf(p.e.stdout, "\r\033[K%s", progressLine(pr))
		p.drawn = true
		return
	}
	if time.Since(p.lastLine) >= 2*time.Second {
		p.lastLine = time.Now()
		fmt.Fprintln(p.e.stdout, plainLine(pr))
	}
}

// resuming says once, when the listing is done, what a resumed copy found
// already at the destination.
func (p *printer) resuming(pr skyplane.Progress) {
	if !pr.ListingDone || pr.AlreadyThere.Objects <= 0 {
		return
	}
	p.mu.Lock()
	said := p.resumeSaid
	p.resumeSaid = true
	p.mu.Unlock()
	if said {
		return
	}
	total := pr.AlreadyThere.Objects + pr.ObjectsTotal
	if p.json {
		p.event("resuming", map[string]any{"objects_already": pr.AlreadyThere.Objects, "bytes_already": pr.AlreadyThere.Bytes, "objects": total})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.e.stdout, "\r\033[K")
	}
	fmt.Fprintf(p.e.stdout, "Resuming: %d of %d objects (%s) already at the destination\n", pr.AlreadyThere.Objects, total, humanBytes(pr.AlreadyThere.Bytes))
}

// plainLine is a progress line for logs and pipes: words, no bar.
func plainLine(pr skyplane.Progress) string {
	of := fmt.Sprintf("%s of %s", humanBytes(pr.BytesDone), humanBytes(pr.BytesTotal))
	objects := fmt.Sprintf("%d of %d objects", pr.ObjectsDone, pr.ObjectsTotal)
	if !pr.ListingDone {
		of += " so far listed"
		objects += " so far listed"
	}
	pct, rate, eta := progressNumbers(pr)
	line := fmt.Sprintf("progress: %.0f%%, %s, %s, %.2f Gbit/s", pct, of, objects, rate*8/1e9)
	if eta != "?" {
		line += ", " + eta + " left"
	}
	return line
}

// progressNumbers are the percentage of bytes done, the rate in bytes/s and
// the time left ("?" while the listing runs or nothing moved yet).
func progressNumbers(pr skyplane.Progress) (pct, rate float64, eta string) {
	if pr.BytesTotal > 0 {
		pct = 100 * float64(pr.BytesDone) / float64(pr.BytesTotal)
	}
	if s := pr.Elapsed.Seconds(); s > 0 {
		rate = float64(pr.BytesDone) / s
	}
	eta = "?"
	if rate > 0 && pr.ListingDone {
		eta = time.Duration(float64(pr.BytesTotal-pr.BytesDone) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return pct, rate, eta
}

func progressLine(pr skyplane.Progress) string {
	total := "+"
	if pr.ListingDone {
		total = ""
	}
	pct, rate, eta := progressNumbers(pr)
	const width = 24
	filled := int(pct / 100 * width)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", width-filled)
	return fmt.Sprintf("[%s] %5.1f%%  %s / %s%s  %d/%d%s objects  %.2f Gbit/s  ETA %s",
		bar, pct, humanBytes(pr.BytesDone), humanBytes(pr.BytesTotal), total,
		pr.ObjectsDone, pr.ObjectsTotal, total, rate*8/1e9, eta)
}

func (p *printer) endProgress() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.e.stdout)
		p.drawn = false
	}
}

// summary prints the result of a transfer to dsts destinations. Bytes
// are counted once per destination, objects once: both are said per
// destination. The wire carries frames (headers, authentication tags) as
// well as data, so incompressible data costs a little more on the wire than
// on disk: that is "no saving" plus the overhead, never a negative saving.
func (p *printer) summary(r *skyplane.Result, dsts int) {
	secs := r.Duration.Seconds()
	gbps := 0.0
	if secs > 0 {
		gbps = float64(r.Bytes) * 8 / secs / 1e9
	}
	saved := 0.0
	if r.Bytes > 0 && r.WireBytes < r.Bytes && !r.InProcess {
		saved = 100 * (1 - float64(r.WireBytes)/float64(r.Bytes))
	}
	overhead := max(0, r.WireBytes-r.Bytes)
	dsts = max(1, dsts)
	perDst := r.Bytes / int64(dsts)
	cpu := 0.0
	for _, st := range r.Stats {
		cpu += st.CPUSeconds
	}
	if p.json {
		for _, f := range r.Failed {
			p.event("object_failed", map[string]any{"src": f.Src, "dst": f.Dst, "reason": f.Reason})
		}
		f := map[string]any{
			"failed":  len(r.Failed),
			"objects": r.Objects, "bytes": r.Bytes, "destinations": dsts, "bytes_per_destination": perDst,
			"wire_bytes": r.WireBytes, "wire_overhead_bytes": overhead, "deleted": r.Deleted,
			"retries": r.Retries, "store_retries": r.StoreRetries, "gateways_lost": r.GatewaysLost, "runtime_s": secs, "throughput_gbps": gbps, "compression_saved_pct": saved,
			"verified_md5": r.VerifiedMD5, "verified_etag": r.VerifiedETag, "verified_size": r.VerifiedSize,
			"restarted": r.Restarted, "in_process": r.InProcess, "gateway_cpu_s": cpu,
		}
		costFields(f, r)
		p.event("done", f)
		return
	}
	w := p.e.stdout
	if len(r.Failed) == 0 {
		fmt.Fprintln(w, "Transfer completed successfully")
	} else {
		fmt.Fprintf(w, "Transfer completed except %d object(s) the destination cannot hold\n", len(r.Failed))
	}
	fmt.Fprintf(w, "  Runtime:     %.2f s\n", secs)
	fmt.Fprintf(w, "  Throughput:  %.3f Gbit/s\n", gbps)
	if dsts == 1 {
		fmt.Fprintf(w, "  Objects:     %d (%s)\n", r.Objects, humanBytes(r.Bytes))
	} else {
		fmt.Fprintf(w, "  Objects:     %d (%s) to each of %d destinations: %d objects, %s landed in all\n",
			r.Objects, humanBytes(perDst), dsts, r.Objects*int64(dsts), humanBytes(r.Bytes))
	}
	if r.Deleted > 0 {
		fmt.Fprintf(w, "  Deleted:     %d\n", r.Deleted)
	}
	switch {
	case r.InProcess:
		fmt.Fprintf(w, "  Wire bytes:  none (copied in process: no network between source and destination)\n")
	case saved > 0:
		fmt.Fprintf(w, "  Wire bytes:  %s (%d bytes; %.1f%% saved by compression)\n", humanBytes(r.WireBytes), r.WireBytes, saved)
	case overhead == 0:
		fmt.Fprintf(w, "  Wire bytes:  %s (%d bytes)\n", humanBytes(r.WireBytes), r.WireBytes)
	default:
		fmt.Fprintf(w, "  Wire bytes:  %s (%d bytes; no saving: the data did not compress, framing and encryption added %d bytes)\n",
			humanBytes(r.WireBytes), r.WireBytes, overhead)
	}
	fmt.Fprintf(w, "  Retries:     %d chunk(s), %d store request(s)\n", r.Retries, r.StoreRetries)
	if cpu > 0 {
		fmt.Fprintf(w, "  Gateway CPU: %.1f s over %d gateway(s)\n", cpu, len(r.Stats))
	}
	fmt.Fprintf(w, "  Verified:    %d by MD5, %d by multipart ETag, %d by size only\n", r.VerifiedMD5, r.VerifiedETag, r.VerifiedSize)
	if r.Restarted > 0 {
		fmt.Fprintf(w, "  Restarted:   %d (rewritten at the source during the transfer; sent again whole)\n", r.Restarted)
	}
	if r.GatewaysLost > 0 {
		fmt.Fprintf(w, "  Gateways lost: %d (their chunks were sent again through the others)\n", r.GatewaysLost)
	}
	writeCost(w, r)
	const shown = 10
	for i, f := range r.Failed {
		if i == 0 {
			fmt.Fprintf(w, "  Failed:      %d object(s), not copied:\n", len(r.Failed))
		}
		if i == shown {
			fmt.Fprintf(w, "    ... and %d more (all of them with --json)\n", len(r.Failed)-shown)
			break
		}
		fmt.Fprintf(w, "    %s => %s: %s\n", f.Src, f.Dst, f.Reason)
	}
}

func (p *printer) dryRunLine(s skyplane.Sample) {
	if p.json {
		op, reason := "copy", s.Op
		if s.Op == "delete" {
			op, reason = "delete", "not at the source"
		}
		p.event("dry_run", map[string]any{"op": op, "reason": reason, "src": s.Src, "dst": s.Dst, "size": s.Size})
		return
	}
	if s.Op == "delete" {
		fmt.Fprintf(p.e.stdout, "(dry run) delete %s\n", s.Dst)
		return
	}
	fmt.Fprintf(p.e.stdout, "(dry run) copy %s => %s (%s, %s)\n", s.Src, s.Dst, humanBytes(s.Size), s.Op)
}

func (p *printer) dryRunSummary(pv skyplane.Preview) {
	if p.json {
		p.event("dry_run_done", map[string]any{"copies": pv.Objects, "bytes": pv.Bytes, "deletes": pv.Deletes})
		return
	}
	fmt.Fprintf(p.e.stdout, "Dry run: would copy %d object(s) (%s) and delete %d; nothing was changed.\n", pv.Objects, humanBytes(pv.Bytes), pv.Deletes)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
