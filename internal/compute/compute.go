// Package compute provisions gateways. A Provider starts gateway instances
// in a region and tears every one of them down; the local provider runs them
// as processes on this machine, cloud providers (later) as VMs.
package compute

import "context"

// Spec asks for one gateway.
type Spec struct {
	ID     string // unique within the dataplane, e.g. "src-0"
	Region string // region tag, e.g. "local:src", "aws:us-east-1"
}

// Shared is what every gateway of one dataplane shares; a provider writes
// it into each gateway's own boot file (control.Boot).
type Shared struct {
	Secret string // control API bearer token
	Key    []byte // per-dataplane frame key
	// TLSCert and TLSKey (PEM): the dataplane's TLS identity (encrypt_socket_tls).
	TLSCert, TLSKey []byte
	// Dir receives per-gateway logs and final stats (<id>.log, <id>.stats.json).
	Dir string
	// DataplaneID names the dataplane where a provider leaves traces of it
	// (remote directories and markers a later sweep finds).
	DataplaneID string
}

// Instance is a running gateway.
type Instance struct {
	ID      string
	Region  string
	Control string // host:port of the control API
	Data    string // host:port of the data listener
	PID     int    // local provider only
}

// Provider starts and stops gateways.
type Provider interface {
	Name() string
	// Provision starts one gateway per spec and returns them once all are
	// ready. On error, whatever was started is already torn down.
	Provision(ctx context.Context, specs []Spec, shared Shared) ([]Instance, error)
	// Deprovision stops every gateway this provider started. It is safe to
	// call more than once and after a failed Provision.
	Deprovision(ctx context.Context) error
}
