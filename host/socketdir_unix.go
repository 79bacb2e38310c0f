//go:build unix

package host

import (
	"errors"
	"syscall"
)

// processExists reports whether pid names a live process (signal 0 checks
// without sending; EPERM means it exists but is another user's).
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
