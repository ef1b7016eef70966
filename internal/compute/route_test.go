package compute

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

// recorder is a provider that hands out instances named after itself and
// remembers what it was asked, to check where Routed sends each spec.
type recorder struct {
	name   string
	fail   error
	mu     sync.Mutex
	got    []string
	downed int
}

func (p *recorder) Name() string { return p.name }

func (p *recorder) Provision(_ context.Context, specs []Spec, _ Shared) ([]Instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range specs {
		p.got = append(p.got, s.ID)
	}
	if p.fail != nil {
		return nil, p.fail
	}
	out := make([]Instance, len(specs))
	for i, s := range specs {
		out[i] = Instance{ID: s.ID, Region: s.Region, Control: p.name}
	}
	return out, nil
}

func (p *recorder) Deprovision(context.Context) error {
	p.mu.Lock()
	p.downed++
	p.mu.Unlock()
	return nil
}

func TestRouted(t *testing.T) {
	boom := errors.New("host h1 unreachable")
	cases := []struct {
		name      string
		sshFails  error
		wantSSH   []string
		wantLocal []string
		wantErr   error
	}{
		{name: "split by region", wantSSH: []string{"src-0", "src-1", "dst1-0"}, wantLocal: []string{"dst2-0"}},
		{name: "one provider fails: all torn down", sshFails: boom, wantSSH: []string{"src-0", "src-1", "dst1-0"}, wantLocal: []string{"dst2-0"}, wantErr: boom},
	}
	specs := []Spec{{ID: "src-0", Region: "onprem:a"}, {ID: "src-1", Region: "onprem:a"}, {ID: "dst1-0", Region: "onprem:b"}, {ID: "dst2-0", Region: "aws:x"}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ssh, loc := &recorder{name: "ssh", fail: c.sshFails}, &recorder{name: "local"}
			r := &Routed{ByRegion: map[string]Provider{"onprem:a": ssh, "onprem:b": ssh}, Fallback: loc}
			if r.Name() != "ssh+local" {
				t.Errorf("Name = %q", r.Name())
			}
			insts, err := r.Provision(t.Context(), specs, Shared{})
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Provision error = %v, want %v", err, c.wantErr)
			}
			if !slices.Equal(ssh.got, c.wantSSH) || !slices.Equal(loc.got, c.wantLocal) {
				t.Errorf("ssh got %v, local got %v; want %v and %v", ssh.got, loc.got, c.wantSSH, c.wantLocal)
			}
			if err != nil {
				if ssh.downed != 1 || loc.downed != 1 {
					t.Errorf("after a failure: deprovisioned ssh %d, local %d times, want 1 each", ssh.downed, loc.downed)
				}
				return
			}
			for i, in := range insts {
				want := map[string]string{"aws:x": "local"}[specs[i].Region]
				if want == "" {
					want = "ssh"
				}
				if in.ID != specs[i].ID || in.Control != want {
					t.Errorf("instance %d = %+v, want %s from %s (spec order)", i, in, specs[i].ID, want)
				}
			}
			if err := r.Deprovision(t.Context()); err != nil || ssh.downed != 1 || loc.downed != 1 {
				t.Errorf("Deprovision: %v; ssh %d, local %d", err, ssh.downed, loc.downed)
			}
		})
	}
}
