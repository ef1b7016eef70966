package objstoretest

import "testing"

// ServerEnv returns the environment variable name exported by
// scripts/test-servers.sh (source .tools/servers.env), read with getenv:
// the test file's os.Getenv, so this package reads no environment itself.
// When it is missing, the test fails in CI (CI set) or when the servers
// were promised (SKYPLANE_TEST_SERVERS set), since a server the run promised
// is not there; elsewhere it is skipped with the command that starts the
// servers.
func ServerEnv(t testing.TB, getenv func(string) string, name string) string {
	t.Helper()
	if v := getenv(name); v != "" {
		return v
	}
	if getenv("CI") != "" || getenv("SKYPLANE_TEST_SERVERS") != "" {
		t.Fatalf("%s is not set: the test servers are not running (scripts/test-servers.sh start)", name)
	}
	t.Skipf("%s not set: run `scripts/test-servers.sh start && . .tools/servers.env` (or scripts/test.sh) to test against real servers", name)
	return ""
}
