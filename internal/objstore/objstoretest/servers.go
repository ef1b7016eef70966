package objstoretest

import (
	"os"
	"testing"
)

// ServerEnv returns an environment variable exported by
// scripts/test-servers.sh (source .tools/servers.env). When it is missing,
// the test fails in CI (CI set) or when SKYPLANE_TEST_SERVERS is set, since
// a server the run promised is not there; elsewhere it is skipped with the
// command that starts the servers.
func ServerEnv(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	if os.Getenv("CI") != "" || os.Getenv("SKYPLANE_TEST_SERVERS") != "" {
		t.Fatalf("%s is not set: the test servers are not running (scripts/test-servers.sh start)", name)
	}
	t.Skipf("%s not set: run `scripts/test-servers.sh start && . .tools/servers.env` (or scripts/test.sh) to test against real servers", name)
	return ""
}
