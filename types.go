package skyplane

import (
	"time"

	"github.com/skyplane-project/skyplane-go/internal/dataplane"
	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
)

// Progress is a snapshot of a running transfer. Its totals grow while the
// listing streams objects in; they are final once ListingDone.
type Progress struct {
	// BytesDone and BytesTotal count raw bytes, summed over destinations.
	BytesDone, BytesTotal int64
	// ObjectsDone and ObjectsTotal count objects once however many
	// destinations they go to.
	ObjectsDone, ObjectsTotal int64
	// ListingDone: every object to send is counted in the totals.
	ListingDone bool
	// Retries counts chunks sent again (a failed gateway or connection).
	Retries int
	// Elapsed is the time since the transfer started.
	Elapsed time.Duration
	// AlreadyThere is what a resumed copy found already at the
	// destination (not in the totals); final once ListingDone.
	AlreadyThere Counts
}

// Counts is a number of objects and their bytes.
type Counts struct {
	Objects, Bytes int64
}

// Result summarises a finished transfer.
type Result struct {
	// Objects copied, counted once however many destinations.
	Objects int64
	// Bytes landed (raw), summed over destinations.
	Bytes int64
	// WireBytes the destination gateways received on the wire
	// (compressed, framed, encrypted).
	WireBytes int64
	// Deleted counts objects a sync with Delete removed.
	Deleted int64
	// Retries counts chunks sent again.
	Retries int
	// StoreRetries counts store requests the gateways retried
	// (throttling, 5xx), below chunk retries.
	StoreRetries int64
	// GatewaysLost counts gateways that stopped answering; their chunks
	// were sent again through the others.
	GatewaysLost int
	// Duration is the transfer's wall time.
	Duration time.Duration
	// PeakInFlight is the most objects tracked at once (listings stream
	// into the transfer, so it stays near the gateways' queue capacity).
	PeakInFlight int
	// How the destinations were verified, per object and destination: the
	// store's MD5 of a single-part object, the store's S3-style multipart
	// ETag, or the size alone where the store reports neither.
	VerifiedMD5, VerifiedETag, VerifiedSize int64
	// Restarted counts objects rewritten at the source while in flight and
	// started again from their new version.
	Restarted int
	// InProcess: the client copied itself, without gateways (nothing
	// crossed a wire: WireBytes is 0).
	InProcess bool
	// Stats are each gateway's counters at the end of the transfer.
	Stats []Stats
	// Failed are objects a destination cannot hold, left out; the
	// transfer then returns ErrObjectsFailed with this Result.
	Failed []Failure
	// Cost is what the transfer cost at the planner's prices for its
	// regions: egress from the bytes that crossed each hop as sent
	// (compressed, framed), VM time from the run's duration; Estimate is
	// what the plan expected for the same bytes. Cost is nil when the
	// planner data lack a price (CostUnknown says which).
	Cost, Estimate *Cost
	CostUnknown    string
}

// Stats are one gateway's counters at the end of a transfer.
type Stats struct {
	// ID names the gateway; Region is its group ("local:src", "aws:us-east-1").
	ID, Region string
	// Bytes sent and received on the wire (compressed, framed, encrypted)
	// and raw (as stored).
	WireBytesSent, WireBytesRecv, RawBytesSent, RawBytesRecv int64
	// Frames sent, received, and rejected (failed authentication or
	// checksum, or outside the registered jobs).
	FramesSent, FramesRecv, FramesRejected int64
	// Chunks read from the source store and written to the destination.
	ChunksRead, ChunksWritten int64
	// ConnectionsUsed counts inbound connections that carried a frame;
	// ConnectionsRefused those over the limit, closed.
	ConnectionsUsed, ConnectionsRefused int64
	// StoreRetries counts store requests retried (throttling, 5xx).
	StoreRetries int64
	// FramesOutsideJobs: authenticated frames naming a store or key no
	// registered job writes (refused; also in FramesRejected).
	FramesOutsideJobs int64
	// FramesStale: frames dropped unwritten (an older attempt, or a run
	// that ended while they waited).
	FramesStale int64
	// RequestsDropped: queued chunk requests no live run wanted any more.
	RequestsDropped int64
	// QueuedRequests is the chunk requests still queued.
	QueuedRequests int
	// CPUSeconds is the gateway process's CPU time (user + system) when
	// the counters were taken. Gateways inside the caller's own process
	// (tests) report that process's.
	CPUSeconds float64
}

// Preview counts what a transfer would move.
type Preview struct {
	// Objects and Bytes to copy, Deletes a sync would make.
	Objects, Bytes, Deletes int64
	// Samples are the first lines, as many as PreviewOptions.MaxSamples.
	Samples []Sample
}

// Sample is one "src => dst (size)" line of a plan.
type Sample struct {
	// Src and Dst are URLs; Size in bytes.
	Src, Dst string
	Size     int64
	// Op is "copy", or for a sync the reason to copy, or "delete".
	Op string
}

// Failure is one object a transfer left out, with the reason.
type Failure struct {
	// Src and Dst are URLs.
	Src, Dst string
	Reason   string
}

func progressOf(p dataplane.Progress) Progress {
	return Progress{
		BytesDone: p.BytesDone, BytesTotal: p.BytesTotal,
		ObjectsDone: p.ObjectsDone, ObjectsTotal: p.ObjectsTotal,
		ListingDone: p.ListingDone, Retries: p.Retries, Elapsed: p.Elapsed,
		AlreadyThere: Counts(p.AlreadyThere),
	}
}

// progressFunc adapts a caller's callback to the internal snapshots.
func progressFunc(f func(Progress)) func(dataplane.Progress) {
	if f == nil {
		return nil
	}
	return func(p dataplane.Progress) { f(progressOf(p)) }
}

func resultOf(r *dataplane.Result) *Result {
	if r == nil {
		return nil
	}
	out := &Result{
		Objects: r.Objects, Bytes: r.Bytes, WireBytes: r.WireBytes, Deleted: r.Deleted,
		Retries: r.Retries, StoreRetries: r.StoreRetries, GatewaysLost: r.GatewaysLost,
		Duration: r.Duration, PeakInFlight: r.PeakInFlight,
		VerifiedMD5: r.VerifiedMD5, VerifiedETag: r.VerifiedETag, VerifiedSize: r.VerifiedSize,
		Restarted: r.Restarted, InProcess: r.InProcess,
	}
	for _, s := range r.Stats {
		out.Stats = append(out.Stats, statsOf(s))
	}
	for _, f := range r.Failed {
		out.Failed = append(out.Failed, Failure(f))
	}
	return out
}

func statsOf(s control.Stats) Stats {
	return Stats{
		ID: s.ID, Region: s.Region,
		WireBytesSent: s.WireBytesSent, WireBytesRecv: s.WireBytesRecv,
		RawBytesSent: s.RawBytesSent, RawBytesRecv: s.RawBytesRecv,
		FramesSent: s.FramesSent, FramesRecv: s.FramesRecv, FramesRejected: s.FramesRejected,
		ChunksRead: s.ChunksRead, ChunksWritten: s.ChunksWritten,
		ConnectionsUsed: s.ConnectionsUsed, ConnectionsRefused: s.ConnectionsRefused,
		StoreRetries: s.StoreRetries, FramesOutsideJobs: s.FramesOutsideJobs,
		FramesStale: s.FramesStale, RequestsDropped: s.RequestsDropped, QueuedRequests: s.QueuedRequests,
		CPUSeconds: s.CPUSeconds,
	}
}

func previewOf(p dataplane.Preview) Preview {
	out := Preview{Objects: p.Objects, Bytes: p.Bytes, Deletes: p.Deletes}
	for _, s := range p.Samples {
		out.Samples = append(out.Samples, Sample(s))
	}
	return out
}

// sampleFunc adapts a caller's callback to the internal lines.
func sampleFunc(f func(Sample)) func(dataplane.Sample) {
	if f == nil {
		return nil
	}
	return func(s dataplane.Sample) { f(Sample(s)) }
}
