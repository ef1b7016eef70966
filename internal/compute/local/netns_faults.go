//go:build skyplane_faults

package local

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
)

// EnvTestNetns is the WAN lab's network-namespace hook (scripts/lab.sh),
// compiled only into builds with the tag skyplane_faults:
//
//	SKYPLANE_TEST_NETNS  comma-separated name=ip pairs, e.g.
//	                     skylab-g1=10.231.77.11,skylab-g2=10.231.77.12
//
// When set, each gateway runs inside a Linux network namespace, as
// `ip netns exec <name> <bin> gateway --boot <file>` (root only), listening
// on <ip>:0 instead of 127.0.0.1:0. The provider hands the namespaces out in
// order, round-robin across every gateway it starts, so that each gateway
// can have its own egress cap (tc on the namespace's interface), as a cloud
// VM has. `ip netns exec` execs the gateway in place: the process the
// provider started is the gateway (same PID, process group and parent-death
// signal).
const EnvTestNetns = "SKYPLANE_TEST_NETNS"

// LabNetns is the value of SKYPLANE_TEST_NETNS, set by the tagged CLI
// (the package reads no environment itself).
var LabNetns string

// labNamespaces are the namespaces LabNetns names.
func labNamespaces() ([]netns, error) { return parseNetns(LabNetns) }

// parseNetns parses SKYPLANE_TEST_NETNS ("name=ip,name=ip"); empty means
// no namespaces.
func parseNetns(v string) ([]netns, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	var out []netns
	for i, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		name, ip, ok := strings.Cut(item, "=")
		name, ip = strings.TrimSpace(name), strings.TrimSpace(ip)
		if !ok {
			return nil, fmt.Errorf("%s: entry %d %q: want name=ip", EnvTestNetns, i+1, item)
		}
		if name == "" || strings.ContainsAny(name, "/ \t") || name == "." || name == ".." {
			return nil, fmt.Errorf("%s: entry %d %q: bad namespace name %q", EnvTestNetns, i+1, item, name)
		}
		addr, err := netip.ParseAddr(ip)
		if err != nil || addr.Zone() != "" || addr.IsUnspecified() {
			return nil, fmt.Errorf("%s: entry %d %q: bad IP address %q", EnvTestNetns, i+1, item, ip)
		}
		out = append(out, netns{Name: name, IP: addr.Unmap()})
	}
	return out, nil
}

// ipCommand finds iproute2's ip, which is often outside a user's PATH.
func ipCommand() (string, error) {
	if p, err := exec.LookPath("ip"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is set, but iproute2's ip command was not found", EnvTestNetns)
}
