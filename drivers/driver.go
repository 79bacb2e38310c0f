// Package drivers defines how a plugin instance is started and reached.
//
// A Driver turns a Spec (which binary, which arguments, where) into an
// Instance the supervisor hands to go-plugin: either a command for go-plugin
// to start and handshake with (local processes), or a reattach address for a
// plugin already serving in network mode (containers, pods). Drivers are
// values the host passes around; there is no global registry.
package drivers

import (
	"context"
	"os/exec"

	"github.com/hashicorp/go-plugin"
)

// Spec describes one plugin instance to start.
type Spec struct {
	// Component is the pipeline address the instance serves, e.g. "sink.out".
	Component string
	// Path is the plugin executable and Args its arguments.
	Path string
	Args []string
	// Env is added to the plugin's environment.
	Env []string
	// Dir is the working directory; relative paths in the plugin's
	// configuration are resolved against it.
	Dir string
	// Checksum is the SHA-256 the binary at Path must have, from the lock
	// file; go-plugin checks it right before it starts the process, so a
	// binary swapped after flowctl verified it is refused. Nil for plugins
	// the lock file does not pin (the built-ins).
	Checksum []byte
}

// Instance is a started (or startable) plugin instance.
type Instance struct {
	// Cmd, when set, is started by go-plugin, which then handshakes on its
	// stdout.
	Cmd *exec.Cmd
	// Reattach, when set, reaches a plugin that is already serving.
	Reattach *plugin.ReattachConfig
	// Cleanup releases what the driver created (a container, a pod). It is
	// called once after the plugin was stopped or failed to start, and must
	// work after a partial start.
	Cleanup func(context.Context) error
}

// Driver starts plugin instances.
type Driver interface {
	// Name is the driver's name as written in a pipeline's driver block.
	Name() string
	// Prepare readies an instance of spec. For the process driver that is a
	// command; remote drivers start the plugin and return where it listens.
	Prepare(ctx context.Context, spec Spec) (*Instance, error)
}
