// Package process is the default driver: a plugin runs as a local child
// process that go-plugin starts and handshakes with.
//
// Every plugin gets its own process group, so a terminal's Ctrl-C reaches
// only the host (which then stops plugins in order), and on Linux a
// parent-death signal, so a plugin does not outlive a host that was killed.
// pluginsdk's parent watchdog backs this up where the signal cannot help.
//
// A plugin does not inherit flowctl's environment: it gets PATH, HOME,
// TMPDIR, the locale and TZ, flowctl's protocol variables, and what the
// host sets for it, among them its component's env attribute
// (drivers.PluginEnv).
package process

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/flowctl/flowctl/drivers"
)

// Name is the driver's name in pipeline files.
const Name = "process"

// Driver starts plugins as local processes.
type Driver struct{}

var _ drivers.Driver = Driver{}

// Name implements drivers.Driver.
func (Driver) Name() string { return Name }

// Prepare returns the command go-plugin will start. It checks that the
// binary exists and is executable so the user gets a clear error before any
// handshake is attempted.
func (Driver) Prepare(_ context.Context, spec drivers.Spec) (*drivers.Instance, error) {
	fi, err := os.Stat(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("plugin binary for %s: %w", spec.Component, err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("plugin binary %s for %s is not executable (mode %v): chmod +x it or reinstall the plugin", spec.Path, spec.Component, fi.Mode().Perm())
	}
	// go-plugin starts the command under its own context (the client's
	// lifetime), so no context is bound here.
	cmd := exec.Command(spec.Path, spec.Args...) //nolint:gosec // running plugins is the point
	cmd.Dir = spec.Dir
	// A plugin starts from a minimal environment, not flowctl's (see
	// drivers.PluginEnv); go-plugin adds its handshake variables only, as
	// the supervisor sets SkipHostEnv.
	cmd.Env = drivers.PluginEnv(os.Environ(), spec.Env)
	cmd.SysProcAttr = sysProcAttr()
	return &drivers.Instance{Cmd: cmd, Cleanup: func(context.Context) error { return nil }}, nil
}
