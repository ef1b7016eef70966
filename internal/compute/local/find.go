package local

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Running lists the PIDs of live local gateway processes whose boot file was
// under dir (a dataplane directory, or the whole state directory). Gateways
// exit with their client, so a non-empty answer after the client is gone
// means something went wrong; `skyplane deprovision` stops them.
func Running(dir string) []int {
	dir = filepath.Clean(dir) + string(filepath.Separator)
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) < 4 || args[1] != "gateway" || args[2] != "--boot" || !strings.HasPrefix(args[3], dir) {
			continue
		}
		// A zombie is dead, only not yet reaped by its parent.
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && strings.Contains(string(st), ") Z ") {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// Kill stops the given gateway processes (SIGKILL) and reports how many it
// signalled.
func Kill(pids []int) int {
	n := 0
	for _, pid := range pids {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			n++
		}
	}
	return n
}
