package control

import (
	"github.com/skyplane-project/skyplane-go/internal/chunk"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// Boot is what a gateway process needs to start, handed over in a 0600 file
// that the gateway deletes once read (it holds the secret and the key).
type Boot struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	// Secret authenticates every control API call (Authorization: Bearer).
	Secret string `json:"secret"`
	// Key is the per-dataplane 256-bit key frames are sealed with.
	Key         []byte `json:"key"`
	ControlAddr string `json:"control_addr"` // listen address, e.g. 127.0.0.1:0
	DataAddr    string `json:"data_addr"`
	// TLSCert and TLSKey (PEM) are the dataplane's TLS identity, used when
	// the program asks for TLS between gateways.
	TLSCert []byte `json:"tls_cert,omitempty"`
	TLSKey  []byte `json:"tls_key,omitempty"`
	// StatsFile receives the final counters at shutdown (JSON), so that
	// callers can check what really crossed this gateway after it is gone.
	StatsFile string `json:"stats_file,omitempty"`
	// ExitOnStdinEOF ends the gateway when its parent goes away (local provider).
	ExitOnStdinEOF bool `json:"exit_on_stdin_eof,omitempty"`
	// IdleShutdownMS ends the gateway (cleanly, stats written) when no
	// authenticated control request arrived for this long (0: never): a
	// gateway on another host outlives a client that died this way
	// (autoshutdown_minutes; the client's keep-alive resets it).
	IdleShutdownMS int64 `json:"idle_shutdown_ms,omitempty"`
	// Stores are the store credentials a gateway that does not share the
	// client's environment needs (remote hosts); they override the ones
	// the gateway's own environment gives.
	Stores *StoreCredentials `json:"stores,omitempty"`
}

// StoreCredentials travel in the boot file only (0600, deleted once read),
// never in argv, the environment or a log.
type StoreCredentials struct {
	S3AccessKeyID         string `json:"s3_access_key_id,omitempty"`
	S3SecretAccessKey     string `json:"s3_secret_access_key,omitempty"`
	S3SessionToken        string `json:"s3_session_token,omitempty"`
	GCSEmulatorHost       string `json:"gcs_emulator_host,omitempty"`
	GCSProject            string `json:"gcs_project,omitempty"`
	AzureConnectionString string `json:"azure_connection_string,omitempty"`
	AzureAccountKey       string `json:"azure_account_key,omitempty"`
	AzureAccount          string `json:"azure_account,omitempty"`
}

// CredentialsOf keeps the credentials of o (nil when it has none).
func CredentialsOf(o objstore.Options) *StoreCredentials {
	c := StoreCredentials{
		S3AccessKeyID: o.S3.AccessKeyID, S3SecretAccessKey: o.S3.SecretAccessKey, S3SessionToken: o.S3.SessionToken,
		GCSEmulatorHost: o.GCSEmulatorHost, GCSProject: o.GCSProject,
		AzureConnectionString: o.Azure.ConnectionString, AzureAccountKey: o.Azure.AccountKey, AzureAccount: o.Azure.Account,
	}
	if c == (StoreCredentials{}) {
		return nil
	}
	return &c
}

// Over returns base with every credential c sets in place of base's.
func (c *StoreCredentials) Over(base objstore.Options) objstore.Options {
	if c == nil {
		return base
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	if c.S3AccessKeyID != "" {
		base.S3 = objstore.S3Credentials{AccessKeyID: c.S3AccessKeyID, SecretAccessKey: c.S3SecretAccessKey, SessionToken: c.S3SessionToken}
	}
	set(&base.GCSEmulatorHost, c.GCSEmulatorHost)
	set(&base.GCSProject, c.GCSProject)
	set(&base.Azure.ConnectionString, c.AzureConnectionString)
	set(&base.Azure.AccountKey, c.AzureAccountKey)
	set(&base.Azure.Account, c.AzureAccount)
	return base
}

// Ready is the one JSON line a gateway prints on stdout once it listens.
type Ready struct {
	ID      string `json:"id"`
	PID     int    `json:"pid"`
	Control string `json:"control"` // host:port of the control API
	Data    string `json:"data"`    // host:port of the data listener
}

// Program is what a gateway runs for a dataplane.
type Program struct {
	// Source gateways accept chunk requests and read from the stores they name.
	Source bool `json:"source,omitempty"`
	// Sinks are the keys of the destination groups this gateway writes for
	// (planner.Group.Key): a frame whose target is one of them is written to
	// the bucket its Dest names.
	Sinks []string `json:"sinks,omitempty"`
	// Routes maps a destination group key to next-hop data addresses. A
	// source gateway sends every chunk to each target's route; a relay
	// forwards frames whose target is not in its Sinks.
	Routes map[string][]string `json:"routes,omitempty"`

	NumConnections int  `json:"num_connections"` // per next-hop gateway
	Compress       bool `json:"compress"`
	Encrypt        bool `json:"encrypt"`
	// TLS wraps gateway-to-gateway connections in mutually authenticated
	// TLS 1.3 (encrypt_socket_tls), under the frames' own sealing.
	TLS             bool `json:"tls,omitempty"`
	VerifyChecksums bool `json:"verify_checksums"`
	Readers         int  `json:"readers,omitempty"`
	Writers         int  `json:"writers,omitempty"`
	// MemoryBudget bounds the chunk bytes a gateway holds at once.
	MemoryBudget int64 `json:"memory_budget,omitempty"`
	// MaxConnections bounds inbound data connections; more are closed at
	// once (default 512).
	MaxConnections int `json:"max_connections,omitempty"`
	// IdleTimeoutMS closes a data connection that delivers no frame for
	// this long (default 5 min).
	IdleTimeoutMS int `json:"idle_timeout_ms,omitempty"`

	Test TestHooks `json:"test,omitempty"`
}

// TestHooks inject faults so tests can drive recovery paths end to end.
type TestHooks struct {
	// CorruptFrames flips a payload byte of the first N frames this gateway sends.
	CorruptFrames int `json:"corrupt_frames,omitempty"`
	// FrameDelayMS sleeps before every frame sent, so a test can catch a
	// transfer midway.
	FrameDelayMS int `json:"frame_delay_ms,omitempty"`
}

// Event states in the chunk status log.
const (
	StateComplete = "complete" // written at the destination (Group says which)
	StateFailed   = "failed"   // this attempt failed; Retryable says whether to resend
	StateSent     = "sent"     // handed to the next hop at Hop (a source or relay gateway)
)

// Event is one entry of a gateway's chunk status log.
type Event struct {
	Seq       int64    `json:"seq"`
	Chunk     chunk.ID `json:"chunk"`
	Attempt   int      `json:"attempt"`
	State     string   `json:"state"`
	Group     string   `json:"group,omitempty"` // the destination group (complete, failed, sent)
	ETag      string   `json:"etag,omitempty"`
	Bytes     int64    `json:"bytes,omitempty"`
	Err       string   `json:"error,omitempty"`
	Retryable bool     `json:"retryable,omitempty"`
	// Transport: the chunk was lost with its connection, not refused for
	// what it is (a damaged frame counts as a failure: five in a row is a
	// problem worth stopping for).
	Transport bool `json:"transport,omitempty"`
	// Changed: the source object was rewritten during the transfer (a read
	// pinned to its listed version failed with objstore.ErrChanged); the
	// client restarts that object from its new listing.
	Changed bool   `json:"changed,omitempty"`
	Hop     string `json:"hop,omitempty"` // next hop's data address (sent events)
	MD5     string `json:"md5,omitempty"` // of the chunk as read at the source (complete events)
	// CRC32C (8 hex digits) is the chunk's CRC-32C as read at the source,
	// for requests that asked for it instead of the MD5 (complete events).
	CRC32C  string `json:"crc32c,omitempty"`
	Gateway string `json:"gateway"`
}

// Stats are a gateway's counters.
type Stats struct {
	ID             string `json:"id"`
	Region         string `json:"region"`
	WireBytesSent  int64  `json:"wire_bytes_sent"`
	WireBytesRecv  int64  `json:"wire_bytes_recv"`
	RawBytesSent   int64  `json:"raw_bytes_sent"`
	RawBytesRecv   int64  `json:"raw_bytes_recv"`
	FramesSent     int64  `json:"frames_sent"`
	FramesRecv     int64  `json:"frames_recv"`
	FramesRejected int64  `json:"frames_rejected"`
	ChunksRead     int64  `json:"chunks_read"`
	ChunksWritten  int64  `json:"chunks_written"`
	// WrittenCRC32C counts chunks written checked by a CRC-32C instead of
	// an MD5 (chunk.Request.Checksum).
	WrittenCRC32C   int64 `json:"written_crc32c"`
	ConnectionsUsed int64 `json:"connections_used"` // inbound connections that carried ≥ 1 frame
	StoreRetries    int64 `json:"store_retries"`    // store requests retried (throttling, 5xx)
	// ConnectionsRefused: inbound data connections over the limit, closed.
	ConnectionsRefused int64 `json:"connections_refused"`
	// FramesOutsideJobs: authenticated frames naming a store or key no
	// registered job writes (refused, not written; also in FramesRejected).
	FramesOutsideJobs int64 `json:"frames_outside_jobs"`
	// FramesStale: frames dropped unwritten: an attempt older than one
	// already seen, or a run that ended while they waited.
	FramesStale int64 `json:"frames_stale"`
	// RequestsDropped: queued chunk requests no live run wants any more.
	RequestsDropped int64 `json:"requests_dropped"`
	QueuedRequests  int   `json:"queued_requests"`
	// CPUSeconds is the gateway process's CPU time so far (user + system):
	// what a transfer costs in compute where the gateway runs.
	CPUSeconds float64 `json:"cpu_s"`
}
