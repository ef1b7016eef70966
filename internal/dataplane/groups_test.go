package dataplane

import (
	"strings"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/planner"
)

// Relay plans are planned but not executed: New refuses them rather than
// run a plan whose relays no gateway would serve.
func TestNewRefusesPlansItCannotRun(t *testing.T) {
	d, err := planner.DefaultData()
	if err != nil {
		t.Fatal(err)
	}
	lab := "throughput,lab:a,lab:b,8,x\nthroughput,lab:b,lab:c,8,x\nthroughput,lab:a,lab:c,1,x\negress,lab:*,*,0,x\nvm,lab:*,*,0,x\negress_cap,lab:*,,10,x\ningress_cap,lab:*,,10,x\n"
	if d, err = planner.LoadData(strings.NewReader(lab), "lab"); err != nil {
		t.Fatal(err)
	}
	relay, err := planner.Solve("ron", planner.Problem{Src: "lab:a", Dsts: []string{"lab:c"}, Gateways: 1, Data: d})
	if err != nil || len(relay.Relays()) != 1 {
		t.Fatalf("ron plan: %+v, %v", relay, err)
	}
	oneSided, err := planner.Solve("direct", planner.Problem{Src: "lab:a", Dsts: []string{"lab:c"}, Gateways: 1, Data: d,
		CanHost: func(r string) bool { return r != "lab:c" }})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := planner.Solve("direct", planner.Problem{Src: "lab:a", Dsts: []string{"lab:c"}, Gateways: 2, Data: d})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		plan *planner.Plan
		ok   bool
	}{{"relay", relay, false}, {"one-sided", oneSided, false}, {"direct", direct, true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dp, err := New(tt.plan, Options{Provider: local.New(""), StateDir: t.TempDir()})
			if (err == nil) != tt.ok {
				t.Fatalf("New = %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "direct plan") {
					t.Errorf("error %q does not say what runs", err)
				}
				return
			}
			// Gateway ids map back to their groups.
			if g := dp.GroupOf("dst1-1"); g != "lab:c" {
				t.Errorf("GroupOf(dst1-1) = %q", g)
			}
			if g := dp.GroupOf("src-0"); g != "lab:a" {
				t.Errorf("GroupOf(src-0) = %q", g)
			}
			if g := dp.GroupOf("dst1-2"); g != "" {
				t.Errorf("GroupOf(dst1-2) = %q, want none", g)
			}
		})
	}
}
