// Package config holds the `skyplane config` keys, their defaults, the
// on-disk config file, and validation of values.
//
// The file is line based: one `key = value` per line (`key: value` is also
// read, as the Python original's INI files allowed it), `#` and `;` comments
// and blank lines are ignored, and `[section]` header lines are tolerated.
// Environment overrides are not applied by Load; the only one this package
// knows about is SKYPLANE_USAGE_STATS_ENABLED, applied by UsageStatsEnabled.
package config

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Config is the full set of `skyplane config` settings.
type Config struct {
	Autoconfirm, UsageStats, BBR, Compress, EncryptE2E, EncryptSocketTLS, VerifyChecksums bool
	NumConnections, MaxInstances, AutoshutdownMinutes                                     int
	MultipartEnabled                                                                      bool
	MultipartMinThresholdMB, MultipartChunkSizeMB, MultipartMaxChunks                     int
	RequesterPays, NativeCmdEnabled                                                       bool
	// LocalFsync: the local-disk store fsyncs finished files, staged parts
	// and their folders (objstore.Options.NoFsync is its negation).
	LocalFsync           bool
	NativeCmdThresholdGB int

	AWSInstanceClass    string
	AWSUseSpotInstances bool
	AWSDefaultRegion    string

	AzureInstanceClass    string
	AzureUseSpotInstances bool
	AzureDefaultRegion    string

	GCPInstanceClass      string
	GCPUsePremiumNetwork  bool
	GCPServiceAccountName string
	GCPUseSpotInstances   bool
	GCPDefaultRegion      string

	// Keys of ours, not in the original.

	// S3Endpoint (key s3_endpoint) is the endpoint URL for S3-compatible
	// stores; "" means the AWS default.
	S3Endpoint string
	// S3BucketEndpoints (key s3_bucket_endpoints) names buckets that live on
	// another S3-compatible server than s3_endpoint: "bucket=URL[,bucket=URL]".
	// It is what lets one copy read one server and write another.
	S3BucketEndpoints string
	// GatewayBinary (key gateway_binary) is the path of the skyplane binary
	// that local gateways run; "" means auto (the running executable).
	GatewayBinary string
	// HostsFile (key hosts_file) is the hosts inventory (docs/hosts.md):
	// regions listed there run their gateways on those hosts over SSH;
	// "" means none.
	HostsFile string
	// GatewaysPerHost (key gateways_per_host) caps the gateways one
	// inventory host runs for a dataplane.
	GatewaysPerHost int
	// UsageStatsEndpoint (key usage_stats_endpoint) is where usage statistics
	// are POSTed; "" means they are sent nowhere.
	UsageStatsEndpoint string
	// InProcess (key in_process): when every gateway of a plan would run on
	// this machine, the client reads and writes itself, with no gateway
	// processes; false always starts gateways.
	InProcess bool
	// ChecksumAlgorithm (key checksum_algorithm): "auto" hashes a chunk with
	// CRC-32C where every destination store checks it and verification needs
	// no MD5 (local disk), MD5 elsewhere; "md5" always MD5.
	ChecksumAlgorithm string
	// Solver (key solver) is the planner cp and sync show their plan with:
	// direct, ron or ilp (docs/planner.md).
	Solver string
	// PlannerDataFile (key planner_data_file) is a CSV of planner rows
	// (throughput, prices, caps) that override the shipped ones; "" none.
	PlannerDataFile string
}

// Default returns the defaults of the original Skyplane, plus
// empty values for our extra keys.
func Default() Config {
	return Config{
		Autoconfirm:         false,
		UsageStats:          true,
		BBR:                 true,
		Compress:            true,
		EncryptE2E:          true,
		EncryptSocketTLS:    false,
		VerifyChecksums:     true,
		NumConnections:      32,
		MaxInstances:        1,
		AutoshutdownMinutes: 15,
		MultipartEnabled:    true,
		// The original striped above 128 MiB into 64 MiB parts. A part
		// rides one TCP connection, so across a WAN (a few hundred Mbit/s
		// per flow) a 64 MiB object or part takes seconds on one flow while
		// the others idle; 16 MiB parts keep 8 connections busy within a
		// gateway's 128 MiB window (docs/benchmarks.md: 59 → 79 MB/s in
		// the WAN lab) and stay well above every store's minimum part.
		MultipartMinThresholdMB: 32,
		MultipartChunkSizeMB:    16,
		MultipartMaxChunks:      9990,
		RequesterPays:           false,
		LocalFsync:              true,
		NativeCmdEnabled:        true,
		NativeCmdThresholdGB:    2,
		AWSInstanceClass:        "m5.8xlarge",
		AWSUseSpotInstances:     false,
		AWSDefaultRegion:        "us-east-1",
		AzureInstanceClass:      "Standard_D32_v5",
		AzureUseSpotInstances:   false,
		AzureDefaultRegion:      "eastus",
		GCPInstanceClass:        "n2-standard-32",
		GCPUsePremiumNetwork:    true,
		GCPServiceAccountName:   "skyplane-manual",
		GCPUseSpotInstances:     false,
		GCPDefaultRegion:        "us-central1-a",
		S3Endpoint:              "",
		GatewayBinary:           "",
		HostsFile:               "",
		GatewaysPerHost:         4,
		UsageStatsEndpoint:      "",
		InProcess:               true,
		ChecksumAlgorithm:       ChecksumAuto,
		Solver:                  "direct",
		PlannerDataFile:         "",
	}
}

// Key describes one config key. Type is "bool", "int" or "string"; Default is
// the default value as Get would print it.
type Key struct{ Name, Type, Default, Help string }

// ErrUnknownKey is wrapped by errors about a key that does not exist.
var ErrUnknownKey = errors.New("unknown config key")

// ErrInvalidValue is wrapped by errors about a value a key does not accept.
var ErrInvalidValue = errors.New("invalid config value")

const noMax = -1

// keyDef is the internal description of a key: exactly one of b, i, s is set.
type keyDef struct {
	name string
	help string
	b    func(*Config) *bool
	i    func(*Config) *int
	s    func(*Config) *string
	// int range; max == noMax means unbounded.
	min, max int
	// extra check for string values (after the control-character check).
	check func(string) error
}

func (d *keyDef) typ() string {
	switch {
	case d.b != nil:
		return "bool"
	case d.i != nil:
		return "int"
	default:
		return "string"
	}
}

// allowed describes in words what the key accepts.
func (d *keyDef) allowed() string {
	switch {
	case d.b != nil:
		return "true/false, yes/no, on/off or 1/0"
	case d.i != nil:
		if d.max == noMax {
			return fmt.Sprintf("a whole number ≥ %d", d.min)
		}
		return fmt.Sprintf("a whole number from %d to %d", d.min, d.max)
	default:
		return d.stringAllowed()
	}
}

func (d *keyDef) stringAllowed() string {
	switch d.name {
	case "s3_endpoint", "usage_stats_endpoint":
		return `an http:// or https:// URL with a host, or "" for none`
	case "s3_bucket_endpoints":
		return `comma-separated bucket=URL pairs (http:// or https:// URLs), or "" for none`
	case "gcp_service_account_name":
		return "6 to 30 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen"
	case "gateway_binary":
		return `a file path, or "" for the running skyplane binary`
	case "hosts_file":
		return `a file path, or "" for no hosts inventory`
	case "checksum_algorithm":
		return ChecksumAuto + " or " + ChecksumMD5
	case "planner_data_file":
		return `a file path, or "" for the shipped data only`
	case "solver":
		return "direct, ron or ilp"
	default:
		return "a non-empty name without spaces"
	}
}

var defs = []keyDef{
	{name: "autoconfirm", help: "skip confirmation prompts (transfer plans, cost estimates)",
		b: func(c *Config) *bool { return &c.Autoconfirm }},
	{name: "usage_stats", help: "record anonymous usage statistics (SKYPLANE_USAGE_STATS_ENABLED overrides)",
		b: func(c *Config) *bool { return &c.UsageStats }},
	{name: "bbr", help: "use BBR congestion control on gateway sockets",
		b: func(c *Config) *bool { return &c.BBR }},
	{name: "compress", help: "compress chunks between gateways",
		b: func(c *Config) *bool { return &c.Compress }},
	{name: "encrypt_e2e", help: "encrypt chunks end to end between source and destination gateways",
		b: func(c *Config) *bool { return &c.EncryptE2E }},
	{name: "encrypt_socket_tls", help: "wrap gateway-to-gateway sockets in TLS",
		b: func(c *Config) *bool { return &c.EncryptSocketTLS }},
	{name: "verify_checksums", help: "verify checksums of transferred objects",
		b: func(c *Config) *bool { return &c.VerifyChecksums }},
	{name: "num_connections", help: "TCP connections per gateway pair",
		i: func(c *Config) *int { return &c.NumConnections }, min: 1, max: 1024},
	{name: "max_instances", help: "maximum gateway VMs per region",
		i: func(c *Config) *int { return &c.MaxInstances }, min: 1, max: 64},
	{name: "autoshutdown_minutes", help: "minutes of client silence after which a remote gateway (inventory host, VM) shuts itself down (0 = never)",
		i: func(c *Config) *int { return &c.AutoshutdownMinutes }, min: 0, max: 10080},
	{name: "multipart_enabled", help: "split large objects into parts sent in parallel",
		b: func(c *Config) *bool { return &c.MultipartEnabled }},
	{name: "multipart_min_threshold_mb", help: "objects larger than this many MB are split into parts",
		i: func(c *Config) *int { return &c.MultipartMinThresholdMB }, min: 0, max: noMax},
	{name: "multipart_chunk_size_mb", help: "size of one part in MB",
		i: func(c *Config) *int { return &c.MultipartChunkSizeMB }, min: 1, max: 1024}, // a chunk is at most 1 GiB on the wire
	{name: "multipart_max_chunks", help: "maximum parts per object (part size grows to stay under it)",
		i: func(c *Config) *int { return &c.MultipartMaxChunks }, min: 1, max: 10000},
	{name: "requester_pays", help: "access requester-pays buckets (the requester is billed)",
		b: func(c *Config) *bool { return &c.RequesterPays }},
	{name: "local_fsync", help: "fsync files, staged parts and folders written to local disk, so a finished copy survives a power loss (false: faster, atomic but not durable)",
		b: func(c *Config) *bool { return &c.LocalFsync }},
	{name: "native_cmd_enabled", help: "for small transfers, copy with the cloud's own tooling instead of gateways",
		b: func(c *Config) *bool { return &c.NativeCmdEnabled }},
	{name: "native_cmd_threshold_gb", help: "transfers below this many GB use the native copy when native_cmd_enabled",
		i: func(c *Config) *int { return &c.NativeCmdThresholdGB }, min: 0, max: noMax},
	{name: "aws_instance_class", help: "AWS gateway VM instance type",
		s: func(c *Config) *string { return &c.AWSInstanceClass }, check: checkName},
	{name: "aws_use_spot_instances", help: "use AWS spot instances for gateways",
		b: func(c *Config) *bool { return &c.AWSUseSpotInstances }},
	{name: "aws_default_region", help: "AWS region used when none can be inferred",
		s: func(c *Config) *string { return &c.AWSDefaultRegion }, check: checkName},
	{name: "azure_instance_class", help: "Azure gateway VM size",
		s: func(c *Config) *string { return &c.AzureInstanceClass }, check: checkName},
	{name: "azure_use_spot_instances", help: "use Azure spot VMs for gateways",
		b: func(c *Config) *bool { return &c.AzureUseSpotInstances }},
	{name: "azure_default_region", help: "Azure region used when none can be inferred",
		s: func(c *Config) *string { return &c.AzureDefaultRegion }, check: checkName},
	{name: "gcp_instance_class", help: "GCP gateway VM machine type",
		s: func(c *Config) *string { return &c.GCPInstanceClass }, check: checkName},
	{name: "gcp_use_premium_network", help: "use GCP's premium network tier for gateways",
		b: func(c *Config) *bool { return &c.GCPUsePremiumNetwork }},
	{name: "gcp_service_account_name", help: "name of the GCP service account gateways run as",
		s: func(c *Config) *string { return &c.GCPServiceAccountName }, check: checkServiceAccount},
	{name: "gcp_use_spot_instances", help: "use GCP spot VMs for gateways",
		b: func(c *Config) *bool { return &c.GCPUseSpotInstances }},
	{name: "gcp_default_region", help: "GCP zone used when none can be inferred",
		s: func(c *Config) *string { return &c.GCPDefaultRegion }, check: checkName},
	{name: "s3_endpoint", help: `endpoint URL for S3-compatible stores ("" = AWS)`,
		s: func(c *Config) *string { return &c.S3Endpoint }, check: checkOptionalURL},
	{name: "s3_bucket_endpoints", help: `per-bucket S3 endpoints overriding s3_endpoint: "bucket=URL,..."`,
		s: func(c *Config) *string { return &c.S3BucketEndpoints }, check: checkBucketEndpoints},
	{name: "gateway_binary", help: `path of the skyplane binary local gateways run ("" = this binary)`,
		s: func(c *Config) *string { return &c.GatewayBinary }},
	{name: "hosts_file", help: `hosts inventory: regions listed there run gateways on those hosts over SSH ("" = none)`,
		s: func(c *Config) *string { return &c.HostsFile }},
	{name: "gateways_per_host", help: "most gateways one inventory host runs for a transfer",
		i: func(c *Config) *int { return &c.GatewaysPerHost }, min: 1, max: 64},
	{name: "checksum_algorithm", help: "what the source hashes each chunk with for the destination to verify: auto (CRC-32C where every destination checks it and verification needs no MD5, MD5 elsewhere) or md5 (always)",
		s: func(c *Config) *string { return &c.ChecksumAlgorithm }, check: checkChecksumAlgorithm},
	{name: "in_process", help: "when every gateway would run on this machine, copy inside the client without gateway processes (false, or --gateways: always start gateways)",
		b: func(c *Config) *bool { return &c.InProcess }},
	{name: "solver", help: "planner of the plan cp and sync show: direct, ron or ilp (docs/planner.md)",
		s: func(c *Config) *string { return &c.Solver }, check: checkSolver},
	{name: "planner_data_file", help: `CSV of planner rows overriding the shipped throughput grid and prices ("" = none)`,
		s: func(c *Config) *string { return &c.PlannerDataFile }},
	{name: "usage_stats_endpoint", help: `URL usage statistics are POSTed to ("" = sent nowhere)`,
		s: func(c *Config) *string { return &c.UsageStatsEndpoint }, check: checkOptionalURL},
}

// byName indexes defs; defs is sorted by name at init.
var byName = map[string]*keyDef{}

func init() {
	slices.SortFunc(defs, func(a, b keyDef) int { return strings.Compare(a.name, b.name) })
	for i := range defs {
		byName[defs[i].name] = &defs[i]
	}
}

// Keys returns every key, sorted by name.
func Keys() []Key {
	d := Default()
	out := make([]Key, 0, len(defs))
	for i := range defs {
		k := &defs[i]
		out = append(out, Key{Name: k.name, Type: k.typ(), Default: k.get(&d), Help: k.help})
	}
	return out
}

func normalizeKey(key string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(key)), "-", "_")
}

func lookup(key string) (*keyDef, error) {
	if d, ok := byName[normalizeKey(key)]; ok {
		return d, nil
	}
	return nil, unknownKeyError(key)
}

func (d *keyDef) get(c *Config) string {
	switch {
	case d.b != nil:
		return strconv.FormatBool(*d.b(c))
	case d.i != nil:
		return strconv.Itoa(*d.i(c))
	default:
		return *d.s(c)
	}
}

func (d *keyDef) invalid(value, why string) error {
	return fmt.Errorf("%w for %s: %q %s (allowed: %s)", ErrInvalidValue, d.name, value, why, d.allowed())
}

// parseBool accepts true/false, yes/no, on/off, 1/0, case-insensitively.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		return true, true
	case "false", "no", "off", "0":
		return false, true
	}
	return false, false
}

// checkInt checks n against the key's range.
func (d *keyDef) checkInt(n int, value string) error {
	if n < d.min {
		return d.invalid(value, fmt.Sprintf("is too small: must be ≥ %d", d.min))
	}
	if d.max != noMax && n > d.max {
		return d.invalid(value, fmt.Sprintf("is too large: must be ≤ %d", d.max))
	}
	return nil
}

func (d *keyDef) checkString(v string) error {
	if i := strings.IndexFunc(v, unicode.IsControl); i >= 0 {
		return d.invalid(v, "contains a control character")
	}
	if d.check != nil {
		if err := d.check(v); err != nil {
			return d.invalid(v, err.Error())
		}
	}
	return nil
}

// set parses value and, if valid, stores it in c.
func (d *keyDef) set(c *Config, value string) error {
	switch {
	case d.b != nil:
		b, ok := parseBool(value)
		if !ok {
			return d.invalid(value, "is not a boolean")
		}
		*d.b(c) = b
	case d.i != nil:
		v := strings.TrimSpace(value)
		n, err := strconv.Atoi(v)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return d.invalid(value, "is too large a number")
			}
			return d.invalid(value, "is not a whole number")
		}
		if err := d.checkInt(n, v); err != nil {
			return err
		}
		*d.i(c) = n
	default:
		v := strings.TrimSpace(value)
		if err := d.checkString(v); err != nil {
			return err
		}
		*d.s(c) = v
	}
	return nil
}

// Set parses value for key and stores it. Keys are matched
// case-insensitively, with '-' read as '_'. An unknown key gives an error
// suggesting close keys; a bad value gives an error naming the key, the value
// and what is allowed. On error c is unchanged.
func (c *Config) Set(key, value string) error {
	d, err := lookup(key)
	if err != nil {
		return err
	}
	return d.set(c, value)
}

// Get returns the value of key as text; booleans are "true" or "false".
func (c Config) Get(key string) (string, error) {
	d, err := lookup(key)
	if err != nil {
		return "", err
	}
	return d.get(&c), nil
}

// List returns every (key, value) pair, sorted by key.
func (c Config) List() [][2]string {
	out := make([][2]string, 0, len(defs))
	for i := range defs {
		out = append(out, [2]string{defs[i].name, defs[i].get(&c)})
	}
	return out
}

// Validate checks every value against its key's rules (ranges, non-empty
// names, URLs, no control characters), for a Config built or edited in code.
// No rule currently spans keys: part size grows when an object would need
// more than multipart_max_chunks parts, so every combination of the
// multipart keys within their ranges works. All problems are reported,
// joined, in key order.
func (c Config) Validate() error {
	var errs []error
	for i := range defs {
		d := &defs[i]
		switch {
		case d.i != nil:
			n := *d.i(&c)
			if err := d.checkInt(n, strconv.Itoa(n)); err != nil {
				errs = append(errs, err)
			}
		case d.s != nil:
			if err := d.checkString(*d.s(&c)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
