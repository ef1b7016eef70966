package quota

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var clouds = []string{"aws", "gcp", "azure"}

var regionOf = map[string][2]string{
	"aws":   {"aws:us-east-1", "aws:us-west-2"},
	"gcp":   {"gcp:us-central1", "gcp:europe-west4"},
	"azure": {"azure:eastus", "azure:westeurope"},
}

// scenario is one quota situation; its expectations are ladder steps and
// VM counts, so the same table holds for every cloud pair.
type scenario struct {
	name        string
	srcN, dstN  int
	srcQ, dstQ  int // vCPUs available; -1: unknown
	sameQ       int // when source and destination share a region
	srcStep     int // expected ladder step of the source (0 = as asked)
	dstStep     int
	srcVMs      int
	dstVMs      int
	errRegion   string // "src" or "dst": Fit fails naming that region
	sameSrcStep int    // expectations when both share the region
	sameDstStep int
	sameSrcVMs  int
	sameDstVMs  int
	sameErr     bool
}

var scenarios = []scenario{
	{name: "ample", srcN: 4, dstN: 4, srcQ: 1000, dstQ: 1000, sameQ: 1000,
		srcVMs: 4, dstVMs: 4, sameSrcVMs: 4, sameDstVMs: 4},
	{name: "unknown quota", srcN: 4, dstN: 4, srcQ: -1, dstQ: -1, sameQ: -1,
		srcVMs: 4, dstVMs: 4, sameSrcVMs: 4, sameDstVMs: 4},
	{name: "exactly enough", srcN: 4, dstN: 2, srcQ: 128, dstQ: 64, sameQ: 192,
		srcVMs: 4, dstVMs: 2, sameSrcVMs: 4, sameDstVMs: 2},
	// 4×32 = 128 > 64: one step (16) gives 64. Shared: 8×16 = 128 > 64, two steps: 8×8 = 64.
	{name: "source one class down", srcN: 4, dstN: 4, srcQ: 64, dstQ: 1000, sameQ: 64,
		srcStep: 1, srcVMs: 4, dstVMs: 4, sameSrcStep: 2, sameDstStep: 2, sameSrcVMs: 4, sameDstVMs: 4},
	{name: "destination to the smallest class", srcN: 2, dstN: 4, srcQ: 1000, dstQ: 8, sameQ: 12,
		dstStep: 4, srcVMs: 2, dstVMs: 4, sameSrcStep: 4, sameDstStep: 4, sameSrcVMs: 2, sameDstVMs: 4},
	// Smallest is 2 vCPUs: 5 vCPUs hold 2 VMs. Shared, 7 vCPUs: 3 VMs, the
	// larger group (then the later one) losing first: 4+4 → 2+1.
	{name: "fewer VMs", srcN: 4, dstN: 4, srcQ: 5, dstQ: 1000, sameQ: 7,
		srcStep: 4, srcVMs: 2, dstVMs: 4, sameSrcStep: 4, sameDstStep: 4, sameSrcVMs: 2, sameDstVMs: 1},
	{name: "not even one smallest VM", srcN: 1, dstN: 1, srcQ: 1000, dstQ: 1, sameQ: 3,
		errRegion: "dst", sameErr: true},
}

func TestFitEverySourceDestinationPermutation(t *testing.T) {
	for _, src := range clouds {
		for _, dst := range clouds {
			for _, same := range []bool{false, true} {
				if same && src != dst {
					continue
				}
				for _, sc := range scenarios {
					name := fmt.Sprintf("%s->%s/%s", src, dst, sc.name)
					if same {
						name = fmt.Sprintf("%s->%s same region/%s", src, dst, sc.name)
					}
					t.Run(name, func(t *testing.T) { checkScenario(t, src, dst, same, sc) })
				}
			}
		}
	}
}

func checkScenario(t *testing.T, src, dst string, same bool, sc scenario) {
	srcRegion, dstRegion := regionOf[src][0], regionOf[dst][1]
	if same {
		dstRegion = srcRegion
	}
	top := func(cloud string) string { return Ladders[cloud][0].Name }
	in := []Group{{srcRegion, top(src), sc.srcN}, {dstRegion, top(dst), sc.dstN}}
	avail := map[string]int{}
	set := func(r string, q int) {
		if q >= 0 {
			avail[r] = q
		}
	}
	if same {
		set(srcRegion, sc.sameQ)
	} else {
		set(srcRegion, sc.srcQ)
		set(dstRegion, sc.dstQ)
	}
	got, notes, err := Fit(in, avail)
	wantErr := sc.errRegion != ""
	if same {
		wantErr = sc.sameErr
	}
	if wantErr {
		var se *ShortError
		region := dstRegion
		if sc.errRegion == "src" {
			region = srcRegion
		}
		if !errors.As(err, &se) || se.Region != region || !strings.Contains(err.Error(), region) {
			t.Fatalf("Fit: %v, want a ShortError naming %s", err, region)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	ss, ds, sv, dv := sc.srcStep, sc.dstStep, sc.srcVMs, sc.dstVMs
	if same {
		ss, ds, sv, dv = sc.sameSrcStep, sc.sameDstStep, sc.sameSrcVMs, sc.sameDstVMs
	}
	want := []Group{{srcRegion, Ladders[src][ss].Name, sv}, {dstRegion, Ladders[dst][ds].Name, dv}}
	if !slices.Equal(got, want) {
		t.Errorf("Fit = %v, want %v", got, want)
	}
	changed := !slices.Equal(got, in)
	if changed != (len(notes) > 0) {
		t.Errorf("changed %v but notes %q", changed, notes)
	}
	for _, n := range notes {
		if !strings.Contains(n, "vCPU quota") || !strings.Contains(n, "→") {
			t.Errorf("note %q does not say what changed", n)
		}
	}
	// The result fits.
	for r, q := range avail {
		used := 0
		for _, g := range got {
			if g.Region == r {
				l, at := step(r, g.Class)
				used += g.VMs * l[at].VCPUs
			}
		}
		if used > q {
			t.Errorf("%s: %d vCPUs used of %d", r, used, q)
		}
	}
}

func TestFitLeavesUnknownClassesAlone(t *testing.T) {
	in := []Group{{"aws:us-east-1", "c7gn.16xlarge", 8}}
	got, notes, err := Fit(in, map[string]int{"aws:us-east-1": 4})
	if err != nil || !slices.Equal(got, in) || len(notes) != 0 {
		t.Errorf("Fit = %v %v %v, want the group unchanged", got, notes, err)
	}
}

func TestFitStartsFromTheAskedClass(t *testing.T) {
	in := []Group{{"gcp:us-central1", "n2-standard-8", 3}}
	got, _, err := Fit(in, map[string]int{"gcp:us-central1": 12})
	if err != nil || got[0].Class != "n2-standard-4" || got[0].VMs != 3 {
		t.Errorf("Fit = %v %v, want 3×n2-standard-4", got, err)
	}
}
