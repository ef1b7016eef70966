//go:build !skyplane_faults

package local

// labNamespaces: only the WAN lab's build (tag skyplane_faults) starts
// gateways in network namespaces.
func labNamespaces() ([]netns, error) { return nil, nil }

// ipCommand is never needed without namespaces.
func ipCommand() (string, error) { return "", nil }
