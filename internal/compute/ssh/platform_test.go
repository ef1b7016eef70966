package ssh

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/compute"
)

// TestOtherPlatform provisions onto a host whose platform differs from the
// client binary's (the client claims linux/arm64; the lab hosts are this
// machine's platform): the provider asks BinaryFor for the host's platform
// and deploys what it returns, or fails naming the host, its platform and
// the fix, with nothing written to the host.
func TestOtherPlatform(t *testing.T) {
	l := lab(t)
	bin := gatewayBinary(t)
	h := l.Hosts["r1-h1"]
	host := compute.Spec{ID: "gw", Region: "aws:lab-r1"}
	errNoGo := errors.New("no Go toolchain on PATH")
	cases := []struct {
		name      string
		binaryFor func(context.Context, string) (string, error)
		wantErr   []string // nil: provision works
	}{
		{name: "binary for the host's platform", binaryFor: func(context.Context, string) (string, error) { return bin, nil }},
		{name: "none can be built", binaryFor: func(context.Context, string) (string, error) { return "", errNoGo },
			wantErr: []string{"host r1-h1", "host is linux/", "client's binary is linux/arm64", errNoGo.Error()}},
		{name: "no way to get one", wantErr: []string{"host r1-h1", "no binary for linux/", "go build ./cmd/skyplane"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var asked []string
			opt := Options{Binary: "/bin/true", Platform: "linux/arm64", DataplaneID: "dp-platform"}
			if c.binaryFor != nil {
				opt.BinaryFor = func(ctx context.Context, platform string) (string, error) {
					mu.Lock()
					asked = append(asked, platform)
					mu.Unlock()
					return c.binaryFor(ctx, platform)
				}
			}
			inv := l.inventory(t, "", map[string][]string{"aws:lab-r1": {h.Name}}, "")
			p := New(inv, opt)
			t.Cleanup(func() { _ = p.Deprovision(context.Background()) })
			before := l.files(t, h)
			insts, err := p.Provision(t.Context(), []compute.Spec{host}, testBoot(t))
			if c.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if len(asked) != 1 || asked[0] == "linux/arm64" || !strings.HasPrefix(asked[0], "linux/") {
					t.Errorf("BinaryFor asked for %v, want the host's platform once", asked)
				}
				if pids := gatewayPIDs(t, h); len(pids) != 1 || insts[0].Control == "" {
					t.Errorf("gateway not running on %s: pids %v", h.Name, pids)
				}
				if err := p.Deprovision(t.Context()); err != nil {
					t.Fatal(err)
				}
				onlyBinaryLeft(t, l, h)
				return
			}
			if err == nil {
				t.Fatal("provision onto a host of another platform succeeded without a binary for it")
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if after := l.files(t, h); !slices.Equal(after, before) {
				t.Errorf("files written on %s: %v, before %v", h.Name, after, before)
			}
		})
	}
}
