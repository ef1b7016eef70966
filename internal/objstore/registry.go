package objstore

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Options carry backend settings from config, flags and (filled by the
// command, see OptionsFromEnv) the environment. Backends read nothing from
// the environment themselves.
type Options struct {
	// Endpoint overrides the service endpoint (S3-compatible stores, emulators).
	Endpoint      string
	RequesterPays bool
	// NoFsync (local disk): skip the fsyncs that make a finished object or
	// a staged part survive a power loss (config local_fsync false). Writes
	// stay atomic either way.
	NoFsync bool
	// GCSEmulatorHost (host:port of fake-gcs-server, as in
	// STORAGE_EMULATOR_HOST): talk to that emulator without authentication.
	GCSEmulatorHost string
	// GCSProject is the project billed for requester-pays GCS buckets.
	GCSProject string
	// Azure holds the Azure credentials given outside the SDK's own chain.
	Azure AzureCredentials
	// S3 holds static S3 keys; empty, the AWS SDK's credential chain
	// (environment, shared files, instance roles) is used.
	S3 S3Credentials
	// Retries counts the requests the backend's SDK retried. Registry.Open
	// sets it to the registry's counter when it is nil; nil counts nothing.
	Retries *RetryCounter
}

// AzureCredentials: a connection string wins when it names the account
// opened; then an account key, for Account (any account when Account is
// empty); otherwise azidentity's default credential chain.
type AzureCredentials struct {
	ConnectionString string
	AccountKey       string
	Account          string
}

// S3Credentials are static S3 keys (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN).
type S3Credentials struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// RetryCounter counts store requests retried (throttling, 5xx, resets). A
// nil *RetryCounter counts nothing.
type RetryCounter struct{ n atomic.Int64 }

// Add records one retried request.
func (c *RetryCounter) Add() {
	if c != nil {
		c.n.Add(1)
	}
}

// Load is how many requests were retried.
func (c *RetryCounter) Load() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load()
}

// Opener opens the driver of a parsed location.
type Opener func(ctx context.Context, loc Location, opts Options) (Store, error)

// Registry maps schemes to backends and counts the retries of the stores it
// opened. Two copies in one process each use their own registry (Clone of
// Default) to keep their retry counts apart.
type Registry struct {
	mu      sync.RWMutex
	openers map[string]Opener
	retries RetryCounter
}

// NewRegistry returns a registry with no backends.
func NewRegistry() *Registry { return &Registry{openers: map[string]Opener{}} }

// Default is the registry backends add themselves to from init.
var Default = NewRegistry()

// Clone returns a registry with r's backends and a retry count of its own.
func (r *Registry) Clone() *Registry {
	c := NewRegistry()
	r.mu.RLock()
	defer r.mu.RUnlock()
	for s, o := range r.openers {
		c.openers[s] = o
	}
	return c
}

// Register makes a backend available for a scheme.
func (r *Registry) Register(scheme string, open Opener) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.openers[scheme] = open
}

// Open opens the store holding loc: the backend's driver under the portable
// layer (see Portable). Its retries count in r unless opts.Retries is set.
func (r *Registry) Open(ctx context.Context, loc Location, opts Options) (Store, error) {
	r.mu.RLock()
	open, ok := r.openers[loc.Scheme]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%s: the %s backend is not available in this build yet (supported now: %s)", loc, schemeName(loc.Scheme), r.registered())
	}
	if opts.Retries == nil {
		opts.Retries = &r.retries
	}
	st, err := open(ctx, loc, opts)
	if err != nil {
		return nil, err
	}
	return Portable(st), nil
}

// Retries is how many requests the stores r opened retried.
func (r *Registry) Retries() int64 { return r.retries.Load() }

func (r *Registry) registered() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var names []string
	for s := range r.openers {
		names = append(names, s+"://")
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// Register makes a backend available in Default. Backends call it from init.
func Register(scheme string, open Opener) { Default.Register(scheme, open) }

// Open opens the store holding loc with Default.
func Open(ctx context.Context, loc Location, opts Options) (Store, error) {
	return Default.Open(ctx, loc, opts)
}

// Retries is how many requests the stores opened with Default retried.
func Retries() int64 { return Default.Retries() }
