//go:build !unix

package gateway

// processCPUSeconds is unknown here: gateways run on Unix hosts.
func processCPUSeconds() float64 { return 0 }
