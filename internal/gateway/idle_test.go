package gateway

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/gateway/control"
	"github.com/skyplane-project/skyplane-go/internal/objstore"
)

// TestIdleShutdown runs the daemon as `skyplane gateway` does (Main, boot
// file) with a short idle window: it ends on its own, stats written, when
// no authenticated control request arrives; authenticated calls keep it
// alive, unauthenticated ones do not.
func TestIdleShutdown(t *testing.T) {
	const window = 400 * time.Millisecond
	cases := []struct {
		name string
		// ping is called every 100 ms for 1.2 s (3 windows); nil: silence.
		ping      func(ctx context.Context, c *control.Client, url string)
		wantAlive bool // still running after the 1.2 s
	}{
		{name: "silence", wantAlive: false},
		{name: "keep-alive", wantAlive: true, ping: func(ctx context.Context, c *control.Client, _ string) {
			if _, err := c.Status(ctx); err != nil {
				t.Errorf("status: %v", err)
			}
		}},
		{name: "unauthenticated calls", wantAlive: false, ping: func(ctx context.Context, _ *control.Client, url string) {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+control.PathStatus, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			stats := filepath.Join(dir, "stats.json")
			boot, _ := json.Marshal(control.Boot{ID: "gw", Region: "r", Secret: "s", Key: make([]byte, 32),
				StatsFile: stats, IdleShutdownMS: window.Milliseconds()})
			bootFile := filepath.Join(dir, "boot.json")
			if err := os.WriteFile(bootFile, boot, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			pr, pw := io.Pipe()
			done := make(chan error, 1)
			go func() { done <- Main(ctx, bootFile, pw, nil, "", objstore.Options{}) }()
			line, err := bufio.NewReader(pr).ReadBytes('\n')
			if err != nil {
				t.Fatal(err)
			}
			go io.Copy(io.Discard, pr)
			var rd control.Ready
			if err := json.Unmarshal(line, &rd); err != nil {
				t.Fatal(err)
			}
			c := control.NewClient("gw", rd.Control, "s")
			until := time.Now().Add(3 * window)
			for time.Now().Before(until) {
				if tc.ping != nil {
					tc.ping(ctx, c, "http://"+rd.Control)
				}
				time.Sleep(100 * time.Millisecond)
			}
			select {
			case err := <-done:
				if tc.wantAlive {
					t.Fatalf("gateway exited (%v) although kept alive", err)
				}
				if err != nil {
					t.Fatalf("Main: %v", err)
				}
				if _, err := os.Stat(stats); err != nil {
					t.Errorf("no stats written at idle shutdown: %v", err)
				}
			default:
				if !tc.wantAlive {
					t.Fatalf("gateway still running after %s of silence (window %s)", 3*window, window)
				}
				cancel()
				if err := <-done; err != nil {
					t.Fatalf("Main: %v", err)
				}
			}
			pw.Close()
		})
	}
}
