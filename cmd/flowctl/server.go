package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/flowctl/flowctl/host/controlplane"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// serverCommand is the standalone control plane, hidden: most people use
// the one `apply` embeds.
func serverCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "address", Value: "127.0.0.1", Usage: "interface to listen on; beyond loopback needs --tls-cert/--tls-key or --insecure"},
		&cli.IntFlag{Name: "port", Value: 0, Usage: "port to listen on; 0 (the default) picks a free one, printed and written to the run file in --state-dir"},
		&cli.StringFlag{Name: "state-dir", Usage: "directory of controlplane.db and of the run file with the address and tokens (default: $XDG_STATE_HOME/flowctl/server, or ~/.local/state/flowctl/server)"},
	}
	flags = append(flags, controlPlaneFlags()...)
	return &cli.Command{
		Name:   "server",
		Hidden: true,
		Usage:  "run a standalone control plane for components and clients elsewhere",
		Description: "Serves the ControlPlane gRPC service until interrupted: components started outside flowctl register " +
			"with it (FLOWCTL_ENDPOINT=host:port) and send heartbeats; `flowctl list` and `flowctl status` read it. " +
			"Each start is a new run: registrations from an earlier start are never reported healthy.",
		Flags: append(flags,
			// A server is watched through its log: state changes show at info.
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log level: trace, debug, info, warn, error", EnvVars: []string{"FLOWCTL_LOG_LEVEL"}},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"}),
		Action: server,
	}
}

func server(c *cli.Context) error {
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	log, err := newLogger(c, c.App.ErrWriter)
	if err != nil {
		return err
	}
	dir := c.String("state-dir")
	if dir == "" {
		dir, err = defaultServerStateDir()
		if err != nil {
			return err
		}
	}
	cp, err := serveControlPlane(ctx, c, log, "", dir, c.String("address"), c.Int("port"), c.App.ErrWriter)
	if err != nil {
		return err
	}
	where := "in memory (--no-persistence)"
	if !c.Bool("no-persistence") {
		where = filepath.Join(dir, "controlplane.db")
	}
	fmt.Fprintf(c.App.ErrWriter, "Control plane listening on %s (run %s, state %s). Ctrl-C stops it.\n", cp.server.Addr(), cp.reg.RunID(), where)
	if cp.server.Token() != "" {
		fmt.Fprintf(c.App.ErrWriter, "Tokens (write and read) are in %s, readable only by you; components registering themselves send one as FLOWCTL_TOKEN.\n", filepath.Join(dir, controlplane.RunFileName))
	}
	<-ctx.Done()
	fmt.Fprintln(c.App.ErrWriter, "Stopping the control plane.")
	if err := cp.reg.End(flowctlv1.RunState_RUN_STATE_COMPLETED, nil, nil); err != nil {
		log.Error("record the end of the server run", "error", err)
	}
	cp.stop(context.WithoutCancel(ctx))
	return nil
}

func defaultServerStateDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "flowctl", "server"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find a state directory (set --state-dir): %w", err)
	}
	return filepath.Join(home, ".local", "state", "flowctl", "server"), nil
}

// newLogger builds the root logger from --log-level and --log-format.
func newLogger(c *cli.Context, out interface{ Write([]byte) (int, error) }) (hclog.Logger, error) {
	level := c.String("log-level")
	if hclog.LevelFromString(level) == hclog.NoLevel {
		return nil, cli.Exit(fmt.Sprintf("invalid --log-level %q: want trace, debug, info, warn or error", level), exitUsage)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name: "flowctl", Level: hclog.LevelFromString(level), Output: out, JSONFormat: c.String("log-format") == "json",
	}), nil
}
