package process

import "syscall"

// sysProcAttr puts the plugin in its own process group and has the kernel
// SIGKILL it when the host dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
