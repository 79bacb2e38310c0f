//go:build unix

package appendfile

import "syscall"

const (
	w = 0x2 // W_OK
	x = 0x1 // X_OK
)

// access asks the kernel whether this process may write (and enter) path.
func access(path string, mode uint32) error { return syscall.Access(path, mode) }
