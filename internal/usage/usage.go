// Package usage records anonymous usage statistics of a session to a local
// JSON file. Nothing is sent anywhere unless the user configures
// usage_stats_endpoint; recording never affects a transfer: every failure
// here is swallowed.
package usage

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/config"
)

// Version is the skyplane version recorded (set by the build).
var Version = "dev"

// Record is one session.
type Record struct {
	ClientID  string    `json:"client_id"`
	SessionID string    `json:"session_id"`
	Time      time.Time `json:"time"`
	OS        string    `json:"os"`
	Arch      string    `json:"arch"`
	GoVersion string    `json:"go_version"`
	Version   string    `json:"skyplane_version"`
	// Command is the command name and the flags given (values of numeric
	// and boolean flags only); never paths, bucket names or other arguments.
	Command        []string `json:"command"`
	SrcRegion      string   `json:"src_region,omitempty"`
	DstRegions     []string `json:"dst_regions,omitempty"`
	RuntimeS       float64  `json:"runtime_s"`
	Bytes          int64    `json:"bytes,omitempty"`
	ThroughputGbps float64  `json:"throughput_gbps,omitempty"`
	// Error is the class of a failure (usage, failed, incomplete,
	// interrupted), not its message, which names paths and buckets.
	Error string `json:"error,omitempty"`
}

// Save writes r as <state dir>/usage/<session>.json when statistics are on,
// and POSTs it to the configured endpoint if there is one. It returns the
// file written ("" when off or on failure). getenv (the command's
// os.Getenv) can turn statistics off and names the state directory.
func Save(cfg config.Config, r Record, getenv func(string) string) string {
	if !config.UsageStatsEnabled(cfg, getenv) {
		return ""
	}
	state := config.StateDir(getenv)
	dir := filepath.Join(state, "usage")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ""
	}
	r.ClientID = ClientID(state)
	r.SessionID = randomHex(8)
	r.OS, r.Arch, r.GoVersion, r.Version = runtime.GOOS, runtime.GOARCH, runtime.Version(), Version
	if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return ""
	}
	path := filepath.Join(dir, r.SessionID+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return ""
	}
	if cfg.UsageStatsEndpoint != "" {
		post(cfg.UsageStatsEndpoint, b)
	}
	return path
}

func post(url string, body []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// ClientID is a random id kept in the state directory: anonymous, stable
// across sessions of one user. Gateways on inventory hosts are marked with
// it, so that deprovision finds what this user's clients left.
func ClientID(state string) string {
	path := filepath.Join(state, "client_id")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) == 32 {
		return strings.TrimSpace(string(b))
	}
	id := randomHex(16)
	_ = os.MkdirAll(state, 0o700)
	_ = os.WriteFile(path, []byte(id+"\n"), 0o600)
	return id
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
