package ssh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"

	"github.com/pkg/sftp"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/hosts"
)

// Sweep finds gateways on every inventory host by their owner.json
// markers and stops and removes those match accepts: what `skyplane
// deprovision` needs after a client died without tearing down (its
// gateways outlive it by design). Logs are collected into logDir unless it
// is empty. It returns the markers of the gateways it removed; a host it
// cannot reach is named in the error and the others are still swept.
func Sweep(ctx context.Context, inv *hosts.Inventory, opt Options, logDir string, match func(Marker) bool) ([]Marker, error) {
	p := New(inv, opt)
	var all []hosts.Host
	for _, tag := range inv.RegionTags() {
		all = append(all, inv.Hosts(tag)...)
	}
	var (
		mu    sync.Mutex
		found []Marker
		errs  = make([]error, len(all))
		wg    sync.WaitGroup
	)
	for i, h := range all {
		wg.Go(func() {
			ms, err := p.sweepHost(ctx, h, logDir, match)
			mu.Lock()
			found = append(found, ms...)
			mu.Unlock()
			if err != nil {
				errs[i] = &HostError{Host: h.Name, Addr: h.SSHAddr(), Gateway: "(sweep)", Err: err}
			}
		})
	}
	wg.Wait()
	return found, errors.Join(errs...)
}

func (p *Provider) sweepHost(ctx context.Context, h hosts.Host, logDir string, match func(Marker) bool) ([]Marker, error) {
	var swept []Marker
	err := p.eachGateway(ctx, h, func(probe *remote, dir string, mk Marker, pid int) error {
		if !match(mk) {
			return nil
		}
		// stop would close the shared connection: this one is borrowed.
		r := &remote{p: p, host: h, spec: compute.Spec{ID: mk.GatewayID, Region: mk.Region},
			boot: compute.Shared{Dir: logDir}, sc: probe.sc, conn: probe.conn, dir: dir, pid: pid}
		if err := r.teardown(ctx); err != nil {
			return fmt.Errorf("gateway %s of dataplane %s: %w", mk.GatewayID, mk.DataplaneID, err)
		}
		swept = append(swept, mk)
		return nil
	})
	return swept, err
}

// eachGateway connects to h and calls visit for each gateway's folder
// there (found by its owner.json marker) with the marker and the pid it
// recorded (0: none). Errors of unreadable markers and of visit are joined.
func (p *Provider) eachGateway(ctx context.Context, h hosts.Host, visit func(r *remote, dir string, mk Marker, pid int) error) error {
	conn, err := dial(ctx, h, p.opt.AgentSocket, p.opt.DialTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	sc, err := sftp.NewClient(conn)
	if err != nil {
		return fmt.Errorf("sftp: %w", err)
	}
	defer sc.Close()
	home, err := sc.Getwd()
	if err != nil {
		return fmt.Errorf("sftp: home directory: %w", err)
	}
	owners, err := sc.Glob(path.Join(home, ".skyplane", "gateways", "*", "*", "owner.json"))
	if err != nil {
		return fmt.Errorf("sftp: list gateways: %w", err)
	}
	probe := &remote{p: p, host: h, conn: conn, sc: sc}
	var errs []error
	for _, owner := range owners {
		dir := path.Dir(owner)
		b, err := probe.readFile(owner)
		var mk Marker
		if err == nil {
			err = json.Unmarshal(b, &mk)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("marker %s: %w", owner, err))
			continue
		}
		pid := 0
		if b, err := probe.readFile(path.Join(dir, "pid")); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if err := visit(probe, dir, mk, pid); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
