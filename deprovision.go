package skyplane

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/dataplane"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// ErrAbortFailed: some multipart uploads of interrupted transfers could not
// be aborted (AbandonResult.Failed names them); their transfers are kept so
// that a later Abandon tries again.
var ErrAbortFailed = errors.New("some uploads could not be aborted")

// DeprovisionOptions tune Client.Deprovision and Client.Abandon.
type DeprovisionOptions struct {
	// StateDir is where transfers keep their dataplane folders and
	// journals; "" means the client's (WithStateDir).
	StateDir string
}

func (c *Client) stateDirOf(o DeprovisionOptions) string {
	if o.StateDir != "" {
		return o.StateDir
	}
	return c.stateDir
}

// DeprovisionResult says what Client.Deprovision cleaned up.
type DeprovisionResult struct {
	// GatewaysFound counts the local gateways still running under the
	// state directory; GatewaysStopped those that were killed.
	GatewaysFound, GatewaysStopped int
	// HostGateways are the gateways found on the hosts of
	// Config.HostsFile that this user's clients started (by the marker each
	// deploy leaves), now stopped and removed.
	HostGateways []HostGateway
	// Abandoned is what Abandon did with the interrupted transfers.
	Abandoned AbandonResult
}

// AbandonResult says what Client.Abandon cleaned up.
type AbandonResult struct {
	// Transfers counts the interrupted transfers found (each one's resume
	// state is forgotten once all its uploads are aborted).
	Transfers int
	// UploadsAborted counts the multipart uploads aborted.
	UploadsAborted int
	// Failed lists the uploads that could not be aborted.
	Failed []AbortFailure
}

// AbortFailure is an open multipart upload Abandon could not abort.
type AbortFailure struct {
	// Bucket is the store URL of the bucket ("s3://b"), Key the object.
	Bucket, Key, UploadID string
	Err                   error
}

// Deprovision stops gateways a client left behind (one that died before
// it could tear them down) and abandons interrupted transfers (Abandon).
// Transfers of other processes that still run are left alone.
func (c *Client) Deprovision(ctx context.Context, opts DeprovisionOptions) (DeprovisionResult, error) {
	var res DeprovisionResult
	pids := local.Running(filepath.Join(c.stateDirOf(opts), "dataplanes"))
	res.GatewaysFound = len(pids)
	if len(pids) > 0 {
		res.GatewaysStopped = local.Kill(pids)
	}
	var sweepErr error
	res.HostGateways, sweepErr = c.sweepHosts(ctx, c.stateDirOf(opts))
	var err error
	res.Abandoned, err = c.Abandon(ctx, opts)
	return res, errors.Join(sweepErr, err)
}

// Abandon aborts the multipart uploads that interrupted transfers kept
// open so that they could resume, and forgets those transfers: running
// the same copy again then starts over. It returns ErrAbortFailed with the
// result when some upload could not be aborted.
func (c *Client) Abandon(ctx context.Context, opts DeprovisionOptions) (AbandonResult, error) {
	var res AbandonResult
	journals, err := dataplane.Journals(dataplane.JournalDir(c.stateDirOf(opts)))
	if err != nil {
		return res, err
	}
	res.Transfers = len(journals)
	for path, ups := range journals {
		ok := true
		for _, u := range ups {
			if err := c.abortUpload(ctx, u); err != nil {
				res.Failed = append(res.Failed, AbortFailure{Bucket: u.Bucket, Key: u.Key, UploadID: u.UploadID, Err: err})
				ok = false
				continue
			}
			res.UploadsAborted++
		}
		if ok {
			os.Remove(path)
		}
	}
	if len(res.Failed) > 0 {
		return res, fmt.Errorf("%w: %d upload(s)", ErrAbortFailed, len(res.Failed))
	}
	return res, nil
}

func (c *Client) abortUpload(ctx context.Context, u dataplane.JournalUpload) error {
	loc, err := objstore.ParseURL(u.Bucket)
	if err != nil {
		return err
	}
	opts := c.stores
	opts.RequesterPays = c.cfg.RequesterPays
	if loc.Scheme == objstore.SchemeS3 {
		opts.Endpoint = c.cfg.internal().S3EndpointFor(loc.Bucket)
	}
	st, err := objstore.Open(ctx, loc, opts)
	if err != nil {
		return err
	}
	return st.AbortMultipart(ctx, u.Key, u.UploadID)
}
