package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/flowctl/flowctl/host/controlplane"
	"github.com/flowctl/flowctl/host/health"
	"github.com/flowctl/flowctl/host/registry"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
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
		&cli.StringFlag{Name: "token", Usage: "require this bearer token on every control plane call", EnvVars: []string{"FLOWCTL_TOKEN"}},
		&cli.BoolFlag{Name: "insecure", Usage: "allow serving the control plane beyond loopback without TLS (prints a warning)"},
	}
}

// servedControlPlane is a registry with its gRPC server.
type servedControlPlane struct {
	reg    *registry.Registry
	server *controlplane.Server
	store  registry.Store
}

// serveControlPlane opens the registry (bbolt in stateDir unless
// --no-persistence) for a new run and listens on host:port. With
// fallback, a busy port is replaced by any free one.
func serveControlPlane(ctx context.Context, c *cli.Context, log hclog.Logger, pipeline, stateDir, host string, port int, fallback bool, ui io.Writer) (*servedControlPlane, error) {
	policy := health.Policy{TTL: c.Duration("heartbeat-ttl"), Interval: c.Duration("janitor-interval")}
	if policy.TTL <= 0 || policy.Interval <= 0 {
		return nil, cli.Exit("--heartbeat-ttl and --janitor-interval must be positive durations", exitUsage)
	}
	if port < 0 || port > 65535 {
		return nil, cli.Exit(fmt.Sprintf("invalid control plane port %d: want 0 (any free port) to 65535", port), exitUsage)
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
	opts := controlplane.Options{
		Logger: log, Address: net.JoinHostPort(host, strconv.Itoa(port)), Token: c.String("token"), Insecure: c.Bool("insecure"),
		TLS: controlplane.TLSFiles{Cert: c.String("tls-cert"), Key: c.String("tls-key"), ClientCA: c.String("tls-client-ca")},
	}
	srv, err := controlplane.Listen(reg, opts)
	if err != nil && fallback && errors.Is(err, syscall.EADDRINUSE) {
		busy := opts.Address
		opts.Address = net.JoinHostPort(host, "0")
		if srv, err = controlplane.Listen(reg, opts); err == nil {
			fmt.Fprintf(ui, "Control plane: %s is in use; listening on %s instead.\n", busy, srv.Addr())
		}
	}
	if err != nil {
		_ = reg.End(flowctlv1.RunState_RUN_STATE_FAILED, err, nil)
		store.Close()
		if errors.Is(err, controlplane.ErrInsecure) {
			return nil, cli.Exit("Error: "+err.Error(), exitUsage)
		}
		return nil, err
	}
	if srv.Warning != "" {
		fmt.Fprintln(ui, srv.Warning)
		log.Warn("control plane serves plaintext beyond loopback", "address", srv.Addr())
	}
	srv.Start(ctx)
	return &servedControlPlane{reg: reg, server: srv, store: store}, nil
}

// stop shuts the server down and closes the store. Ending the run is the
// caller's: a run never ended is found LOST by the next Open.
func (s *servedControlPlane) stop(ctx context.Context) {
	s.server.Shutdown(ctx)
	_ = s.store.Close()
}

// clientFlags say how list and status reach a control plane.
func clientFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "endpoint", Value: controlplane.DefaultEndpoint, Usage: "control plane address (host:port)", EnvVars: []string{"FLOWCTL_ENDPOINT"}},
		&cli.StringFlag{Name: "token", Usage: "bearer token the control plane requires", EnvVars: []string{"FLOWCTL_TOKEN"}},
		&cli.StringFlag{Name: "tls-ca", Usage: "use TLS and verify the control plane's certificate with this PEM CA", EnvVars: []string{"FLOWCTL_TLS_CA"}},
		&cli.StringFlag{Name: "tls-cert", Usage: "client certificate (PEM) for mutual TLS", EnvVars: []string{"FLOWCTL_TLS_CERT"}},
		&cli.StringFlag{Name: "tls-key", Usage: "private key (PEM) of --tls-cert", EnvVars: []string{"FLOWCTL_TLS_KEY"}},
		&cli.StringFlag{Name: "tls-server-name", Usage: "name to verify in the control plane's certificate (default: the endpoint's host)"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "table", Usage: "table or json"},
	}
}

func dialControlPlane(c *cli.Context) (*controlplane.Client, error) {
	switch c.String("output") {
	case "table", "json":
	default:
		return nil, cli.Exit(fmt.Sprintf("invalid -o %q: want table or json", c.String("output")), exitUsage)
	}
	cl, err := controlplane.Dial(controlplane.ClientOptions{
		Endpoint: c.String("endpoint"), Token: c.String("token"), ServerName: c.String("tls-server-name"),
		TLS: controlplane.TLSFiles{CA: c.String("tls-ca"), Cert: c.String("tls-cert"), Key: c.String("tls-key")},
	})
	if err != nil {
		return nil, cli.Exit("Error: "+err.Error(), exitUsage)
	}
	return cl, nil
}
