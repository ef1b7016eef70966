package skyplane

import "github.com/skyplane-project/skyplane-go/internal/config"

// Config holds every `skyplane config` key (docs/config.md lists them with
// their defaults). Start from DefaultConfig or LoadConfig and change fields,
// or Set keys by name. Keys marked "cloud gateways" are accepted so that
// configs from the Python original keep working, and change nothing in
// this build, whose gateways run on this machine.
type Config struct {
	// Autoconfirm skips confirmation prompts (autoconfirm).
	Autoconfirm bool
	// UsageStats records anonymous usage statistics (usage_stats).
	UsageStats bool
	// BBR uses BBR congestion control on gateway sockets (bbr; cloud gateways).
	BBR bool
	// Compress compresses chunks between gateways (compress).
	Compress bool
	// EncryptE2E encrypts chunks end to end between source and
	// destination gateways (encrypt_e2e).
	EncryptE2E bool
	// EncryptSocketTLS wraps gateway-to-gateway sockets in mutual TLS
	// (encrypt_socket_tls).
	EncryptSocketTLS bool
	// VerifyChecksums verifies the checksums of transferred objects
	// (verify_checksums).
	VerifyChecksums bool
	// NumConnections is the TCP connections per gateway pair (num_connections).
	NumConnections int
	// MaxInstances is the gateways per region (max_instances).
	MaxInstances int
	// AutoshutdownMinutes: a gateway on an inventory host (or a VM) whose
	// client has been silent this long shuts itself down, 0 never
	// (autoshutdown_minutes).
	AutoshutdownMinutes int
	// MultipartEnabled splits large objects into parts sent in parallel
	// (multipart_enabled).
	MultipartEnabled bool
	// MultipartMinThresholdMB: objects larger than this are split
	// (multipart_min_threshold_mb).
	MultipartMinThresholdMB int
	// MultipartChunkSizeMB is the size of one part (multipart_chunk_size_mb).
	MultipartChunkSizeMB int
	// MultipartMaxChunks caps the parts per object; parts grow to stay
	// under it (multipart_max_chunks).
	MultipartMaxChunks int
	// RequesterPays accesses requester-pays buckets (requester_pays).
	RequesterPays bool
	// NativeCmdEnabled copies small transfers with the cloud's own tooling
	// (native_cmd_enabled; cloud gateways).
	NativeCmdEnabled bool
	// LocalFsync: the local-disk store fsyncs finished files, staged parts
	// and their folders, so a copy reported done survives a power loss
	// (local_fsync).
	LocalFsync bool
	// NativeCmdThresholdGB: transfers below this use the native copy
	// (native_cmd_threshold_gb; cloud gateways).
	NativeCmdThresholdGB int

	// Gateway VMs per cloud (cloud gateways): instance class, spot
	// instances, region used when none can be inferred.
	AWSInstanceClass      string
	AWSUseSpotInstances   bool
	AWSDefaultRegion      string
	AzureInstanceClass    string
	AzureUseSpotInstances bool
	AzureDefaultRegion    string
	GCPInstanceClass      string
	GCPUsePremiumNetwork  bool
	GCPServiceAccountName string
	GCPUseSpotInstances   bool
	GCPDefaultRegion      string

	// S3Endpoint is the endpoint URL of S3-compatible stores; "" means AWS
	// (s3_endpoint).
	S3Endpoint string
	// S3BucketEndpoints names buckets that live on another S3-compatible
	// server than S3Endpoint: "bucket=URL[,bucket=URL]" (s3_bucket_endpoints).
	S3BucketEndpoints string
	// GatewayBinary is the skyplane binary local gateways run; "" means
	// the running executable (gateway_binary).
	GatewayBinary string
	// HostsFile is the hosts inventory (docs/hosts.md): a region listed
	// there runs its gateways on those hosts over SSH; "" means none
	// (hosts_file; the CLI also takes $SKYPLANE_HOSTS_FILE).
	HostsFile string
	// GatewaysPerHost caps the gateways one inventory host runs for a
	// transfer (gateways_per_host).
	GatewaysPerHost int
	// UsageStatsEndpoint is where usage statistics are POSTed; "" means
	// nowhere (usage_stats_endpoint).
	UsageStatsEndpoint string
	// InProcess: when every gateway of a plan would run on this machine
	// (local gateways), the client reads and writes itself, with the same
	// chunking, checksums, retries, resume and verification and no gateway
	// processes; false always starts gateways (in_process).
	InProcess bool
	// ChecksumAlgorithm is what the source hashes each chunk with for the
	// destination store to verify: "auto" (CRC-32C where every destination
	// checks it and verification needs no MD5, local disk today; MD5
	// elsewhere) or "md5" (checksum_algorithm).
	ChecksumAlgorithm string
	// Solver is the planner of the plan cp and sync show before they
	// confirm: direct, ron or ilp (solver; docs/planner.md). Transfers run
	// the direct plan whatever it is, until relays execute.
	Solver string
	// PlannerDataFile is a CSV of planner rows (throughput grid, egress
	// and VM prices, VM caps) overriding the shipped ones; "" none
	// (planner_data_file; docs/planner.md has the format).
	PlannerDataFile string
}

// DefaultConfig returns the defaults of every key.
func DefaultConfig() Config { return Config(config.Default()) }

// LoadConfig reads the config file at path ("" means ~/.skyplane/config;
// the CLI passes $SKYPLANE_CONFIG when set); keys it lacks keep their
// defaults.
func LoadConfig(path string) (Config, error) {
	if path == "" {
		path = config.Path(config.NoEnv)
	}
	c, err := config.Load(path)
	return Config(c), err
}

// Set sets a key by its name in the config file (max_instances), from its
// text form, with the checks `skyplane config set` makes.
func (c *Config) Set(key, value string) error {
	in := config.Config(*c)
	if err := in.Set(key, value); err != nil {
		return err
	}
	*c = Config(in)
	return nil
}

// Get returns a key's value in its text form.
func (c Config) Get(key string) (string, error) { return config.Config(c).Get(key) }

// Validate checks every value against its key's range.
func (c Config) Validate() error { return config.Config(c).Validate() }

func (c Config) internal() config.Config { return config.Config(c) }
