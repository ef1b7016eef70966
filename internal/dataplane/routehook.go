package dataplane

// RouteHook, when set (tests only), rewrites the data address a gateway of
// one group uses to reach a gateway of another, e.g. to put a fault-injecting
// proxy on the link. It runs while programs are installed.
var RouteHook func(fromGroup, toGroup, addr string) (string, error)
