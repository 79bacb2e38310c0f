// Package supervisor manages plugin instances: one Instance per pipeline
// component, started through a driver, handshaked with go-plugin (gRPC
// only), then configured and streamed by the host.
//
// # Local transport
//
// A local plugin serves on a unix socket. Given Options.SocketDir, a
// directory only this user may enter (the host makes one per run, mode
// 0700), the plugin creates its socket there and the connection carries no
// TLS: nobody but this user (and root) can reach the socket, and go-plugin's
// automatic mutual TLS would not keep those out either — its client
// certificate travels in the plugin's environment, readable by the same
// user. TLS on a local socket is therefore cost without protection: it
// encrypts every batch twice per hop (about an eighth of a pipeline's CPU,
// see BENCHMARKS.md). Options.TLS turns it on anyway, and without a
// SocketDir (go-plugin's shared temporary directory) it is always on.
// Remote plugins (network mode) always use TLS.
//
// Remote drivers (docker, kubernetes) hand back a reattach address instead of
// a command: the plugin serves in network mode, and the supervisor attaches
// with go-plugin's reattach over the mutual TLS the driver set up, using the
// protocol version the plugin's handshake line negotiated. Their output
// comes through the driver: the log is relayed under the component's name
// as go-plugin does for local processes.
//
// An Instance owns its go-plugin client. Stop asks the plugin to drain and
// tear down (Stop RPC), then kills it; Kill skips the request. Either leaves
// no process behind, and both are safe to call after a failed start.
package supervisor

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/drivers"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// ErrPluginStart is wrapped by every error about a plugin that could not be
// started or handshaked with.
var ErrPluginStart = errors.New("plugin failed to start")

// DefaultStartTimeout bounds a plugin's start and handshake unless Options
// say otherwise.
const DefaultStartTimeout = 30 * time.Second

// Options configure how instances start.
type Options struct {
	Logger hclog.Logger
	// StartTimeout bounds the handshake; default 30s.
	StartTimeout time.Duration
	// LogLevel is passed to plugins (FLOWCTL_LOG_LEVEL).
	LogLevel string
	// Stdout receives what plugins write to their standard output after the
	// handshake (the stdout sink); nil discards it.
	Stdout io.Writer
	// SocketDir is a private directory (mode 0700) for local plugins' unix
	// sockets; see the package doc. Empty: go-plugin's default, with TLS.
	SocketDir string
	// TLS turns on go-plugin's automatic mutual TLS for local plugins even
	// in a private SocketDir.
	TLS bool
}

// Instance is one running plugin process (or remote plugin) serving one
// component.
type Instance struct {
	Address string
	Driver  string
	// Path is the plugin binary, for messages.
	Path string
	// Where names a remote instance ("container 3f2a9c01b7de"); empty for
	// local processes.
	Where string

	log    hclog.Logger
	client *plugin.Client
	inst   *drivers.Instance
	conn   *grpc.ClientConn
	stderr *tailBuffer
	// startTimeout is named in the error of a plugin that does not
	// handshake in time.
	startTimeout time.Duration
	Plugin       flowctlv1.PluginClient
	Protocol     int
	// tls: go-plugin's automatic TLS guards the local plugin's socket.
	tls bool
}

// Start starts the instance described by spec through driver and completes
// the handshake.
func Start(ctx context.Context, driver drivers.Driver, spec drivers.Spec, opts Options) (*Instance, error) {
	if opts.StartTimeout == 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	log := opts.Logger.Named(spec.Component)
	if opts.LogLevel != "" {
		spec.Env = append(spec.Env, wire.EnvLogLevel+"="+opts.LogLevel)
	}
	if opts.SocketDir != "" {
		spec.Env = append(spec.Env, plugin.EnvUnixSocketDir+"="+opts.SocketDir)
	}
	in := &Instance{Address: spec.Component, Driver: driver.Name(), Path: spec.Path, log: log, stderr: newTailBuffer(20), startTimeout: opts.StartTimeout}
	spec.Stdout = opts.Stdout
	spec.Stderr = io.MultiWriter(in.stderr, &logRelay{log: log})
	spec.StartTimeout = opts.StartTimeout
	di, err := driver.Prepare(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w%s", ErrPluginStart, spec.Component, err, in.stderrHint())
	}
	in.inst, in.Where = di, di.Where
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  wire.HandshakeConfig(),
		VersionedPlugins: wire.VersionedPlugins(nil),
		Cmd:              di.Cmd,
		Reattach:         di.Reattach,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         di.Cmd != nil && (opts.TLS || opts.SocketDir == ""),
		StartTimeout:     opts.StartTimeout,
		Logger:           log,
		Stderr:           in.stderr,
		SyncStdout:       opts.Stdout,
		GRPCDialOptions:  wire.DialOptions(),
		// The driver's command carries the whole environment already;
		// go-plugin appending flowctl's own after it would override what
		// the spec sets (a plugin's credential over the run's token).
		SkipHostEnv: true,
	}
	if di.Reattach != nil {
		// A reattached client dispenses from Plugins, for the version the
		// plugin's handshake line negotiated.
		cfg.Plugins = wire.VersionedPlugins(nil)[di.Reattach.ProtocolVersion]
		cfg.TLSConfig = di.TLS
	}
	if len(spec.Checksum) > 0 && di.Cmd != nil {
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: spec.Checksum, Hash: sha256.New()}
	}
	in.tls = cfg.AutoMTLS
	in.client = plugin.NewClient(cfg)
	if err := in.handshake(ctx); err != nil {
		in.Kill(ctx)
		return nil, err
	}
	return in, nil
}

func (in *Instance) handshake(ctx context.Context) error {
	type result struct {
		rpc plugin.ClientProtocol
		err error
	}
	done := make(chan result, 1)
	// go-plugin's Client has no context; bound it by ours.
	go func() {
		rpc, err := in.client.Client()
		done <- result{rpc, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		in.client.Kill()
		<-done
		return fmt.Errorf("%w: %s: %w", ErrPluginStart, in.Address, ctx.Err())
	}
	if r.err != nil {
		// Kill first: it waits for the plugin's stderr to be read, so the
		// hint holds the plugin's last words.
		in.client.Kill()
		return fmt.Errorf("%w: %s: %w%s", ErrPluginStart, in.Address, in.explain(r.err), in.stderrHint())
	}
	raw, err := r.rpc.Dispense(wire.PluginSetName)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrPluginStart, in.Address, err)
	}
	conn, ok := raw.(*grpc.ClientConn)
	if !ok {
		return fmt.Errorf("%w: %s: unexpected plugin client %T", ErrPluginStart, in.Address, raw)
	}
	in.conn = conn
	in.Plugin = flowctlv1.NewPluginClient(conn)
	in.Protocol = in.client.NegotiatedVersion()
	if in.inst.Reattach != nil {
		in.Protocol = in.inst.Reattach.ProtocolVersion
	}
	return nil
}

// Location names where the plugin runs, for people: "pid 1234" or the
// remote driver's words ("container 3f2a9c01b7de").
func (in *Instance) Location() string {
	if in.Where != "" {
		return in.Where
	}
	return fmt.Sprintf("pid %d", in.Pid())
}

// RemoteAddr is the address a remote plugin is reached at; "" for local
// processes.
func (in *Instance) RemoteAddr() string {
	if in.inst != nil && in.inst.Reattach != nil && in.inst.Reattach.Addr != nil {
		return in.inst.Reattach.Addr.String()
	}
	return ""
}

// Pid is the plugin's process id, or 0 when it is not a local process.
func (in *Instance) Pid() int {
	if rc := in.client.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

func (in *Instance) stderrHint() string {
	lines := in.stderr.Lines()
	if len(lines) == 0 {
		return ""
	}
	return "\nlast plugin output:\n  " + strings.Join(lines, "\n  ")
}

// Schema asks the plugin for its components.
func (in *Instance) Schema(ctx context.Context) (*flowctlv1.GetSchemaResponse, error) {
	resp, err := in.Plugin.GetSchema(ctx, &flowctlv1.GetSchemaRequest{})
	if err != nil {
		if unreachable := in.unreachable(err); unreachable != nil {
			return nil, unreachable
		}
		return nil, in.wrap("get schema", err)
	}
	return resp, nil
}

// unreachable explains the first call after the handshake failing to
// connect: the plugin announced an address it does not serve on (gRPC says
// only "Unavailable ... dial unix ..."). Nil for any other error.
func (in *Instance) unreachable(err error) error {
	if status.Code(err) != codes.Unavailable {
		return nil
	}
	addr := "the address in its handshake line"
	if rc := in.client.ReattachConfig(); rc != nil && rc.Addr != nil {
		addr = rc.Addr.Network() + " " + rc.Addr.String()
	}
	where := in.Path
	if in.Where != "" {
		where += " (" + in.Where + ")"
	}
	return fmt.Errorf("%w: %s: %s completed the plugin handshake but does not answer at %s, where it said it serves: %s. "+
		"A flowctl plugin serves where its handshake line says (pluginsdk.Serve does that); is this binary a flowctl plugin built with pluginsdk?%s",
		ErrPluginStart, in.Address, where, addr, status.Convert(err).Message(), in.stderrHint())
}

// Configure configures the instance as component (of kind) with the JSON
// object config, returning the plugin's diagnostics.
func (in *Instance) Configure(ctx context.Context, kind flowctlv1.Kind, component string, config []byte) ([]*flowctlv1.Diagnostic, error) {
	resp, err := in.Plugin.Configure(ctx, &flowctlv1.ConfigureRequest{
		Kind: kind, Component: component, Address: in.Address, ConfigJson: config,
	})
	if err != nil {
		return nil, in.wrap("configure", err)
	}
	return resp.GetDiagnostics(), nil
}

// Check asks the plugin to check config as component (of kind) at address
// without keeping it (validate_only), so one instance checks every
// component its plugin serves. It returns the plugin's diagnostics.
func (in *Instance) Check(ctx context.Context, kind flowctlv1.Kind, component, address string, config []byte) ([]*flowctlv1.Diagnostic, error) {
	resp, err := in.Plugin.Configure(ctx, &flowctlv1.ConfigureRequest{
		Kind: kind, Component: component, Address: address, ConfigJson: config, ValidateOnly: true,
	})
	if err != nil {
		return nil, in.wrap("check "+address, err)
	}
	return resp.GetDiagnostics(), nil
}

// SourceStream opens the instance's source stream under ctx; cancelling ctx
// ends it.
func (in *Instance) SourceStream(ctx context.Context) (flowctlv1.Source_StreamClient, error) {
	s, err := flowctlv1.NewSourceClient(in.conn).Stream(ctx)
	return s, in.wrap("open source stream", err)
}

// ProcessorStream opens the instance's processor stream.
func (in *Instance) ProcessorStream(ctx context.Context) (flowctlv1.Processor_StreamClient, error) {
	s, err := flowctlv1.NewProcessorClient(in.conn).Stream(ctx)
	return s, in.wrap("open processor stream", err)
}

// SinkStream opens the instance's sink stream.
func (in *Instance) SinkStream(ctx context.Context) (flowctlv1.Sink_StreamClient, error) {
	s, err := flowctlv1.NewSinkClient(in.conn).Stream(ctx)
	return s, in.wrap("open sink stream", err)
}

// NodeStream opens the instance's protocol 2 control stream (Node.Run)
// under ctx; the plugin's batches then go to its peers directly.
func (in *Instance) NodeStream(ctx context.Context) (flowctlv1.Node_RunClient, error) {
	s, err := flowctlv1.NewNodeClient(in.conn).Run(ctx)
	return s, in.wrap("open node stream", err)
}

// Network names where the plugin runs, as drivers.Instance.Network does:
// "" for a local process.
func (in *Instance) Network() string {
	if in.inst == nil {
		return ""
	}
	return in.inst.Network
}

// HostOnlyTLS reports whether the plugin is local and serves with
// go-plugin's TLS, whose certificate only the host holds: no other plugin
// can reach it.
func (in *Instance) HostOnlyTLS() bool {
	return in.inst != nil && in.inst.Cmd != nil && in.tls
}

// PeerAddr is where a plugin running on network from reaches this one's
// Edge service, or "" when it cannot. A local plugin serves on a unix
// socket in the run's private directory ("unix:/path"), which only other
// local plugins reach, and only when go-plugin's TLS is off (its
// certificate is the host's alone); a remote one where its driver says.
func (in *Instance) PeerAddr(from string) string {
	if in.inst == nil {
		return ""
	}
	if in.inst.Cmd == nil {
		return in.inst.Peers[from]
	}
	if from != "" || in.tls {
		return ""
	}
	rc := in.client.ReattachConfig()
	if rc == nil || rc.Addr == nil || rc.Addr.Network() != "unix" {
		return ""
	}
	return "unix:" + rc.Addr.String()
}

func (in *Instance) wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	if in.client.Exited() {
		return fmt.Errorf("%s: %s: plugin exited: %w%s", in.Address, what, err, in.stderrHint())
	}
	return fmt.Errorf("%s: %s: %w", in.Address, what, err)
}

// Stop asks the plugin to finish (Stop RPC, bounded by ctx) and then ends
// the process. It is safe to call more than once.
func (in *Instance) Stop(ctx context.Context) {
	if in.Plugin != nil && !in.client.Exited() {
		if _, err := in.Plugin.Stop(ctx, &flowctlv1.StopRequest{}); err != nil {
			in.log.Debug("stop request failed", "error", err)
		}
	}
	in.Kill(ctx)
}

// Kill ends the plugin without asking it first, and releases what its
// driver created.
func (in *Instance) Kill(ctx context.Context) {
	// go-plugin's Kill first asks the plugin to shut down over RPC and waits
	// for that forever when the plugin is hung (or stopped): give it a
	// moment, then end the process, which ends the RPC.
	done := make(chan struct{})
	go func() {
		in.client.Kill()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(killGrace):
		in.log.Warn("plugin did not shut down; killing its process")
		in.killProcess(ctx)
		<-done
	}
	in.cleanup(ctx)
}

// killGrace is how long Kill lets go-plugin shut a plugin down politely.
const killGrace = 3 * time.Second

// Abort ends a plugin known to be broken (hung, or crashed) at once.
func (in *Instance) Abort(ctx context.Context) {
	in.killProcess(ctx)
	in.client.Kill()
	in.cleanup(ctx)
}

func (in *Instance) killProcess(ctx context.Context) {
	if in.inst == nil {
		return
	}
	if in.inst.Cmd != nil && in.inst.Cmd.Process != nil {
		_ = in.inst.Cmd.Process.Kill()
	}
	// A remote plugin's runner ends its container or pod.
	if rc := in.inst.Reattach; rc != nil && rc.ReattachFunc != nil {
		if r, err := rc.ReattachFunc(); err == nil {
			if err := r.Kill(ctx); err != nil {
				in.log.Warn("kill remote plugin", "instance", in.Where, "error", err)
			}
		}
	}
}

func (in *Instance) cleanup(ctx context.Context) {
	if in.inst != nil && in.inst.Cleanup != nil {
		if err := in.inst.Cleanup(ctx); err != nil {
			in.log.Warn("driver cleanup failed", "error", err)
		}
		in.inst.Cleanup = nil
	}
}

// LastOutput returns the plugin's last lines of standard error (its log),
// oldest first.
func (in *Instance) LastOutput() []string { return in.stderr.Lines() }

// Exited reports whether the plugin process has ended.
func (in *Instance) Exited() bool { return in.client.Exited() }

// HealthOptions tune Watch.
type HealthOptions struct {
	// Interval between Health requests; each may take as long. Default 5s.
	Interval time.Duration
	// Failures is how many requests in a row may fail before the plugin is
	// declared hung. Default 3.
	Failures int
	// Report, when set, hears the outcome of every check: nil for a
	// serving plugin (the host's heartbeat for it), else the failure.
	Report func(err error)
}

// Watch asks the plugin for its health every interval until ctx is done.
// When the plugin has exited, or has failed opts.Failures requests in a row
// (it is hung or broken), Watch kills it, so that its streams fail and the
// host restarts it, and returns the reason. It returns nil when ctx ends.
func (in *Instance) Watch(ctx context.Context, opts HealthOptions) error {
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	if opts.Failures <= 0 {
		opts.Failures = 3
	}
	tick := time.NewTicker(opts.Interval)
	defer tick.Stop()
	failed := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if in.client.Exited() {
			if in.Where != "" {
				return fmt.Errorf("%s: plugin exited (%s)", in.Address, in.Where)
			}
			return fmt.Errorf("%s: plugin process exited", in.Address)
		}
		hctx, cancel := context.WithTimeout(ctx, opts.Interval)
		resp, err := in.Plugin.Health(hctx, &flowctlv1.HealthRequest{})
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil && resp.GetStatus() == flowctlv1.HealthResponse_STATUS_SERVING:
			failed = 0
			if opts.Report != nil {
				opts.Report(nil)
			}
			continue
		case err == nil:
			err = fmt.Errorf("not serving: %s", resp.GetMessage())
		}
		failed++
		if opts.Report != nil {
			opts.Report(err)
		}
		in.log.Warn("health check failed", "error", err, "failures", failed)
		if failed >= opts.Failures {
			in.Abort(ctx)
			return fmt.Errorf("%s: %d health checks failed in a row (last: %w); plugin killed", in.Address, failed, err)
		}
	}
}
