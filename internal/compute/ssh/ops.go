package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/skyplane-project/skyplane-go/internal/hosts"
)

// HostReport is what Check found on one host.
type HostReport struct {
	Host, Region, Addr string
	// Platform is the host's GOOS/GOARCH as `uname -sm` names it;
	// Supported says the client's gateway binary runs there.
	Platform  string
	Supported bool
	// FreeBytes is the free space of the SSH user's home directory.
	FreeBytes int64
	Err       error
}

// allHosts is every inventory host with its region, in region order.
func allHosts(inv *hosts.Inventory) (hs []hosts.Host, regions []string) {
	for _, tag := range inv.RegionTags() {
		for _, h := range inv.Hosts(tag) {
			hs = append(hs, h)
			regions = append(regions, tag)
		}
	}
	return hs, regions
}

// Check connects to every host (verifying its key) in parallel, and reports
// its platform and free disk; a host that fails carries its error.
func Check(ctx context.Context, inv *hosts.Inventory, opt Options) []HostReport {
	p := New(inv, opt)
	hs, regions := allHosts(inv)
	out := make([]HostReport, len(hs))
	var wg sync.WaitGroup
	for i, h := range hs {
		wg.Go(func() {
			out[i] = HostReport{Host: h.Name, Region: regions[i], Addr: h.SSHAddr()}
			out[i].Err = p.check(ctx, h, &out[i])
		})
	}
	wg.Wait()
	return out
}

func (p *Provider) check(ctx context.Context, h hosts.Host, rep *HostReport) error {
	conn, err := dial(ctx, h, p.opt.AgentSocket, p.opt.DialTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := &remote{p: p, host: h, conn: conn}
	uname, err := r.run("uname -sm")
	if err != nil {
		return err
	}
	rep.Platform = platform(uname)
	rep.Supported = rep.Platform == runtime.GOOS+"/"+runtime.GOARCH
	// POSIX df: the 4th field of the last line is the free 1 KiB blocks.
	df, err := r.run("df -Pk ~ | tail -n 1")
	if err != nil {
		return err
	}
	f := strings.Fields(df)
	if len(f) < 4 {
		return fmt.Errorf("df: unexpected output %q", strings.TrimSpace(df))
	}
	kb, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return fmt.Errorf("df: free blocks %q: %w", f[3], err)
	}
	rep.FreeBytes = kb << 10
	return nil
}

// Running is a gateway found on a host by its marker.
type Running struct {
	Marker
	PID   int
	Alive bool // its process still runs
}

// List finds every gateway on every host by its marker (whoever started
// it). A host it cannot reach is named in the error; the others are listed.
func List(ctx context.Context, inv *hosts.Inventory, opt Options) ([]Running, error) {
	p := New(inv, opt)
	hs, _ := allHosts(inv)
	var (
		mu   sync.Mutex
		out  []Running
		errs = make([]error, len(hs))
		wg   sync.WaitGroup
	)
	for i, h := range hs {
		wg.Go(func() {
			rs, err := p.listHost(ctx, h)
			mu.Lock()
			out = append(out, rs...)
			mu.Unlock()
			if err != nil {
				errs[i] = &HostError{Host: h.Name, Addr: h.SSHAddr(), Gateway: "(list)", Err: err}
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (p *Provider) listHost(ctx context.Context, h hosts.Host) ([]Running, error) {
	var out []Running
	err := p.eachGateway(ctx, h, func(r *remote, _ string, mk Marker, pid int) error {
		out = append(out, Running{Marker: mk, PID: pid, Alive: pid > 0 && r.alive(pid)})
		return nil
	})
	return out, err
}

// ShellIO is what Shell connects: the streams, and a terminal of Rows ×
// Cols when Terminal is set (an interactive session).
type ShellIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Terminal       bool
	Rows, Cols     int
}

// Shell runs command on the named host; with io.Terminal it first asks
// for a terminal, and runs without one when the host refuses (sshd
// PermitTTY no).
func Shell(ctx context.Context, inv *hosts.Inventory, opt Options, host, command string, sio ShellIO) error {
	p := New(inv, opt)
	hs, _ := allHosts(inv)
	for _, h := range hs {
		if h.Name != host {
			continue
		}
		conn, err := dial(ctx, h, p.opt.AgentSocket, p.opt.DialTimeout)
		if err != nil {
			return &HostError{Host: h.Name, Addr: h.SSHAddr(), Gateway: "(shell)", Err: err}
		}
		defer conn.Close()
		s, err := conn.NewSession()
		if err != nil {
			return err
		}
		defer s.Close()
		s.Stdin, s.Stdout, s.Stderr = sio.Stdin, sio.Stdout, sio.Stderr
		stop := context.AfterFunc(ctx, func() { s.Close() })
		defer stop()
		if sio.Terminal {
			if err := s.RequestPty("xterm-256color", max(sio.Rows, 24), max(sio.Cols, 80), nil); err != nil {
				p.opt.Log.Info("host refused a terminal; running without one", "host", h.Name, "err", err)
			}
		}
		return s.Run(command)
	}
	return fmt.Errorf("no host %q in %s", host, inv.Path)
}
