//go:build unix && !linux

package process

import "syscall"

// sysProcAttr puts the plugin in its own process group; without a
// parent-death signal, pluginsdk's watchdog ends orphans.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
