package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/flowctl/flowctl/host"
	"github.com/flowctl/flowctl/host/controlplane"
	"github.com/flowctl/flowctl/host/metrics"
)

// operateFlags are apply's flags for operating a run: its control plane,
// metrics endpoint and status display.
func operateFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "control-plane-address", Value: "127.0.0.1", Usage: "interface the run's control plane listens on; beyond loopback needs --tls-cert/--tls-key or --insecure"},
		&cli.IntFlag{Name: "control-plane-port", Value: 0, Usage: "control plane port; 0 (the default) picks a free one, printed at start and written to the run file where `flowctl status` finds it"},
		&cli.StringFlag{Name: "metrics-address", Usage: "serve Prometheus /metrics and /healthz on this host:port (port 0 picks one; printed at start); off by default, loopback only unless --metrics-allow-remote"},
		&cli.BoolFlag{Name: "metrics-allow-remote", Usage: "allow --metrics-address beyond loopback: /metrics and /healthz have no authentication (prints a warning)"},
		&cli.DurationFlag{Name: "progress-interval", Value: 10 * time.Second, Usage: "when stderr is not a terminal, print each component's counters this often (0: never); on a terminal a live block updates instead"},
	}, controlPlaneFlags()...)
}

// operations are what runs beside the pipeline, stopped with it.
type operations struct {
	cp        *servedControlPlane
	metrics   *metrics.Server
	observers []host.Observer
	ttl       time.Duration
}

// startOperations starts the run's control plane (and metrics endpoint),
// and sets h's log and UI up for the status display.
func startOperations(ctx context.Context, c *cli.Context, h *host.Host, plan *host.Plan) (*operations, error) {
	// The terminal's writers come first: everything that logs must write
	// through the status view, or the block's erasing goes wrong.
	out := c.App.ErrWriter
	f, isFile := out.(*os.File)
	live := isFile && term.IsTerminal(int(f.Fd())) && os.Getenv("TERM") != "dumb"
	interval := c.Duration("progress-interval")
	if live {
		interval = 500 * time.Millisecond
	}
	width := func() int {
		if w, _, err := term.GetSize(int(f.Fd())); err == nil {
			return w
		}
		return 0
	}
	view := newStatusView(out, live, interval, width, nil)
	if live {
		var addrs []string
		for _, pc := range plan.Components {
			addrs = append(addrs, pc.Address().String())
		}
		w := view.Writer()
		h.UI = w
		json := c.String("log-format") == "json"
		logOut := w
		if !json && useColor(f) { // JSON lines stay machine-readable
			logOut = newComponentColors(w, addrs)
		}
		h.Log = hclog.New(&hclog.LoggerOptions{
			Name: "flowctl", Level: hclog.LevelFromString(c.String("log-level")), Output: logOut, JSONFormat: json,
		})
	}
	stateDir := c.String("state-dir")
	if stateDir == "" {
		stateDir = host.DefaultStateDir(plan)
	}
	cp, err := serveControlPlane(ctx, c, h.Log, plan.Config.Pipeline.Name, stateDir,
		c.String("control-plane-address"), c.Int("control-plane-port"), h.UI)
	if err != nil {
		return nil, err
	}
	ops := &operations{cp: cp, ttl: cp.reg.Policy().TTL}
	view.run = cp.reg.Run
	if err := cp.reg.SetPid(os.Getpid()); err != nil {
		h.Log.Warn("record the host pid", "error", err)
	}
	secure := ""
	if cp.server.TLS() {
		secure = " (TLS)"
	}
	say(h, "Control plane: %s%s, run %s. In another terminal: FLOWCTL_ENDPOINT=%s flowctl status\n", cp.server.Addr(), secure, cp.reg.RunID(), cp.server.Addr())

	m := metrics.New(metrics.Build{Version: version})
	if addr := c.String("metrics-address"); addr != "" {
		remote, err := metrics.Remote(addr)
		if err != nil {
			ops.stop(ctx)
			return nil, cli.Exit("Error: --metrics-address: "+err.Error(), exitUsage)
		}
		if remote && !c.Bool("metrics-allow-remote") {
			ops.stop(ctx)
			return nil, cli.Exit(fmt.Sprintf("Error: refusing to serve /metrics and /healthz on %s, beyond loopback: they have no authentication and tell anyone who reaches them the pipeline's components and counters; give --metrics-allow-remote to serve them anyway, or a loopback address", addr), exitUsage)
		}
		srv, err := metrics.Listen(addr, m, cp.reg.States, h.Log)
		if err != nil {
			ops.stop(ctx)
			return nil, err
		}
		ops.metrics = srv
		if remote {
			h.Log.Warn("/metrics and /healthz are served beyond loopback without authentication (--metrics-allow-remote)", "address", srv.Addr())
		}
		say(h, "Metrics: http://%s/metrics and http://%s/healthz\n", srv.Addr(), srv.Addr())
	}

	ops.observers = []host.Observer{controlplane.NewReporter(cp.reg, h.Log), m, view}
	return ops, nil
}

// healthInterval keeps the host's heartbeats for its plugins (their health
// checks) well inside the TTL.
func (o *operations) healthInterval(want time.Duration) time.Duration {
	if ttl := o.ttl / 3; want <= 0 || want > ttl {
		return ttl
	}
	return want
}

func (o *operations) stop(ctx context.Context) {
	if o.metrics != nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		o.metrics.Shutdown(sctx)
		cancel()
	}
	o.cp.stop(ctx)
}

// say writes a line for a person where the host writes its progress.
func say(h *host.Host, format string, args ...any) {
	if h.UI != nil {
		fmt.Fprintf(h.UI, format, args...)
	}
}
