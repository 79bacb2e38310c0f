package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/flowctl/flowctl/host/controlplane"
	"github.com/flowctl/flowctl/host/health"
	"github.com/flowctl/flowctl/host/registry"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// controlPlaneFlags configure a served control plane, embedded (apply) or
// standalone (server).
func controlPlaneFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "no-persistence", Usage: "keep the control plane's registry in memory instead of controlplane.db in the state directory"},
		&cli.DurationFlag{Name: "heartbeat-ttl", Value: health.DefaultTTL, Usage: "a component without a heartbeat for this long is UNHEALTHY"},
		&cli.DurationFlag{Name: "janitor-interval", Value: health.DefaultInterval, Usage: "how often the control plane looks for components whose heartbeats stopped"},
		&cli.StringFlag{Name: "tls-cert", Usage: "serve the control plane over TLS with this PEM certificate (with --tls-key)", EnvVars: []string{"FLOWCTL_SERVER_TLS_CERT"}},
		&cli.StringFlag{Name: "tls-key", Usage: "PEM private key of --tls-cert", EnvVars: []string{"FLOWCTL_SERVER_TLS_KEY"}},
		&cli.StringFlag{Name: "tls-client-ca", Usage: "require client certificates signed by this PEM CA (mutual TLS)", EnvVars: []string{"FLOWCTL_SERVER_TLS_CLIENT_CA"}},
		&cli.StringFlag{Name: "token", Usage: "the control plane's write token (every call); default: a new random one per run, in the run file (" + controlplane.RunFileName + ", 0600) of the state directory", EnvVars: []string{"FLOWCTL_TOKEN"}},
		&cli.StringFlag{Name: "read-token", Usage: "the control plane's read token (list, status, watch); default: a new random one per run, in the run file", EnvVars: []string{"FLOWCTL_READ_TOKEN"}},
		&cli.BoolFlag{Name: "no-token", Usage: "serve without tokens: only with --tls-client-ca, whose client certificates then authenticate (write role)"},
		&cli.IntFlag{Name: "max-registrations", Value: controlplane.DefaultMaxRegistrations, Usage: "most live components that registered themselves; one more is refused (RESOURCE_EXHAUSTED)"},
		&cli.BoolFlag{Name: "insecure", Usage: "allow serving the control plane beyond loopback without TLS (prints a warning)"},
	}
}

// servedControlPlane is a registry with its gRPC server.
type servedControlPlane struct {
	reg    *registry.Registry
	server *controlplane.Server
	store  registry.Store
	// removeRunFile deletes the run file (address and tokens).
	removeRunFile func()
}

// serveControlPlane opens the registry (bbolt in stateDir unless
// --no-persistence) for a new run, listens on host:port and writes the run
// file, with the address and tokens, into stateDir.
func serveControlPlane(ctx context.Context, c *cli.Context, log hclog.Logger, pipeline, stateDir, host string, port int, ui io.Writer) (*servedControlPlane, error) {
	policy := health.Policy{TTL: c.Duration("heartbeat-ttl"), Interval: c.Duration("janitor-interval")}
	if policy.TTL <= 0 || policy.Interval <= 0 {
		return nil, cli.Exit("--heartbeat-ttl and --janitor-interval must be positive durations", exitUsage)
	}
	if port < 0 || port > 65535 {
		return nil, cli.Exit(fmt.Sprintf("invalid control plane port %d: want 0 (any free port) to 65535", port), exitUsage)
	}
	if c.Int("max-registrations") < 1 {
		return nil, cli.Exit("--max-registrations must be at least 1", exitUsage)
	}
	opts := controlplane.Options{
		Logger: log, Address: net.JoinHostPort(host, strconv.Itoa(port)), Insecure: c.Bool("insecure"),
		Token: c.String("token"), ReadToken: c.String("read-token"), NoToken: c.Bool("no-token"),
		TLS:    controlplane.TLSFiles{Cert: c.String("tls-cert"), Key: c.String("tls-key"), ClientCA: c.String("tls-client-ca")},
		Limits: controlplane.Limits{Registrations: c.Int("max-registrations")},
	}
	// Every run has tokens unless told otherwise, with mutual TLS too:
	// `flowctl status` on this machine has no client certificate.
	if !opts.NoToken {
		if opts.Token == "" {
			opts.Token = controlplane.NewToken()
		}
		if opts.ReadToken == "" {
			opts.ReadToken = controlplane.NewToken()
		}
	}
	var store registry.Store
	if c.Bool("no-persistence") {
		store = registry.NewMemory()
	} else {
		b, err := registry.OpenBolt(stateDir, time.Second)
		if err != nil {
			return nil, err
		}
		store = b
	}
	reg, err := registry.Open(store, registry.Options{Logger: log, Policy: policy, Pipeline: pipeline})
	if err != nil {
		store.Close()
		return nil, err
	}
	srv, err := controlplane.Listen(reg, opts)
	if err != nil {
		_ = reg.End(flowctlv1.RunState_RUN_STATE_FAILED, err, nil)
		store.Close()
		if errors.Is(err, controlplane.ErrInsecure) || errors.Is(err, controlplane.ErrNoClientAuth) {
			return nil, cli.Exit("Error: "+err.Error(), exitUsage)
		}
		return nil, err
	}
	remove, err := controlplane.WriteRunFile(stateDir, controlplane.RunFile{
		Endpoint: srv.Addr(), RunID: reg.RunID(), Pipeline: pipeline, TLS: srv.TLS(), Token: srv.Token(), ReadToken: srv.ReadToken(),
	})
	if err != nil {
		srv.Shutdown(ctx)
		_ = reg.End(flowctlv1.RunState_RUN_STATE_FAILED, err, nil)
		store.Close()
		return nil, err
	}
	if srv.Warning != "" {
		fmt.Fprintln(ui, srv.Warning)
		log.Warn("control plane serves plaintext beyond loopback", "address", srv.Addr())
	}
	srv.Start(ctx)
	return &servedControlPlane{reg: reg, server: srv, store: store, removeRunFile: remove}, nil
}

// stop shuts the server down, removes the run file and closes the store.
// Ending the run is the caller's: a run never ended is found LOST by the
// next Open.
func (s *servedControlPlane) stop(ctx context.Context) {
	s.server.Shutdown(ctx)
	s.removeRunFile()
	_ = s.store.Close()
}

// pluginEnv is what each plugin the host starts learns of the run's
// control plane: where it is, and its own credential, never a run token
// (one left in flowctl's environment is overridden).
func (s *servedControlPlane) pluginEnv(component string) []string {
	return []string{
		wire.EnvRunEndpoint + "=" + s.server.Addr(),
		wire.EnvComponentID + "=" + component,
		wire.EnvToken + "=" + s.server.PluginCredential(component),
	}
}

// clientFlags say how list and status reach a control plane.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "endpoint", Usage: "control plane address (host:port); default: the one running run found in --state-dir, ./.flowctl/state/*/ or the run files of this user", EnvVars: []string{"FLOWCTL_ENDPOINT"}},
		&cli.StringFlag{Name: "state-dir", Usage: "find the control plane, and its token, in the run file (" + controlplane.RunFileName + ") of this state directory"},
		&cli.StringFlag{Name: "token", Usage: "bearer token (read or write); default: the one in the run's run file", EnvVars: []string{"FLOWCTL_TOKEN"}},
		&cli.StringFlag{Name: "tls-ca", Usage: "use TLS and verify the control plane's certificate with this PEM CA", EnvVars: []string{"FLOWCTL_TLS_CA"}},
		&cli.StringFlag{Name: "tls-cert", Usage: "client certificate (PEM) for mutual TLS", EnvVars: []string{"FLOWCTL_TLS_CERT"}},
		&cli.StringFlag{Name: "tls-key", Usage: "private key (PEM) of --tls-cert", EnvVars: []string{"FLOWCTL_TLS_KEY"}},
		&cli.StringFlag{Name: "tls-server-name", Usage: "name to verify in the control plane's certificate (default: the endpoint's host)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table or json"},
	}
}

// dialControlPlane reaches the control plane that --endpoint names, or the
// one whose run file it finds; the token comes from --token, else from the
// run file (the read token: list and status only read).
func dialControlPlane(c *cli.Context) (*controlplane.Client, error) {
	switch c.String("output") {
	case "table", "json":
	default:
		return nil, cli.Exit(fmt.Sprintf("invalid -o %q: want table or json", c.String("output")), exitUsage)
	}
	endpoint, token := c.String("endpoint"), c.String("token")
	if endpoint == "" || token == "" {
		var extra []string
		if dir, err := defaultServerStateDir(); err == nil {
			extra = append(extra, dir)
		}
		rf, err := controlplane.FindRun(endpoint, c.String("state-dir"), extra...)
		switch {
		case err == nil:
			endpoint = rf.Endpoint
			if token == "" {
				token = rf.ReadToken
			}
		case endpoint == "":
			if errors.Is(err, controlplane.ErrNoRun) {
				return nil, cli.Exit("Error: "+err.Error()+": start `flowctl apply` (it serves one while the pipeline runs) or `flowctl server`, or point --endpoint / FLOWCTL_ENDPOINT at one", 1)
			}
			return nil, cli.Exit("Error: "+err.Error(), 1)
		}
	}
	cl, err := controlplane.Dial(controlplane.ClientOptions{
		Endpoint: endpoint, Token: token, ServerName: c.String("tls-server-name"),
		TLS: controlplane.TLSFiles{CA: c.String("tls-ca"), Cert: c.String("tls-cert"), Key: c.String("tls-key")},
	})
	if err != nil {
		return nil, cli.Exit("Error: "+err.Error(), exitUsage)
	}
	return cl, nil
}
