package config

import (
	"os"
	"path/filepath"
	"strings"
)

// NoEnv is a getenv for library callers: every variable unset, so the
// defaults below apply. Commands pass os.Getenv.
func NoEnv(string) string { return "" }

// Path returns the config file path: SKYPLANE_CONFIG (read with getenv) if
// set (a leading "~/" is expanded), else ~/.skyplane/config. If the home
// directory is unknown it falls back to .skyplane/config in the working
// directory.
func Path(getenv func(string) string) string {
	if p := getenv("SKYPLANE_CONFIG"); p != "" {
		return expandHome(p)
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return filepath.Join(".skyplane", "config")
	}
	return filepath.Join(home, ".skyplane", "config")
}

func expandHome(p string) string {
	if p != "~" && !strings.HasPrefix(p, "~/") && !strings.HasPrefix(p, "~"+string(filepath.Separator)) {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return p
	}
	return filepath.Join(home, p[1:])
}

// StateDir returns the directory for local state (resume records, usage
// statistics, client id): SKYPLANE_STATE_DIR (read with getenv) if set (a
// leading "~/" is expanded), else the directory containing Path(getenv).
func StateDir(getenv func(string) string) string {
	if d := getenv("SKYPLANE_STATE_DIR"); d != "" {
		return expandHome(d)
	}
	return filepath.Dir(Path(getenv))
}

// UsageStatsEnabled reports whether usage statistics are on.
// SKYPLANE_USAGE_STATS_ENABLED ("0"/"false"/"no"/"off" → off,
// "1"/"true"/"yes"/"on" → on, case-insensitive) wins over c.UsageStats;
// any other value of the variable is ignored.
func UsageStatsEnabled(c Config, getenv func(string) string) bool {
	if b, ok := parseBool(getenv("SKYPLANE_USAGE_STATS_ENABLED")); ok {
		return b
	}
	return c.UsageStats
}
