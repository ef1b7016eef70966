package lab

import (
	"os"
	"syscall"
	"time"
)

// CPUTime is the user + system CPU time of a finished process and every
// descendant it waited for (the kernel adds a reaped child's usage to its
// parent's): a tool's own threads, skyplane's gateway processes, the
// commands of a shell pipeline. Zero when the platform does not say.
func CPUTime(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
