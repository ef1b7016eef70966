package e2e

import (
	"math"
	"os"
	"strings"
	"testing"
)

// TestPlanCommand runs `skyplane plan` through the binary: each solver
// prints gateways, hops, throughput and cost; --json carries the same;
// bad input and an unreachable target are usage errors that say why.
func TestPlanCommand(t *testing.T) {
	s := newSandbox(t)
	// A three-region lab whose direct link a→c is throttled, a→b→c not.
	lab := s.path("lab.csv")
	if err := os.WriteFile(lab, []byte(`throughput,lab:a,lab:b,8,lab
throughput,lab:b,lab:c,8,lab
throughput,lab:a,lab:c,1,lab
egress,lab:*,*,0.02,lab
vm,lab:*,*,1.2,lab
egress_cap,lab:*,,10,lab
ingress_cap,lab:*,,10,lab
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s.config("planner_data_file", lab)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "direct across clouds", args: []string{"--from", "aws:us-east-1", "--to", "gcp:europe-west1", "--size", "1TB"},
			stdout: []string{"Plan (solver direct)", "source       aws:us-east-1", "1 × m5.8xlarge", "1 × n2-standard-32",
				"hop          aws:us-east-1 → gcp:europe-west1: 32 connection(s)", "Gbit/s to each destination", "cost         $", "egress $83.82"}},
		{name: "ron takes the relay", args: []string{"--from", "lab:a", "--to", "lab:c", "--size", "100GiB", "--solver", "ron"},
			stdout: []string{"relay        lab:b", "lab:a → lab:b", "lab:b → lab:c", "4.00 Gbit/s", "planned but not executed yet"}},
		{name: "ilp meets a target", args: []string{"--from", "lab:a", "--to", "lab:c", "--size", "100GiB", "--solver", "ilp", "-t", "12", "-n", "2"},
			stdout: []string{"relay        lab:b", "2 gateway(s)", "12.00 Gbit/s to each destination", "1m12s"}},
		{name: "ilp target out of reach", args: []string{"--from", "lab:a", "--to", "lab:c", "--size", "1GB", "--solver", "ilp", "-t", "50"}, code: 2,
			stderr: []string{"no plan reaches 50.00 Gbit/s", "best reachable is 8.00 Gbit/s", "lower -t or raise -n"}},
		{name: "broadcast", args: []string{"--from", "azure:eastus", "--to", "azure:westeurope,gcp:us-central1-a", "--size", "10G"},
			stdout: []string{"destination  azure:westeurope", "destination  gcp:us-central1", "Standard_D32_v5"}},
		{name: "one-sided", args: []string{"--from", "aws:us-east-1", "--to", "onprem:dc1", "--size", "1GB"},
			stdout: []string{"no gateways (reached from the other side)", "throughput   unknown", "planner_data_file"}},
		{name: "missing size", args: []string{"--from", "aws:us-east-1", "--to", "gcp:us-central1"}, code: 2, stderr: []string{"--size"}},
		{name: "bad size", args: []string{"--from", "aws:us-east-1", "--to", "gcp:us-central1", "--size", "lots"}, code: 2, stderr: []string{"--size lots", "500GB"}},
		{name: "bad region", args: []string{"--from", "us-east-1", "--to", "gcp:us-central1", "--size", "1G"}, code: 2, stderr: []string{"cloud:region"}},
		{name: "unknown solver", args: []string{"--from", "aws:us-east-1", "--to", "gcp:us-central1", "--size", "1G", "--solver", "magic"}, code: 2, stderr: []string{"unknown solver", "direct, ilp, ron"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.run(nil, append([]string{"plan"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, m := range tt.stdout {
				if !strings.Contains(r.stdout, m) {
					t.Errorf("stdout lacks %q:\n%s", m, r.stdout)
				}
			}
			for _, m := range tt.stderr {
				if !strings.Contains(r.stderr, m) {
					t.Errorf("stderr lacks %q:\n%s", m, r.stderr)
				}
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		r := s.mustRun("plan", "--from", "lab:a", "--to", "lab:c", "--size", "8GB", "--solver", "ron", "--json")
		evs := events(t, r.stdout, "plan")
		if len(evs) != 1 {
			t.Fatalf("plan events: %s", r.stdout)
		}
		ev := evs[0]
		// 32 connections (num_connections) carry half of the 8 Gbit/s a
		// 64-connection pair does: 8 GB take 16 s; two hops of 8 GB at
		// $0.02/GiB; three VMs at $1.20/h for 16 s.
		wantEgress := 2 * 8e9 / (1 << 30) * 0.02
		wantVM := 3 * 1.2 * 16 / 3600
		if ev["solver"] != "ron" || ev["throughput_gbps"] != 4.0 || ev["seconds"] != 16.0 || ev["executable"] != false ||
			math.Abs(ev["egress_usd"].(float64)-wantEgress) > 1e-9 || math.Abs(ev["vm_usd"].(float64)-wantVM) > 1e-9 {
			t.Errorf("plan event = %v", ev)
		}
		if groups := ev["groups"].([]any); len(groups) != 3 {
			t.Errorf("groups = %v", groups)
		}
		if edges := ev["edges"].([]any); len(edges) != 2 {
			t.Errorf("edges = %v", edges)
		}
	})
}

// TestCopyShowsTheSolversPlan: cp shows the plan it runs (direct) and the
// plan of the solver asked for beside it; a relay plan is shown, never run
// (no relay gateway starts), and a solver without figures for the regions
// says so without stopping the copy.
func TestCopyShowsTheSolversPlan(t *testing.T) {
	// Figures that make a relay worth it between local:src and local:dst.
	const relayRows = `throughput,local:src,local:dst,1,test
throughput,local:src,lab:b,8,test
throughput,lab:b,local:dst,8,test
vm,lab:*,*,1,test
egress_cap,lab:*,,10,test
ingress_cap,lab:*,,10,test
`
	tests := []struct {
		name string
		rows string // planner_data_file, if any
		args []string
		want []string
	}{
		{"ron relay shown, direct run", relayRows, []string{"--solver", "ron"},
			[]string{"The ron plan (planned only: this transfer runs the direct plan above)", "relay        lab:b", "planned but not executed yet"}},
		{"ilp without figures", "", []string{"--solver", "ilp"},
			[]string{"The ilp solver has no plan here", "no throughput figure for local:src → local:dst", "runs the direct plan above"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSandbox(t)
			s.useGateways() // the test counts the gateways that ran
			if tt.rows != "" {
				data := s.path("planner.csv")
				if err := os.WriteFile(data, []byte(tt.rows), 0o600); err != nil {
					t.Fatal(err)
				}
				s.config("planner_data_file", data)
			}
			src, dst := s.path("src"), s.path("dst")
			writeRandomFile(t, src+"/a.bin", 4096)
			args := append(append([]string{"cp", "-r"}, tt.args...), src, dst)
			r := s.runIn(nil, "", "y\n", args...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, m := range append(tt.want, "Transfer plan (solver direct", "estimated cost: $", "Transfer completed successfully") {
				if !strings.Contains(r.stdout, m) {
					t.Errorf("stdout lacks %q:\n%s", m, r.stdout)
				}
			}
			assertTreesEqual(t, src, dst)
			if _, files := s.gatewayStats("relay", "frames_recv"); files != 0 {
				t.Errorf("%d relay gateway(s) ran", files)
			}
			if _, files := s.gatewayStats("dst", "frames_recv"); files == 0 {
				t.Error("no destination gateway ran")
			}
		})
	}
}
