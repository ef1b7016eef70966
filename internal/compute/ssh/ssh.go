// Package ssh provisions gateways on machines the user runs, listed in a
// hosts inventory (internal/hosts), over SSH.
//
// Per gateway: connect (the host key verified against known_hosts or the
// inventory's host_key, never accepted blindly), check `uname -sm` against
// the client binary's platform, upload that binary once per content
// (~/.skyplane/bin/skyplane-<sha256[:16]>, skipped when present), write the
// boot file 0600 over SFTP into ~/.skyplane/gateways/<dataplane>/<gateway>/
// beside a marker (owner.json: client id, dataplane id), and start
// `skyplane gateway --boot FILE` detached in its own session (setsid, nohup)
// so it outlives the SSH session. The control API listens on the host's
// 127.0.0.1 only; the client reaches it through an SSH direct-tcpip channel,
// offered as a local 127.0.0.1 port (Instance.Control) so the gateway client
// works unchanged. Data listens on the host's data address.
//
// Deprovision stops each gateway (SIGTERM, SIGKILL after a grace period),
// downloads its log and final stats into Boot.Dir, and removes its
// directory; the content-named binary stays for the next dataplane.
package ssh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/hosts"
)

// Options configure a Provider. Library code reads no environment: the
// caller maps SSH_AUTH_SOCK and the config keys onto these fields.
type Options struct {
	// Binary is the local skyplane executable to run remotely, built for
	// Platform (default: this process's GOOS/GOARCH).
	Binary, Platform string
	// BinaryFor returns a binary for a host of another platform
	// ("linux/arm64"), e.g. cross-built from the client's source; nil:
	// such hosts are refused with the fix.
	BinaryFor func(ctx context.Context, platform string) (string, error)
	// ClientID and DataplaneID name the gateways' marker files and remote
	// directories, so a later sweep can find what this client started
	// (an empty DataplaneID takes compute.Shared.DataplaneID).
	ClientID, DataplaneID string
	// AgentSocket is the ssh-agent socket for hosts with agent: true.
	AgentSocket string
	// KeepAlive is how often the client calls each gateway's control API
	// through the tunnel while it runs (default 30 s): the traffic that a
	// gateway's idle watchdog (autoshutdown_minutes) waits for.
	KeepAlive time.Duration
	// DialTimeout bounds connecting and the SSH handshake (default 10 s).
	DialTimeout time.Duration
	// ReadyTimeout bounds how long a gateway may take to listen (default 30 s).
	ReadyTimeout time.Duration
	// PerHost caps the gateways one host runs (0: no cap but its
	// data_ports range).
	PerHost int
	// IdleShutdown ends a gateway whose control API heard nothing
	// authenticated for this long (autoshutdown_minutes; 0: never).
	IdleShutdown time.Duration
	// Stores are the store credentials the gateways need; they reach each
	// host only inside the boot file (0600, deleted once read).
	Stores *control.StoreCredentials
	// Progress, when set, hears each step on each host (connected,
	// uploaded, started…), from several goroutines at once.
	Progress func(host, step string)
	Log      *slog.Logger
}

// Provider runs gateways on inventory hosts.
type Provider struct {
	inv *hosts.Inventory
	opt Options

	hashMu sync.Mutex
	hashes map[string]string // local binary → its SHA-256

	mu  sync.Mutex
	gws []*remote

	keepalives atomic.Int64 // successful control calls made to keep gateways alive
}

// New returns a provider over an inventory.
func New(inv *hosts.Inventory, opt Options) *Provider {
	if opt.KeepAlive <= 0 {
		opt.KeepAlive = 30 * time.Second
	}
	if opt.DialTimeout <= 0 {
		opt.DialTimeout = 10 * time.Second
	}
	if opt.ReadyTimeout <= 0 {
		opt.ReadyTimeout = 30 * time.Second
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	if opt.Platform == "" {
		opt.Platform = runtime.GOOS + "/" + runtime.GOARCH
	}
	return &Provider{inv: inv, opt: opt, hashes: map[string]string{}}
}

func (p *Provider) Name() string { return "ssh" }

func (p *Provider) progress(h hosts.Host, format string, args ...any) {
	if p.opt.Progress != nil {
		p.opt.Progress(h.Name, fmt.Sprintf(format, args...))
	}
}

// HostError names the host a step failed on.
type HostError struct {
	Host    string // inventory name
	Addr    string
	Gateway string
	Err     error
}

func (e *HostError) Error() string {
	return fmt.Sprintf("host %s (%s), gateway %s: %v", e.Host, e.Addr, e.Gateway, e.Err)
}
func (e *HostError) Unwrap() error { return e.Err }

// place assigns each spec a host of its region, round-robin in inventory
// order; the k-th gateway on a host gets the k-th port of its data range.
func (p *Provider) place(specs []compute.Spec) ([]hosts.Host, []int, error) {
	out := make([]hosts.Host, len(specs))
	ports := make([]int, len(specs))
	next := map[string]int{}
	perHost := map[string]int{}
	for i, s := range specs {
		hs := p.inv.Hosts(s.Region)
		if len(hs) == 0 {
			return nil, nil, fmt.Errorf("gateway %s: region %q has no hosts in %s (regions there: %v)", s.ID, s.Region, p.inv.Path, p.inv.RegionTags())
		}
		h := hs[next[s.Region]%len(hs)]
		next[s.Region]++
		k := perHost[h.Name]
		perHost[h.Name]++
		if p.opt.PerHost > 0 && k >= p.opt.PerHost {
			return nil, nil, fmt.Errorf("region %q: %d gateways do not fit its %d host(s) × %d per host (gateways_per_host) in %s: ask for fewer gateways (-n) or list more hosts",
				s.Region, countRegion(specs, s.Region), len(hs), p.opt.PerHost, p.inv.Path)
		}
		if !h.DataPorts.IsZero() {
			if h.DataPorts.Lo+k > h.DataPorts.Hi {
				return nil, nil, fmt.Errorf("host %s: %d gateways do not fit its data_ports %d-%d", h.Name, k+1, h.DataPorts.Lo, h.DataPorts.Hi)
			}
			ports[i] = h.DataPorts.Lo + k
		}
		out[i] = h
	}
	return out, ports, nil
}

// Fits reports whether specs can be placed on the inventory's hosts: each
// region listed, within gateways per host and each host's data ports.
func (p *Provider) Fits(specs []compute.Spec) error {
	_, _, err := p.place(specs)
	return err
}

func countRegion(specs []compute.Spec, region string) int {
	n := 0
	for _, s := range specs {
		if s.Region == region {
			n++
		}
	}
	return n
}

// binaryHash is the hex SHA-256 of a local binary, computed once per path.
func (p *Provider) binaryHash(bin string) (string, error) {
	p.hashMu.Lock()
	defer p.hashMu.Unlock()
	if h, ok := p.hashes[bin]; ok {
		return h, nil
	}
	sum, err := FileHash(bin)
	if err != nil {
		return "", err
	}
	p.hashes[bin] = sum
	return sum, nil
}

// FileHash is the hex SHA-256 of a gateway binary: what names it on hosts.
func FileHash(bin string) (string, error) {
	f, err := os.Open(bin)
	if err != nil {
		return "", fmt.Errorf("gateway binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("gateway binary: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// binaryFor is the local binary to run on a host of platform ("linux/arm64").
func (p *Provider) binaryFor(ctx context.Context, platform string) (string, error) {
	if platform == p.opt.Platform {
		return p.opt.Binary, nil
	}
	if p.opt.BinaryFor == nil {
		return "", fmt.Errorf("host is %s, the client's binary is %s, and no binary for %s is at hand: build one (GOOS=%s GOARCH=%s go build ./cmd/skyplane)",
			platform, p.opt.Platform, platform, goos(platform), goarch(platform))
	}
	bin, err := p.opt.BinaryFor(ctx, platform)
	if err != nil {
		return "", fmt.Errorf("host is %s, the client's binary is %s: %w", platform, p.opt.Platform, err)
	}
	return bin, nil
}

func goos(platform string) string   { o, _, _ := strings.Cut(platform, "/"); return o }
func goarch(platform string) string { _, a, _ := strings.Cut(platform, "/"); return a }

// Provision starts one gateway per spec, all hosts in parallel. If any
// fails, every gateway started (on any host) is torn down and the error
// names each failing host.
func (p *Provider) Provision(ctx context.Context, specs []compute.Spec, boot compute.Shared) ([]compute.Instance, error) {
	if p.opt.Binary == "" {
		return nil, errors.New("ssh provider: no gateway binary (Options.Binary)")
	}
	if p.opt.DataplaneID == "" {
		p.opt.DataplaneID = boot.DataplaneID
	}
	if p.opt.DataplaneID == "" {
		return nil, errors.New("ssh provider: no dataplane id (Options.DataplaneID)")
	}
	if _, err := p.binaryHash(p.opt.Binary); err != nil {
		return nil, err
	}
	placed, ports, err := p.place(specs)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(boot.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create gateway directory: %w", err)
	}
	out := make([]compute.Instance, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Go(func() {
			r := &remote{p: p, host: placed[i], spec: spec, dataPort: ports[i], boot: boot}
			p.mu.Lock()
			p.gws = append(p.gws, r)
			p.mu.Unlock()
			inst, err := r.start(ctx)
			if err != nil {
				errs[i] = &HostError{Host: r.host.Name, Addr: r.host.SSHAddr(), Gateway: spec.ID, Err: err}
				return
			}
			out[i] = inst
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = p.Deprovision(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("ssh provider: %w", err)
	}
	return out, nil
}

// Deprovision stops every gateway this provider started, in parallel,
// collecting logs and stats into Boot.Dir. Safe to call more than once.
func (p *Provider) Deprovision(ctx context.Context) error {
	p.mu.Lock()
	gws := p.gws
	p.gws = nil
	p.mu.Unlock()
	errs := make([]error, len(gws))
	var wg sync.WaitGroup
	for i, r := range gws {
		wg.Go(func() {
			if err := r.stop(ctx); err != nil {
				errs[i] = &HostError{Host: r.host.Name, Addr: r.host.SSHAddr(), Gateway: r.spec.ID, Err: err}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ssh provider teardown: %w", err)
	}
	return nil
}
