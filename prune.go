package skyplane

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/skyplane-project/skyplane-go/internal/compute/local"
	"github.com/skyplane-project/skyplane-go/internal/config"
)

// What the state directory keeps of past runs: the newest keepRuns
// dataplane folders (gateway logs and stats) and usage records, and any
// younger than keepFor. Older ones go at the start of the next transfer, so
// the directory stops growing with every run.
const (
	keepRuns = 20
	keepFor  = 7 * 24 * time.Hour
)

// PruneState removes old dataplane folders and usage records under the
// state directory dir ("" for the default). A folder whose gateways still
// run is kept whatever its age. Failures only cost disk space: they are
// logged, not returned.
func PruneState(dir string, now time.Time) {
	if dir == "" {
		dir = config.StateDir(config.NoEnv)
	}
	pruneDir(filepath.Join(dir, "dataplanes"), now, func(p string) bool { return len(local.Running(p)) == 0 })
	pruneDir(filepath.Join(dir, "usage"), now, func(string) bool { return true })
}

func pruneDir(dir string, now time.Time, removable func(string) bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type entry struct {
		path string
		mod  time.Time
	}
	var es []entry
	for _, e := range entries {
		if info, err := e.Info(); err == nil {
			es = append(es, entry{filepath.Join(dir, e.Name()), info.ModTime()})
		}
	}
	slices.SortFunc(es, func(a, b entry) int { return b.mod.Compare(a.mod) })
	for i, e := range es {
		if i < keepRuns || now.Sub(e.mod) < keepFor || !removable(e.path) {
			continue
		}
		if err := os.RemoveAll(e.path); err != nil {
			slog.Debug("pruning the state directory", "path", e.path, "err", err)
		}
	}
}
