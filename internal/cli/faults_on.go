//go:build skyplane_faults

// This file exists only in binaries built with -tags skyplane_faults (the
// tests' binary, internal/testbin): the default build reads none of these
// variables and carries no fault injection.

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skyplane-project/skyplane-go"
	"github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/dataplane"
	"github.com/skyplane-project/skyplane-go/internal/faults"
)

// Fault-injection test hooks, from the environment:
//
//	SKYPLANE_TEST_TOXIPROXY         toxiproxy API, e.g. http://127.0.0.1:8474
//	SKYPLANE_TEST_TOXICS            JSON list of toxics in toxiproxy's format, e.g.
//	                                [{"type":"reset_peer","attributes":{"timeout":0},"toxicity":0.1}]
//	SKYPLANE_TEST_TOXIPROXY_PREFIX  proxy name prefix (default "skyplane-"), so a
//	                                test can find, alter and delete the proxies
//	SKYPLANE_TEST_TOXIPROXY_LISTEN  host the proxies listen on (default 127.0.0.1);
//	                                the WAN lab (scripts/lab.sh) gives its bridge's
//	                                WAN address, so that gateways in network
//	                                namespaces (SKYPLANE_TEST_NETNS) send to it
//	                                through their egress cap
//
// With both of the first two set, every gateway-to-gateway data link goes
// through its own toxiproxy proxy (listening on the listen host, a free port)
// carrying the toxics. toxiproxy keeps proxies after this process exits:
// the test deletes them by prefix.
const (
	envToxiproxy       = "SKYPLANE_TEST_TOXIPROXY"
	envToxics          = "SKYPLANE_TEST_TOXICS"
	envToxiproxyPrefix = "SKYPLANE_TEST_TOXIPROXY_PREFIX"
	envToxiproxyListen = "SKYPLANE_TEST_TOXIPROXY_LISTEN"
)

// faultOptions wires fault-injection test hooks from the environment (see
// the e2e fault tests) and returns the client options that carry the
// gateway-side ones. It runs before a transfer starts.
//
//	SKYPLANE_TEST_CORRUPT_FRAMES  frames each gateway corrupts on the wire
//	SKYPLANE_TEST_FRAME_DELAY_MS  delay before each frame a gateway sends
func faultOptions() ([]skyplane.Option, error) {
	local.LabNetns = os.Getenv(local.EnvTestNetns)
	var corrupt, delayMS int
	if v := os.Getenv("SKYPLANE_TEST_CORRUPT_FRAMES"); v != "" {
		fmt.Sscan(v, &corrupt)
	}
	if v := os.Getenv("SKYPLANE_TEST_FRAME_DELAY_MS"); v != "" {
		fmt.Sscan(v, &delayMS)
	}
	var opts []skyplane.Option
	if corrupt != 0 || delayMS != 0 {
		opts = append(opts, skyplane.WithFrameFaults(corrupt, delayMS))
	}
	// SKYPLANE_TEST_IDLE_SHUTDOWN: a gateway on an inventory host ends
	// after this much client silence (autoshutdown_minutes counts whole
	// minutes; the tests wait seconds).
	if d, err := time.ParseDuration(os.Getenv("SKYPLANE_TEST_IDLE_SHUTDOWN")); err == nil && d > 0 {
		opts = append(opts, skyplane.WithIdleShutdown(d))
	}
	return opts, installRouteHook()
}

// installRouteHook routes gateway links through toxiproxy when asked.
func installRouteHook() error {
	api, spec := os.Getenv(envToxiproxy), os.Getenv(envToxics)
	if api == "" || spec == "" {
		return nil
	}
	toxics, err := parseToxics(spec)
	if err != nil {
		return fmt.Errorf("%s: %w", envToxics, err)
	}
	prefix := os.Getenv(envToxiproxyPrefix)
	if prefix == "" {
		prefix = "skyplane-"
	}
	// A fresh token per process keeps names unique when several runs (a cp,
	// then a sync) share a prefix.
	prefix += strings.TrimPrefix(faults.RandomPrefix(), "skyplane-")
	listen := strings.TrimSpace(os.Getenv(envToxiproxyListen))
	if listen == "" {
		listen = "127.0.0.1"
	}
	// A bare host (an IPv6 one may come bracketed or not).
	listen = strings.TrimSuffix(strings.TrimPrefix(listen, "["), "]")
	if strings.ContainsAny(listen, "/ ") || (strings.Contains(listen, ":") && net.ParseIP(listen) == nil) {
		return fmt.Errorf("%s=%q: want a host or IP address to listen on, without a port", envToxiproxyListen, listen)
	}
	h := &toxicRoutes{client: faults.NewClient(api), prefix: prefix, listen: net.JoinHostPort(listen, "0"), toxics: toxics, proxies: map[[3]string]string{}}
	dataplane.RouteHook = h.route
	return nil
}

// parseToxics checks the list and names every unnamed toxic
// "<type>_<stream>_<index>", so two toxics of one type and stream can coexist.
func parseToxics(spec string) ([]json.RawMessage, error) {
	var list []map[string]any
	if err := json.Unmarshal([]byte(spec), &list); err != nil {
		return nil, fmt.Errorf("want a JSON list of toxiproxy toxics: %w", err)
	}
	out := make([]json.RawMessage, 0, len(list))
	for i, t := range list {
		typ, _ := t["type"].(string)
		if typ == "" {
			return nil, fmt.Errorf("toxic %d has no type", i)
		}
		if name, _ := t["name"].(string); name == "" {
			stream, _ := t["stream"].(string)
			if stream == "" {
				stream = "downstream"
			}
			t["name"] = typ + "_" + stream + "_" + strconv.Itoa(i)
		}
		b, err := json.Marshal(t)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// toxicRoutes creates one proxy per (from group, to group, address) and
// reuses it if a program is installed again.
type toxicRoutes struct {
	client  *faults.Client
	prefix  string
	listen  string // where proxies listen, host:0
	toxics  []json.RawMessage
	mu      sync.Mutex
	proxies map[[3]string]string // (from, to, addr) → proxy listen address
}

func (h *toxicRoutes) route(from, to, addr string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := [3]string{from, to, addr}
	if listen, ok := h.proxies[key]; ok {
		return listen, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := faults.ProxyName(h.prefix, from, to, strconv.Itoa(len(h.proxies)))
	p, err := h.client.CreateProxy(ctx, name, h.listen, addr)
	if err != nil {
		return "", err
	}
	for _, t := range h.toxics {
		if err := h.client.AddRawToxic(ctx, name, t); err != nil {
			_ = h.client.DeleteProxy(ctx, name)
			return "", err
		}
	}
	h.proxies[key] = p.Listen
	return p.Listen, nil
}
