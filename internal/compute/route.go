package compute

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Routed sends each gateway to the provider of its region: ByRegion for
// the regions listed there (a hosts inventory's, for instance), Fallback
// for every other. One provider may serve several regions; it then gets
// all of their specs in one Provision call.
type Routed struct {
	ByRegion map[string]Provider
	Fallback Provider

	mu   sync.Mutex
	used []Provider // every provider Provision called, for Deprovision
}

// Name lists the providers the regions use, e.g. "ssh+local".
func (r *Routed) Name() string {
	var names []string
	seen := map[Provider]bool{}
	for _, p := range append(r.distinct(), r.Fallback) {
		if p != nil && !seen[p] {
			seen[p] = true
			names = append(names, p.Name())
		}
	}
	return strings.Join(names, "+")
}

func (r *Routed) distinct() []Provider {
	var out []Provider
	seen := map[Provider]bool{}
	for _, p := range r.ByRegion {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}

// ProviderOf is the provider that runs region's gateways.
func (r *Routed) ProviderOf(region string) Provider {
	if p, ok := r.ByRegion[region]; ok {
		return p
	}
	return r.Fallback
}

// Provision starts every spec with its region's provider, the providers in
// parallel, and returns the instances in spec order. If one provider fails,
// what the others started is torn down too.
func (r *Routed) Provision(ctx context.Context, specs []Spec, shared Shared) ([]Instance, error) {
	var order []Provider
	idx := map[Provider][]int{}
	for i, s := range specs {
		p := r.ProviderOf(s.Region)
		if p == nil {
			return nil, fmt.Errorf("gateway %s: no provider for region %q", s.ID, s.Region)
		}
		if _, ok := idx[p]; !ok {
			order = append(order, p)
		}
		idx[p] = append(idx[p], i)
	}
	r.mu.Lock()
	r.used = append(r.used, order...)
	r.mu.Unlock()
	out := make([]Instance, len(specs))
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for k, p := range order {
		wg.Go(func() {
			sub := make([]Spec, len(idx[p]))
			for j, i := range idx[p] {
				sub[j] = specs[i]
			}
			insts, err := p.Provision(ctx, sub, shared)
			if err != nil {
				errs[k] = err
				return
			}
			for j, i := range idx[p] {
				out[i] = insts[j]
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = r.Deprovision(context.WithoutCancel(ctx))
		return nil, err
	}
	return out, nil
}

// Deprovision tears down every provider Provision used.
func (r *Routed) Deprovision(ctx context.Context) error {
	r.mu.Lock()
	used := r.used
	r.used = nil
	r.mu.Unlock()
	errs := make([]error, len(used))
	var wg sync.WaitGroup
	for k, p := range used {
		wg.Go(func() { errs[k] = p.Deprovision(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
