package status

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc/<pid>/stat's CPU times. Linux has
// reported them in USER_HZ = 100 on every architecture since 2.6 (the
// kernel's own HZ is hidden behind it), and reading sysconf needs cgo.
const clockTick = 10 * time.Millisecond

// procUsage is what /proc tells of one process: the CPU time it used so
// far (user + system) and its resident memory.
type procUsage struct {
	cpu time.Duration
	rss uint64
}

// readProc reads pid's usage from procRoot (/proc).
func readProc(procRoot string, pid int) (procUsage, error) {
	stat, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return procUsage{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields that follow count from the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procUsage{}, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime 15, rss (pages) 24.
	if len(f) < 22 {
		return procUsage{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	rss, err3 := strconv.ParseInt(f[21], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procUsage{}, fmt.Errorf("/proc/%d/stat: unreadable times or rss", pid)
	}
	return procUsage{cpu: time.Duration(utime+stime) * clockTick, rss: uint64(max(rss, 0)) * uint64(os.Getpagesize())}, nil
}
