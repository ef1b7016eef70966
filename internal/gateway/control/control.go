// Package control is the gateway control API as its callers see it: the
// paths, the messages (programs, chunk requests, status events, counters,
// job scopes), the boot file a gateway starts from and the client that
// drives one gateway. The daemon (package gateway) serves it; the dataplane
// and the compute providers use it without importing the daemon.
package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/chunk"
)

// Control API paths (the original's, under /api/v1).
const (
	PathStatus    = "/api/v1/status"
	PathServers   = "/api/v1/servers"
	PathProgram   = "/api/v1/program"
	PathChunks    = "/api/v1/chunk_requests"
	PathStatusLog = "/api/v1/chunk_status_log"
	PathErrors    = "/api/v1/errors"
	PathShutdown  = "/api/v1/shutdown"
)

// MaxRequestBody bounds a control request (a batch of chunk requests).
const MaxRequestBody = 16 << 20

// ChunkBatch is the body of POST /chunk_requests.
type ChunkBatch struct {
	Requests []chunk.Request `json:"requests"`
}

// ChunkAccepted answers POST /chunk_requests: how many of the batch (from
// the front) were queued. The client sends the rest elsewhere or later.
type ChunkAccepted struct {
	Accepted int    `json:"accepted"`
	Error    string `json:"error,omitempty"`
}

// StatusReply answers GET /status.
type StatusReply struct {
	State string `json:"state"` // "idle" until a program is installed, then "running"
	Stats Stats  `json:"stats"`
}

// Job registration paths: the client names where each run may write before
// it dispatches the run's chunks, and ends the run when it is over.
const (
	PathJobs   = "/api/v1/jobs"
	PathRunEnd = "/api/v1/runs/end"
)

// Scope is where one job may write: keys under Prefix in Bucket ("" is the
// whole bucket), or exactly Prefix when Exact.
type Scope struct {
	Bucket chunk.Bucket `json:"bucket"`
	Prefix string       `json:"prefix"`
	Exact  bool         `json:"exact,omitempty"`
}

// Allows says whether the scope covers destination d.
func (s Scope) Allows(d chunk.Dest) bool {
	if d.Bucket != s.Bucket {
		return false
	}
	if s.Exact {
		return d.Key == s.Prefix
	}
	return strings.HasPrefix(d.Key, s.Prefix)
}

// JobRegistration is the body of POST /jobs: the scopes of one run's jobs.
// Registering the same run again adds scopes.
type JobRegistration struct {
	Run    string  `json:"run"`
	Scopes []Scope `json:"scopes"`
}

// RunEnd is the body of POST /runs/end.
type RunEnd struct {
	Run string `json:"run"`
}

// Client calls one gateway's control API.
type Client struct {
	ID     string
	base   string
	secret string
	hc     *http.Client
}

// NewClient returns a client for the gateway whose control API listens at addr.
func NewClient(id, addr, secret string) *Client {
	return &Client{ID: id, base: "http://" + addr, secret: secret, hc: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: 30 * time.Second},
	}}
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("gateway %s: %s %s: %w", c.ID, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxRequestBody))
	if err != nil {
		return fmt.Errorf("gateway %s: %s %s: %w", c.ID, method, path, err)
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil && resp.StatusCode < 300 {
			return fmt.Errorf("gateway %s: %s %s: bad reply: %w", c.ID, method, path, err)
		}
	}
	if resp.StatusCode >= 300 {
		return &StatusError{Gateway: c.ID, Code: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	return nil
}

// StatusError is a non-2xx control API answer.
type StatusError struct {
	Gateway string
	Code    int
	Body    string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("gateway %s answered %d: %s", e.Gateway, e.Code, e.Body)
}

// SetProgram installs the gateway's program.
func (c *Client) SetProgram(ctx context.Context, p Program) error {
	return c.do(ctx, http.MethodPost, PathProgram, p, nil)
}

// PostChunks offers a batch; it returns how many the gateway queued.
func (c *Client) PostChunks(ctx context.Context, reqs []chunk.Request) (int, error) {
	var reply ChunkAccepted
	err := c.do(ctx, http.MethodPost, PathChunks, ChunkBatch{Requests: reqs}, &reply)
	if err != nil && reply.Error != "" {
		return reply.Accepted, fmt.Errorf("gateway %s refused chunk requests: %s", c.ID, reply.Error)
	}
	return reply.Accepted, err
}

// Events long-polls the chunk status log from seq since.
func (c *Client) Events(ctx context.Context, since int64, wait time.Duration) ([]Event, error) {
	var ev []Event
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s?since=%d&wait_ms=%d", PathStatusLog, since, wait.Milliseconds()), nil, &ev)
	return ev, err
}

// Status fetches state and counters.
func (c *Client) Status(ctx context.Context) (StatusReply, error) {
	var s StatusReply
	err := c.do(ctx, http.MethodGet, PathStatus, nil, &s)
	return s, err
}

// Errors fetches the errors the gateway recorded.
func (c *Client) Errors(ctx context.Context) ([]string, error) {
	var errs []string
	err := c.do(ctx, http.MethodGet, PathErrors, nil, &errs)
	return errs, err
}

// Shutdown asks the gateway to stop.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, PathShutdown, nil, nil)
}

// RegisterJobs tells the gateway where a run may write.
func (c *Client) RegisterJobs(ctx context.Context, j JobRegistration) error {
	return c.do(ctx, http.MethodPost, PathJobs, j, nil)
}

// EndRun tells the gateway a run is over: what it still holds for the run
// is dropped, and frames for it are refused from now on.
func (c *Client) EndRun(ctx context.Context, run string) error {
	return c.do(ctx, http.MethodPost, PathRunEnd, RunEnd{Run: run}, nil)
}
