// Package drivers defines how a plugin instance is started and reached.
//
// A Driver turns a Spec (which binary, which arguments, where) into an
// Instance the supervisor hands to go-plugin: either a command for go-plugin
// to start and handshake with (local processes), or a reattach address for a
// plugin already serving in network mode (containers, pods), with the TLS
// configuration to reach it. Drivers are values the host passes around;
// there is no global registry.
//
// Network mode (pluginsdk's network.go) is how remote drivers run plugins:
// the driver sets the environment NetworkEnv returns and the certificates
// an Authority issued for the run, reads the go-plugin handshake line the
// plugin prints (HandshakeWriter, ParseHandshake: the magic cookie and the
// protocol version negotiation still apply), and returns a ReattachConfig
// whose runner ends the container or pod when go-plugin kills the plugin.
package drivers

import (
	"context"
	"crypto/tls"
	"io"
	"os/exec"
	"time"

	"github.com/hashicorp/go-plugin"
)

// Spec describes one plugin instance to start.
type Spec struct {
	// Component is the pipeline address the instance serves, e.g. "sink.out".
	Component string
	// Path is the plugin executable and Args its arguments.
	Path string
	Args []string
	// Env is added to the plugin's environment (NAME=value). A local
	// plugin's environment is otherwise minimal (PluginEnv); a remote one's
	// is its image's.
	Env []string
	// Dir is the working directory; relative paths in the plugin's
	// configuration are resolved against it. Remote drivers resolve
	// relative mount sources against it.
	Dir string
	// Checksum is the SHA-256 the binary at Path must have, from the lock
	// file; go-plugin checks it right before it starts the process, so a
	// binary swapped after flowctl verified it is refused. Nil for plugins
	// the lock file does not pin (the built-ins).
	Checksum []byte

	// Pipeline is the pipeline's name and RunID identifies this apply;
	// remote drivers label what they create with both.
	Pipeline string
	RunID    string
	// Options are the component's driver block settings.
	Options Options
	// Authority issues the certificates of network mode; set for remote
	// drivers.
	Authority *Authority
	// Stdout receives what a remote plugin prints after its handshake, and
	// Stderr its log. go-plugin reads a local process's output itself.
	Stdout, Stderr io.Writer
	// StartTimeout bounds how long a remote driver waits for the plugin to
	// serve once its container or pod was created.
	StartTimeout time.Duration
}

// Options are a driver block's settings (see the hcl package's Driver). A
// driver ignores the ones that are not its own.
type Options struct {
	Image   string
	Env     map[string]string
	Mounts  []string
	Network string
	// CPU in cores and Memory in bytes; 0 is no limit.
	CPU    float64
	Memory int64

	Namespace      string
	Resources      map[string]string
	Labels         map[string]string
	ServiceAccount string
	Kubeconfig     string
	PullPolicy     string
}

// Instance is a started (or startable) plugin instance.
type Instance struct {
	// Cmd, when set, is started by go-plugin, which then handshakes on its
	// stdout.
	Cmd *exec.Cmd
	// Reattach, when set, reaches a plugin that is already serving in
	// network mode; ProtocolVersion is the version its handshake line
	// negotiated, and its runner ends the container or pod.
	Reattach *plugin.ReattachConfig
	// TLS is the client side of the mutual TLS a Reattach plugin serves.
	TLS *tls.Config
	// Where names the instance for people, e.g. "container 3f2a9c01b7de".
	// Empty for local processes (their pid says it).
	Where string
	// Network names where the plugin runs, for its peers: "docker:bridge"
	// for a container on Docker's bridge network. Empty for local processes.
	Network string
	// Peers says where other plugins of the run reach this one directly,
	// by the Network they run on ("" for local processes). A network not
	// listed cannot reach it, and batches to it go through the host.
	Peers map[string]string
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

// Remote is implemented by drivers whose plugins run in network mode; the
// host issues certificates (Spec.Authority) only for them.
type Remote interface {
	Driver
	// CleanStale removes what earlier runs left behind: containers or pods
	// labelled with a run whose host is gone (it crashed, or was killed).
	// specs are the instances about to start, so the driver knows where to
	// look (a daemon, namespaces). It returns what it removed, for the log.
	CleanStale(ctx context.Context, specs []Spec) ([]string, error)
}
