// Package dataplane runs transfers: it provisions the gateways of a plan,
// installs their programs, streams listings into chunk dispatch, tracks
// every chunk to its destination (retrying failures), completes multipart
// uploads, verifies the destination and tears everything down.
//
//	provision → dispatch → track → verify → teardown
package dataplane

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute"
	"github.com/skyplane-project/skyplane-go/internal/config"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/planner"
)

// Options configure a dataplane.
type Options struct {
	Config   config.Config
	Provider compute.Provider
	// Dir holds gateway logs and stats, and the transfer's scratch files.
	// Empty: <state dir>/dataplanes/<id>.
	Dir  string
	Log  *slog.Logger
	Test control.TestHooks
	// JournalDir holds resume journals (default <state dir>/journals).
	JournalDir string
	// StateDir is the state directory the defaults above live in (empty:
	// ~/.skyplane; a command maps SKYPLANE_STATE_DIR into it).
	StateDir string
	// ChunkTimeout resends a chunk whose attempt has not landed by then
	// (0: DefaultChunkTimeout).
	ChunkTimeout time.Duration
}

// DefaultChunkTimeout is long enough for a 16 MiB part over a slow WAN
// link, short enough that a stalled link does not hold a transfer for long.
const DefaultChunkTimeout = 5 * time.Minute

func (o Options) chunkTimeout() time.Duration {
	if o.ChunkTimeout > 0 {
		return o.ChunkTimeout
	}
	return DefaultChunkTimeout
}

// Dataplane is a provisioned set of gateways following one plan.
type Dataplane struct {
	ID   string
	plan *planner.Plan
	opts Options
	log  *slog.Logger

	secret string
	key    []byte

	mu          sync.Mutex
	provisioned bool
	instances   []compute.Instance
	groups      map[string][]*gatewayRef // group key → its gateways
	// local is the client's own gateway when the plan runs in process.
	local *inProcess
	// hopOwner maps a data address in a route (as rewritten by RouteHook)
	// to the gateway behind it.
	hopOwner map[string]string
	// cursors is, per gateway, the next status-log event to read. Runs of
	// one dataplane share it: a gateway forgets the events a run read, so
	// the next run must ask from there, not from zero.
	cursors map[string]int64
}

func (d *Dataplane) cursor(gw string) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cursors[gw]
}

func (d *Dataplane) setCursor(gw string, next int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cursors == nil {
		d.cursors = map[string]int64{}
	}
	d.cursors[gw] = max(d.cursors[gw], next)
}

// New prepares a dataplane for plan; nothing runs until Provision.
func New(plan *planner.Plan, opts Options) (*Dataplane, error) {
	if opts.Provider == nil {
		return nil, errors.New("dataplane: no compute provider")
	}
	if !plan.Executable() {
		// Relay gateways and one-sided plans are planned, not run, yet.
		return nil, fmt.Errorf("dataplane: the %s plan has relays or a side without gateways, which gateways do not execute yet: run the direct plan", plan.Solver)
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	id := randomHex(6)
	if opts.StateDir == "" {
		opts.StateDir = config.StateDir(config.NoEnv)
	}
	if opts.Dir == "" {
		opts.Dir = filepath.Join(opts.StateDir, "dataplanes", id)
	}
	if opts.JournalDir == "" {
		opts.JournalDir = JournalDir(opts.StateDir)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	return &Dataplane{
		ID: id, plan: plan, opts: opts, log: opts.Log.With("dataplane", id),
		secret: randomHex(32), key: key,
	}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Plan is the dataplane's topology.
func (d *Dataplane) Plan() *planner.Plan { return d.plan }

// Dir is where gateway logs and stats go.
func (d *Dataplane) Dir() string { return d.opts.Dir }

// Instances lists the running gateways.
func (d *Dataplane) Instances() []compute.Instance {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]compute.Instance(nil), d.instances...)
}

// Provision starts every gateway of the plan and installs its program. On
// error everything started is torn down again.
func (d *Dataplane) Provision(ctx context.Context) (err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.provisioned {
		return errors.New("dataplane already provisioned")
	}
	if runsInProcess(d.plan, d.opts.Provider, d.opts.Config) {
		d.provisionInProcess()
		return nil
	}
	var specs []compute.Spec
	for gi, g := range d.plan.Groups {
		for i := range g.Gateways {
			specs = append(specs, compute.Spec{ID: gatewayID(gi, g, i), Region: g.Region})
		}
	}
	d.log.Info("provisioning gateways", "count", len(specs), "provider", d.opts.Provider.Name())
	boot := compute.Shared{Secret: d.secret, Key: d.key, Dir: d.opts.Dir, DataplaneID: d.ID}
	if d.opts.Config.EncryptSocketTLS {
		if boot.TLSCert, boot.TLSKey, err = control.NewTLSIdentity(7 * 24 * time.Hour); err != nil {
			return fmt.Errorf("create the dataplane's TLS identity: %w", err)
		}
	}
	insts, err := d.opts.Provider.Provision(ctx, specs, boot)
	if err != nil {
		return fmt.Errorf("provision gateways: %w", err)
	}
	d.instances = insts
	d.provisioned = true
	defer func() {
		if err != nil {
			d.provisioned = false
			_ = d.opts.Provider.Deprovision(context.WithoutCancel(ctx))
		}
	}()
	byID := map[string]compute.Instance{}
	for _, in := range insts {
		byID[in.ID] = in
	}
	d.groups = map[string][]*gatewayRef{}
	d.hopOwner = map[string]string{}
	data := map[string][]string{}
	owner := map[string]string{} // data address → gateway id
	for gi, g := range d.plan.Groups {
		for i := range g.Gateways {
			in := byID[gatewayID(gi, g, i)]
			d.groups[g.Key] = append(d.groups[g.Key], &gatewayRef{ID: in.ID, gatewayAPI: control.NewClient(in.ID, in.Control, d.secret)})
			data[g.Key] = append(data[g.Key], in.Data)
			owner[in.Data] = in.ID
		}
	}
	// Receivers first, so a sender never dials a gateway without a program.
	order := append([]planner.Group(nil), d.plan.Groups...)
	for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
		order[i], order[j] = order[j], order[i]
	}
	for _, g := range order {
		prog, err := d.program(g, data, owner)
		if err != nil {
			return err
		}
		for _, c := range d.groups[g.Key] {
			if err := c.gatewayAPI.(*control.Client).SetProgram(ctx, prog); err != nil {
				return fmt.Errorf("install program on gateway %s: %w", c.ID, err)
			}
		}
	}
	return nil
}

func gatewayID(groupIndex int, g planner.Group, i int) string {
	role := map[planner.Role]string{planner.RoleSource: "src", planner.RoleDestination: "dst", planner.RoleRelay: "relay"}[g.Role]
	if g.Role != planner.RoleSource {
		role += strconv.Itoa(groupIndex)
	}
	return role + "-" + strconv.Itoa(i)
}

func (d *Dataplane) program(g planner.Group, data map[string][]string, owner map[string]string) (control.Program, error) {
	cfg := d.opts.Config
	// Within one cloud region the data never leaves the provider's network:
	// compression and encryption only cost CPU there.
	intra := d.intraRegion()
	p := control.Program{
		Source:          g.Role == planner.RoleSource,
		Routes:          map[string][]string{},
		NumConnections:  cfg.NumConnections,
		Compress:        cfg.Compress && !intra,
		Encrypt:         cfg.EncryptE2E && !intra,
		TLS:             cfg.EncryptSocketTLS,
		VerifyChecksums: cfg.VerifyChecksums,
		MemoryBudget:    memoryBudget(cfg),
		Test:            d.opts.Test,
	}
	if g.Role == planner.RoleDestination {
		p.Sinks = []string{g.Key}
	}
	for target, next := range d.plan.Next[g.Key] {
		for _, addr := range data[next] {
			hop := addr
			if hook := routeHook(); hook != nil {
				var err error
				if hop, err = hook(g.Key, next, addr); err != nil {
					return p, fmt.Errorf("route hook: %w", err)
				}
			}
			d.hopOwner[hop] = owner[addr]
			p.Routes[target] = append(p.Routes[target], hop)
		}
	}
	return p, nil
}

// intraRegion: every destination is in the source's cloud region. Local
// disk is never "a region": its transfers keep compression and encryption.
func (d *Dataplane) intraRegion() bool {
	src := d.plan.Source().Region
	if strings.HasPrefix(src, "local:") {
		return false
	}
	for _, g := range d.plan.Destinations() {
		if g.Region != src {
			return false
		}
	}
	return true
}

// Deprovision stops every gateway and removes the key material left on disk.
func (d *Dataplane) Deprovision(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.local != nil {
		d.local.stop()
		d.local, d.provisioned = nil, false
		return nil
	}
	err := d.opts.Provider.Deprovision(ctx)
	d.provisioned = false
	// Boot files are removed by the gateways once read; make sure no key
	// survives a gateway that died before reading its own.
	if entries, _ := os.ReadDir(d.opts.Dir); entries != nil {
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".boot.json") {
				_ = os.Remove(filepath.Join(d.opts.Dir, e.Name()))
			}
		}
	}
	return err
}

func (d *Dataplane) clients(role planner.Role) []*gatewayRef {
	var out []*gatewayRef
	for _, g := range d.plan.Groups {
		if g.Role == role {
			out = append(out, d.groups[g.Key]...)
		}
	}
	return out
}

// groupOf names the group of gateway id.
func (d *Dataplane) groupOf(id string) string {
	for key, cs := range d.groups {
		for _, c := range cs {
			if c.ID == id {
				return key
			}
		}
	}
	return ""
}

func (d *Dataplane) allClients() []*gatewayRef {
	var out []*gatewayRef
	for _, g := range d.plan.Groups {
		out = append(out, d.groups[g.Key]...)
	}
	return out
}
