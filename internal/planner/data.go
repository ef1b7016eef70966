package planner

import (
	"bufio"
	"embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// The shipped figures, one format for all (docs/planner.md): each line is
// kind,a,b,value,source. Lines starting with # and blank lines are ignored.
//
//go:embed data/*.csv
var shipped embed.FS

// Row kinds.
const (
	KindThroughput = "throughput"  // a=src region, b=dst region, Gbit/s over 64 connections
	KindEgress     = "egress"      // a=src pattern, b=dst pattern, USD per GB
	KindVM         = "vm"          // a=region pattern, b=instance class or *, USD per hour
	KindEgressCap  = "egress_cap"  // a=region pattern, Gbit/s one VM sends
	KindIngressCap = "ingress_cap" // a=region pattern, Gbit/s one VM receives
	KindRegion     = "region"      // a=region, b=continent, no value
)

// Row is one line of planner data.
type Row struct {
	Kind, A, B string
	Value      float64
	// Source says where the figure comes from ("measured", "aws 2024-06-01").
	Source string
	// Where is file:line, for messages.
	Where string
}

type rowKey struct{ kind, a, b string }

// Data holds the throughput grid, prices and caps the solvers read.
type Data struct {
	rows      map[rowKey]Row
	continent map[string]string
	// patterned rows, matched by specificity (egress, vm, caps)
	egress, vm, egressCap, ingressCap []Row
}

var defaultData = sync.OnceValues(func() (*Data, error) { return LoadData(nil, "") })

// DefaultData is the shipped data alone.
func DefaultData() (*Data, error) { return defaultData() }

// LoadData reads the shipped data, then the rows of override (a user's
// file, named name in messages; nil for none), each of which replaces the
// shipped row of the same kind, a and b or adds a row.
func LoadData(override io.Reader, name string) (*Data, error) {
	d := &Data{rows: map[rowKey]Row{}, continent: map[string]string{}}
	files, err := shipped.ReadDir("data")
	if err != nil {
		return nil, fmt.Errorf("planner data: %w", err)
	}
	for _, f := range files {
		r, err := shipped.Open("data/" + f.Name())
		if err != nil {
			return nil, fmt.Errorf("planner data: %w", err)
		}
		err = d.read(r, "planner/data/"+f.Name())
		r.Close()
		if err != nil {
			return nil, err
		}
	}
	if override != nil {
		if err := d.read(override, name); err != nil {
			return nil, err
		}
	}
	d.index()
	return d, nil
}

// ErrBadData marks a malformed line of planner data.
var ErrBadData = errors.New("bad planner data")

func (d *Data) read(r io.Reader, name string) error {
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		row, err := parseRow(line)
		if err != nil {
			return fmt.Errorf("%w: %s:%d: %w", ErrBadData, name, n, err)
		}
		row.Where = fmt.Sprintf("%s:%d", name, n)
		d.rows[rowKey{row.Kind, row.A, row.B}] = row
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	return nil
}

func parseRow(line string) (Row, error) {
	f := strings.SplitN(line, ",", 5)
	if len(f) < 4 {
		return Row{}, fmt.Errorf("%q: want kind,a,b,value,source", line)
	}
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	row := Row{Kind: f[0], A: f[1], B: f[2]}
	if len(f) == 5 {
		row.Source = f[4]
	}
	switch row.Kind {
	case KindRegion:
		if row.B == "" {
			return Row{}, fmt.Errorf("region %s: name its continent in the third field", row.A)
		}
		row.A = Normalize(row.A)
		return row, nil
	case KindThroughput, KindEgress, KindVM, KindEgressCap, KindIngressCap:
	default:
		return Row{}, fmt.Errorf("unknown kind %q: want throughput, egress, vm, egress_cap, ingress_cap or region", row.Kind)
	}
	v, err := strconv.ParseFloat(f[3], 64)
	if err != nil || v < 0 {
		return Row{}, fmt.Errorf("value %q: want a number ≥ 0", f[3])
	}
	row.Value = v
	if row.A == "" || (row.B == "" && (row.Kind == KindThroughput || row.Kind == KindEgress || row.Kind == KindVM)) {
		return Row{}, fmt.Errorf("%s row %q: both a and b must be given", row.Kind, line)
	}
	if row.Kind == KindThroughput {
		row.A, row.B = Normalize(row.A), Normalize(row.B)
		if strings.Contains(row.A+row.B, "*") || strings.Contains(row.A+row.B, "@") {
			return Row{}, fmt.Errorf("throughput rows name two regions, not patterns: %q", line)
		}
	}
	return row, nil
}

func (d *Data) index() {
	for _, r := range d.rows {
		switch r.Kind {
		case KindRegion:
			d.continent[r.A] = r.B
		case KindEgress:
			d.egress = append(d.egress, r)
		case KindVM:
			d.vm = append(d.vm, r)
		case KindEgressCap:
			d.egressCap = append(d.egressCap, r)
		case KindIngressCap:
			d.ingressCap = append(d.ingressCap, r)
		}
	}
	// Map order is random; ties in specificity are impossible between
	// distinct keys, but a stable order keeps messages stable.
	for _, s := range [][]Row{d.egress, d.vm, d.egressCap, d.ingressCap} {
		slices.SortFunc(s, func(a, b Row) int { return strings.Compare(a.A+","+a.B, b.A+","+b.B) })
	}
}

var gcpZone = regexp.MustCompile(`^(gcp:[a-z]+-[a-z]+[0-9]+)-[a-z]$`)

// Normalize names a region as the data do: a GCP zone by its region
// ("gcp:us-central1-a" → "gcp:us-central1").
func Normalize(tag string) string {
	if m := gcpZone.FindStringSubmatch(tag); m != nil {
		return m[1]
	}
	return tag
}

// Cloud is the provider part of a region tag ("aws" of "aws:us-east-1").
func Cloud(tag string) string {
	c, _, _ := strings.Cut(tag, ":")
	return c
}

// Continent of a region, "" when the data do not say.
func (d *Data) Continent(tag string) string { return d.continent[Normalize(tag)] }

// Regions are every region the throughput grid knows, sorted.
func (d *Data) Regions() []string {
	seen := map[string]bool{}
	for k := range d.rows {
		if k.kind == KindThroughput {
			seen[k.a], seen[k.b] = true, true
		}
	}
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Throughput is the grid's Gbit/s from src to dst over 64 connections
// between one VM at each end; ok is false when no row names the pair.
func (d *Data) Throughput(src, dst string) (gbps float64, row Row, ok bool) {
	row, ok = d.rows[rowKey{KindThroughput, Normalize(src), Normalize(dst)}]
	return row.Value, row, ok
}

// match scores how specifically pattern names tag: 4 "=" (tag is self),
// 3 the tag itself, 2 "cloud@continent", 1 "cloud:*", 0 "*", -1 no match.
func (d *Data) match(pattern, tag, self string) int {
	switch {
	case pattern == "=":
		if tag == self {
			return 4
		}
		return -1
	case pattern == tag:
		return 3
	case pattern == "*":
		return 0
	case strings.HasSuffix(pattern, ":*"):
		if strings.TrimSuffix(pattern, ":*") == Cloud(tag) {
			return 1
		}
	case strings.Contains(pattern, "@"):
		cloud, cont, _ := strings.Cut(pattern, "@")
		if cloud == Cloud(tag) && cont != "" && cont == d.continent[tag] {
			return 2
		}
	}
	return -1
}

// best is the row whose b then a match most specifically.
func (d *Data) best(rows []Row, a, b, self string) (Row, bool) {
	var out Row
	score := -1
	for _, r := range rows {
		sa, sb := d.match(r.A, a, ""), 0
		if r.B != "" {
			sb = d.match(r.B, b, self)
		}
		if sa < 0 || sb < 0 {
			continue
		}
		if s := sb*8 + sa; s > score {
			out, score = r, s
		}
	}
	return out, score >= 0
}

// ErrNoData marks a figure the data do not have.
var ErrNoData = errors.New("no planner data")

// EgressPrice is the USD per GB leaving src for dst.
func (d *Data) EgressPrice(src, dst string) (float64, Row, error) {
	src, dst = Normalize(src), Normalize(dst)
	r, ok := d.best(d.egress, src, dst, src)
	if !ok {
		return 0, Row{}, fmt.Errorf("%w: no egress price from %s to %s: add an egress row to planner_data_file", ErrNoData, src, dst)
	}
	return r.Value, r, nil
}

// VMPrice is the USD per hour of one VM of class in region.
func (d *Data) VMPrice(region, class string) (float64, Row, error) {
	region = Normalize(region)
	r, ok := d.best(d.vm, region, class, "")
	if !ok {
		return 0, Row{}, fmt.Errorf("%w: no price for a %s VM in %s: add a vm row to planner_data_file", ErrNoData, class, region)
	}
	return r.Value, r, nil
}

// Caps are the Gbit/s one VM in region sends and receives.
func (d *Data) Caps(region string) (egress, ingress float64, err error) {
	region = Normalize(region)
	e, ok1 := d.best(d.egressCap, region, "", "")
	i, ok2 := d.best(d.ingressCap, region, "", "")
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("%w: no network caps for VMs in %s: add egress_cap and ingress_cap rows to planner_data_file", ErrNoData, region)
	}
	return e.Value, i.Value, nil
}
