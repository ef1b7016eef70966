// Package local provisions gateways as processes on this machine, each
// listening on 127.0.0.1. It is the default provider: no cloud account needed.
//
// A build with the tag skyplane_faults (the WAN lab's, scripts/lab.sh) can
// start gateways inside network namespaces; see netns_faults.go.
package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/wire"
)

// readyTimeout bounds how long a gateway may take to start listening.
const readyTimeout = 15 * time.Second

// Provider runs gateways as child processes.
type Provider struct {
	// Binary is the skyplane executable to run as "skyplane gateway"; empty
	// means this executable if it is skyplane, or skyplane on PATH.
	Binary string

	mu     sync.Mutex
	procs  []*proc
	nextNS int // round-robin over the lab's namespaces, per process started
}

// netns is a network namespace and the address gateways in it listen on.
type netns struct {
	Name string
	IP   netip.Addr
}

// placement is where one gateway runs: a namespace (nil: this one) and
// the host it listens on.
type placement struct {
	ns    *netns
	ipCmd string
}

func (pl placement) listenHost() string {
	if pl.ns == nil {
		return "127.0.0.1"
	}
	return pl.ns.IP.String()
}

// gatewayCmd builds the command that runs one gateway.
func gatewayCmd(bin, bootFile string, pl placement) *exec.Cmd {
	var cmd *exec.Cmd
	if pl.ns != nil {
		// ip netns exec setns()es and then execs bin in place (no fork),
		// so the attributes below apply to the gateway itself.
		cmd = exec.Command(pl.ipCmd, "netns", "exec", pl.ns.Name, bin, "gateway", "--boot", bootFile)
	} else {
		cmd = exec.Command(bin, "gateway", "--boot", bootFile)
	}
	// Own process group: a Ctrl-C at the terminal reaches the client, which
	// tears gateways down in order, not the gateways directly. Pdeathsig
	// kills the gateway if the client dies without tearing down.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

type proc struct {
	id   string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has been reaped
	// stdin stays open for the gateway's life: when this process dies the
	// pipe closes and the gateway exits (a second line of defence beside
	// Pdeathsig).
	stdin interface{ Close() error }
}

// New returns a local provider.
func New(binary string) *Provider { return &Provider{Binary: binary} }

func (p *Provider) Name() string { return "local" }

// ResolveBinary finds the skyplane executable gateways run.
func ResolveBinary(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if self, err := os.Executable(); err == nil {
		base := filepath.Base(self)
		if strings.HasPrefix(base, "skyplane") && !strings.HasSuffix(base, ".test") {
			return self, nil
		}
	}
	if path, err := exec.LookPath("skyplane"); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("local gateways run the skyplane binary, and none was found: install it on PATH, or set SKYPLANE_GATEWAY_BIN or `skyplane config set gateway_binary PATH`")
}

// Provision starts the gateways in parallel.
func (p *Provider) Provision(ctx context.Context, specs []compute.Spec, boot compute.Shared) ([]compute.Instance, error) {
	// Every data connection is authenticated with the key: a gateway
	// without one would refuse to start, so say so before starting any.
	if len(boot.Key) != wire.KeySize {
		return nil, fmt.Errorf("local provider: the dataplane key is %d bytes, want %d", len(boot.Key), wire.KeySize)
	}
	bin, err := ResolveBinary(p.Binary)
	if err != nil {
		return nil, err
	}
	nss, err := labNamespaces()
	if err != nil {
		return nil, err
	}
	var ipCmd string
	if len(nss) > 0 {
		if ipCmd, err = ipCommand(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(boot.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create gateway directory: %w", err)
	}
	// Namespaces go to gateways in spec order, continuing the round-robin
	// of earlier Provision calls.
	places := make([]placement, len(specs))
	if len(nss) > 0 {
		p.mu.Lock()
		for i := range places {
			places[i] = placement{ns: &nss[p.nextNS%len(nss)], ipCmd: ipCmd}
			p.nextNS++
		}
		p.mu.Unlock()
	}
	out := make([]compute.Instance, len(specs))
	errs := make([]error, len(specs))
	var wg sync.WaitGroup
	for i, spec := range specs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = p.start(ctx, bin, spec, boot, places[i])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		_ = p.Deprovision(context.Background())
		return nil, err
	}
	return out, nil
}

func (p *Provider) start(ctx context.Context, bin string, spec compute.Spec, boot compute.Shared, pl placement) (compute.Instance, error) {
	bootFile := filepath.Join(boot.Dir, spec.ID+".boot.json")
	listen := net.JoinHostPort(pl.listenHost(), "0")
	b, err := json.Marshal(control.Boot{
		ID: spec.ID, Region: spec.Region, Secret: boot.Secret, Key: boot.Key, TLSCert: boot.TLSCert, TLSKey: boot.TLSKey,
		ControlAddr: listen, DataAddr: listen,
		StatsFile:      filepath.Join(boot.Dir, spec.ID+".stats.json"),
		ExitOnStdinEOF: true,
	})
	if err != nil {
		return compute.Instance{}, err
	}
	if err := os.WriteFile(bootFile, b, 0o600); err != nil {
		return compute.Instance{}, fmt.Errorf("write gateway boot file: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(boot.Dir, spec.ID+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		os.Remove(bootFile)
		return compute.Instance{}, fmt.Errorf("create gateway log: %w", err)
	}
	defer logFile.Close()

	cmd := gatewayCmd(bin, bootFile, pl)
	cmd.Stderr = logFile
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return compute.Instance{}, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return compute.Instance{}, err
	}
	if err := cmd.Start(); err != nil {
		os.Remove(bootFile)
		return compute.Instance{}, fmt.Errorf("start gateway %s (%s): %w", spec.ID, strings.Join(cmd.Args, " "), err)
	}
	pr := &proc{id: spec.ID, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	p.mu.Lock()
	p.procs = append(p.procs, pr)
	p.mu.Unlock()

	ready := make(chan control.Ready, 1)
	readErr := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if !sc.Scan() {
			readErr <- fmt.Errorf("gateway %s exited before it was ready (see %s)", spec.ID, logFile.Name())
			return
		}
		var r control.Ready
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			readErr <- fmt.Errorf("gateway %s: bad ready line %q: %w", spec.ID, sc.Text(), err)
			return
		}
		ready <- r
		for sc.Scan() { // drain anything else so the gateway never blocks on stdout
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(pr.done)
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case r := <-ready:
		return compute.Instance{ID: spec.ID, Region: spec.Region, Control: r.Control, Data: r.Data, PID: cmd.Process.Pid}, nil
	case err := <-readErr:
		os.Remove(bootFile)
		return compute.Instance{}, err
	case <-timer.C:
		os.Remove(bootFile)
		return compute.Instance{}, fmt.Errorf("gateway %s not ready after %s (see %s)", spec.ID, readyTimeout, logFile.Name())
	case <-ctx.Done():
		os.Remove(bootFile)
		return compute.Instance{}, ctx.Err()
	}
}

// Deprovision asks every gateway to stop (SIGTERM: it writes its stats
// and exits), then kills whatever is still running after a grace period.
func (p *Provider) Deprovision(ctx context.Context) error {
	p.mu.Lock()
	procs := p.procs
	p.procs = nil
	p.mu.Unlock()
	for _, pr := range procs {
		_ = pr.cmd.Process.Signal(syscall.SIGTERM)
	}
	grace, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, pr := range procs {
		select {
		case <-pr.done:
		case <-grace.Done():
			_ = pr.cmd.Process.Kill()
			<-pr.done
		}
		_ = pr.stdin.Close()
	}
	return nil
}
