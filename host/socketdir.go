package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// socketDirPattern names the runs' socket directories in the temporary
// directory; pidFile, inside one, holds the pid of the flowctl that made it.
const (
	socketDirPattern = "flowctl-plugins-"
	pidFile          = "flowctl.pid"
)

// makeSocketDir makes the run's private directory for the plugins' unix
// sockets (os.MkdirTemp: mode 0700) and returns what removes it. It first
// removes the directories of flowctl processes that no longer exist (killed
// with SIGKILL, or the machine lost power), which nothing else would.
func (r *run) makeSocketDir() (cleanup func(), err error) {
	sweepSocketDirs(os.TempDir())
	dir, err := os.MkdirTemp("", socketDirPattern)
	if err != nil {
		return nil, fmt.Errorf("make a directory for the plugins' sockets: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("make a directory for the plugins' sockets: %w", err)
	}
	r.socketDir = dir
	return func() { _ = os.RemoveAll(dir) }, nil
}

// sweepSocketDirs removes the socket directories in tmp whose flowctl is
// gone. A directory without a pid file is left alone: it may be one being
// made right now. A pid that was reused by another process keeps its
// directory until that process ends too; that errs on the side of keeping.
func sweepSocketDirs(tmp string) {
	dirs, err := filepath.Glob(filepath.Join(tmp, socketDirPattern+"*"))
	if err != nil {
		return
	}
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, pidFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() || processExists(pid) {
			continue
		}
		_ = os.RemoveAll(dir) // best effort: the next run tries again
	}
}
