package planner

import "testing"

func TestDirect(t *testing.T) {
	tests := []struct {
		name     string
		src      string
		dsts     []string
		n        int
		wantKeys []string
		wantErr  bool
	}{
		{"one destination", "aws:us-east-1", []string{"gcp:us-central1"}, 2, []string{"aws:us-east-1", "gcp:us-central1"}, false},
		{"same region", "aws:us-east-1", []string{"aws:us-east-1"}, 1, []string{"aws:us-east-1", "aws:us-east-1#2"}, false},
		{"broadcast", "local:src", []string{"local:dst", "local:dst"}, 1, []string{"local:src", "local:dst", "local:dst#2"}, false},
		{"zero gateways", "a", []string{"b"}, 0, nil, true},
		{"no destination", "a", nil, 1, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Direct(tt.src, tt.dsts, tt.n)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(p.Groups) != len(tt.wantKeys) {
				t.Fatalf("groups = %+v", p.Groups)
			}
			for i, k := range tt.wantKeys {
				g := p.Groups[i]
				if g.Key != k || g.Gateways != tt.n {
					t.Errorf("group %d = %+v, want key %s with %d gateways", i, g, k, tt.n)
				}
			}
			if p.Source().Role != RoleSource {
				t.Errorf("first group is %s", p.Source().Role)
			}
			for _, d := range p.Destinations() {
				if p.Next[p.Source().Key][d.Key] != d.Key {
					t.Errorf("no direct hop to %s: %v", d.Key, p.Next)
				}
			}
		})
	}
}
