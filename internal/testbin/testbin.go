// Package testbin builds the skyplane binary for tests and benchmarks that
// run it as users do (gateway processes, the CLI end to end).
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// Build compiles cmd/skyplane into dir (by import path, so it works from any
// package of the module) and returns the binary's path. With race it is
// built with the race detector. It is always built with the skyplane_faults
// tag: the tests inject faults through SKYPLANE_TEST_* variables that only
// that build reads.
func Build(dir string, race bool) (string, error) {
	bin := filepath.Join(dir, "skyplane")
	args := []string{"build", "-tags", "skyplane_faults", "-o", bin}
	if race {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, "github.com/skyplane-project/skyplane-go/cmd/skyplane")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build skyplane: %v\n%s", err, out)
	}
	return bin, nil
}

var (
	onceMu  sync.Mutex
	onceBin string
)

// Once builds the binary (without the race detector) the first time a
// process asks, into a fresh temporary directory, and returns the same path
// afterwards; a failed build is retried by the next caller.
func Once(prefix string) (string, error) {
	onceMu.Lock()
	defer onceMu.Unlock()
	if onceBin != "" {
		return onceBin, nil
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	bin, err := Build(dir, false)
	if err != nil {
		return "", err
	}
	onceBin = bin
	return bin, nil
}
