//go:build skyplane_faults

package dataplane

// RouteHook, when set, rewrites the data address a gateway of one group uses
// to reach a gateway of another, e.g. to put a fault-injecting proxy on the
// link. It runs while programs are installed. Only builds tagged
// skyplane_faults (tests and the WAN lab) have it.
var RouteHook func(fromGroup, toGroup, addr string) (string, error)

func routeHook() func(fromGroup, toGroup, addr string) (string, error) { return RouteHook }
