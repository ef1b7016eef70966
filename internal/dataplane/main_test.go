package dataplane

import (
	"os"
	"testing"
)

// TestMain keeps journals and gateway files out of the user's state directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "skyplane-dataplane-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("SKYPLANE_STATE_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
