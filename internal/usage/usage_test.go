package usage

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/skyplane-project/skyplane-go/internal/config"
)

func TestSave(t *testing.T) {
	posted := make(chan []byte, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posted <- b
	}))
	defer srv.Close()
	tests := []struct {
		name     string
		env      string
		cfg      func(*config.Config)
		wantFile bool
		wantPost bool
	}{
		{"on by default, sent nowhere", "", func(*config.Config) {}, true, false},
		{"config off", "", func(c *config.Config) { c.UsageStats = false }, false, false},
		{"env off wins", "0", func(*config.Config) {}, false, false},
		{"env on wins", "1", func(c *config.Config) { c.UsageStats = false }, true, false},
		{"endpoint configured", "", func(c *config.Config) { c.UsageStatsEndpoint = srv.URL }, true, true},
		{"endpoint down", "", func(c *config.Config) { c.UsageStatsEndpoint = "http://127.0.0.1:1" }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Setenv("SKYPLANE_STATE_DIR", dir)
			t.Setenv("SKYPLANE_USAGE_STATS_ENABLED", tt.env)
			cfg := config.Default()
			tt.cfg(&cfg)
			path := Save(cfg, Record{Command: []string{"cp", "-r"}, RuntimeS: 1.5, Error: "boom"}, os.Getenv)
			if (path != "") != tt.wantFile {
				t.Fatalf("path = %q, want a file: %v", path, tt.wantFile)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "usage", "*.json"))
			if len(files) != map[bool]int{true: 1, false: 0}[tt.wantFile] {
				t.Fatalf("usage files: %v", files)
			}
			if tt.wantFile {
				var r Record
				b, _ := os.ReadFile(path)
				if err := json.Unmarshal(b, &r); err != nil {
					t.Fatal(err)
				}
				if len(r.ClientID) != 32 || r.SessionID == "" || r.OS == "" || r.Error != "boom" || r.Command[0] != "cp" {
					t.Errorf("record %+v", r)
				}
				fi, _ := os.Stat(path)
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("mode %v", fi.Mode())
				}
				// The client id is stable across sessions.
				path2 := Save(cfg, Record{}, os.Getenv)
				var r2 Record
				b2, _ := os.ReadFile(path2)
				_ = json.Unmarshal(b2, &r2)
				if r2.ClientID != r.ClientID || r2.SessionID == r.SessionID {
					t.Errorf("client %s/%s session %s/%s", r.ClientID, r2.ClientID, r.SessionID, r2.SessionID)
				}
			}
			select {
			case b := <-posted:
				if !tt.wantPost {
					t.Errorf("posted %s", b)
				}
			default:
				if tt.wantPost {
					t.Error("nothing posted to the configured endpoint")
				}
			}
			for len(posted) > 0 {
				<-posted
			}
		})
	}
}
