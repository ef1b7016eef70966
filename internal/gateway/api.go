package gateway

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
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

// maxRequestBody bounds a control request (a batch of chunk requests).
const maxRequestBody = 16 << 20

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

func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathStatus, func(w http.ResponseWriter, r *http.Request) {
		state := "idle"
		select {
		case <-g.progSet:
			state = "running"
		default:
		}
		writeJSON(w, http.StatusOK, StatusReply{State: state, Stats: g.Stats()})
	})
	mux.HandleFunc("GET "+PathServers, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"data": g.dataLn.Addr().String(), "routes": g.prog.Routes})
	})
	mux.HandleFunc("POST "+PathProgram, func(w http.ResponseWriter, r *http.Request) {
		var p Program
		if !readJSON(w, r, &p) {
			return
		}
		if err := g.install(p); err != nil {
			g.recordError("install program: %v", err)
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"state": "running"})
	})
	mux.HandleFunc("POST "+PathChunks, func(w http.ResponseWriter, r *http.Request) {
		var b ChunkBatch
		if !readJSON(w, r, &b) {
			return
		}
		n, err := g.enqueue(b.Requests)
		reply := ChunkAccepted{Accepted: n}
		status := http.StatusOK
		if err != nil {
			reply.Error = err.Error()
			status = http.StatusConflict
		}
		writeJSON(w, status, reply)
	})
	mux.HandleFunc("GET "+PathStatusLog, func(w http.ResponseWriter, r *http.Request) {
		since, _ := strconv.ParseInt(r.URL.Query().Get("since"), 10, 64)
		waitMS, _ := strconv.Atoi(r.URL.Query().Get("wait_ms"))
		wait := min(time.Duration(max(waitMS, 0))*time.Millisecond, 30*time.Second)
		events := g.status.since(r.Context(), since, wait)
		if events == nil {
			events = []Event{}
		}
		writeJSON(w, http.StatusOK, events)
	})
	mux.HandleFunc("GET "+PathErrors, func(w http.ResponseWriter, r *http.Request) {
		g.errMu.Lock()
		errs := append([]string{}, g.errs...)
		g.errMu.Unlock()
		writeJSON(w, http.StatusOK, errs)
	})
	mux.HandleFunc("POST "+PathShutdown, func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"state": "stopping"})
		go g.Shutdown()
	})
	g.jobRoutes(mux)
	return g.authenticate(mux)
}

// authenticate requires "Authorization: Bearer <secret>": 401 without it,
// 403 with a wrong one. The compare is constant-time.
func (g *Gateway) authenticate(next http.Handler) http.Handler {
	secret := []byte(g.boot.Secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="skyplane-gateway"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing bearer token"})
			return
		}
		if subtle.ConstantTimeCompare([]byte(token), secret) != 1 {
			g.log.Warn("control call with a wrong secret", "from", r.RemoteAddr, "path", r.URL.Path)
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "wrong bearer token"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad request body: " + err.Error()})
		return false
	}
	return true
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
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRequestBody))
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
