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
	// The library reads no environment: its default state directory is
	// ~/.skyplane, so HOME points here.
	os.Setenv("HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
