package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
	"github.com/flowctl/flowctl/host/supervisor"
)

// Exit codes of apply beyond 0 (completed) and 1 (failed).
const (
	exitUsage       = 2
	exitInterrupted = 130
)

func applyCommand() *cli.Command {
	return &cli.Command{
		Name:      "apply",
		Aliases:   []string{"run"},
		Usage:     "run a pipeline until its sources end or it is interrupted",
		ArgsUsage: "[FILE|DIR]",
		Description: "Validates the pipeline (FILE, or every .hcl file in DIR; default the current directory) like " +
			"`flowctl validate`, starts one plugin process per component (plugins run in the pipeline's directory, " +
			"so relative paths are relative to it), routes events " +
			"until every source has ended and every sink has acknowledged them, then prints a summary.\n\n" +
			"Delivery is at least once: a source's position is checkpointed (in --state-dir) only once every " +
			"sink it feeds has acknowledged its events, and each apply resumes every source after its " +
			"checkpoint; --reset starts over. A plugin that crashes or hangs is restarted as its restart " +
			"block allows, and what it held is delivered again.\n\n" +
			"Ctrl-C (SIGINT) or SIGTERM stops the sources and drains events already in flight for at most the " +
			"pipeline's shutdown_timeout; a second signal stops at once (checkpoints stay valid: what was not " +
			"acked is delivered again next time). Exit codes: 0 completed, 1 failed, 2 usage error, 130 interrupted.\n\n" +
			"`run` is an alias of `apply`.",
		Flags: append(operateFlags(), loadFlags(
			&cli.DurationFlag{Name: "start-timeout", Value: 30 * time.Second, Usage: "how long a plugin may take to start and handshake, and to answer each request"},
			startParallelismFlag,
			&cli.DurationFlag{Name: "stop-timeout", Value: 10 * time.Second, Usage: "how long a plugin may take to stop before it is killed"},
			&cli.StringFlag{Name: "state-dir", Usage: "directory of the checkpoint file (default: .flowctl/state/<pipeline> in the pipeline's directory)"},
			&cli.BoolFlag{Name: "reset", Usage: "delete the checkpoints first: every source starts from its beginning"},
			&cli.DurationFlag{Name: "shutdown-timeout", Usage: "how long an interrupted run may drain (default: the pipeline's shutdown_timeout, 30s)"},
			&cli.DurationFlag{Name: "health-interval", Value: 5 * time.Second, Usage: "how often each plugin's health is checked; three failures in a row restart it (at most a third of --heartbeat-ttl)"},
			&cli.BoolFlag{Name: "plugin-tls", Usage: "encrypt the connections to local plugins too (they use unix sockets in a private directory, so by default they are not)"},
		)...),
		Action: apply,
	}
}

// controlProcs is the host's GOMAXPROCS while batches go plugin to plugin
// (host.ApplyOptions.ControlProcs): one, unless GOMAXPROCS is set in the
// environment, which wins as it does for any Go program.
func controlProcs() int {
	if _, ok := os.LookupEnv("GOMAXPROCS"); ok {
		return 0
	}
	return 1
}

func apply(c *cli.Context) error {
	ctx, cancel := context.WithCancel(c.Context)
	defer cancel()
	interrupt := make(chan struct{})
	stopSignals := watchSignals(cancel, interrupt)
	defer stopSignals()

	h, plan, err := loadPipeline(ctx, c)
	if err != nil {
		return err
	}
	ops, err := startOperations(ctx, c, h, plan)
	if err != nil {
		return err
	}
	defer ops.stop(context.WithoutCancel(ctx))
	sum, err := h.Apply(ctx, plan, host.ApplyOptions{
		Interrupt:        interrupt,
		StartTimeout:     c.Duration("start-timeout"),
		StartParallelism: c.Int("start-parallelism"),
		StopTimeout:      c.Duration("stop-timeout"),
		StateDir:         c.String("state-dir"),
		Reset:            c.Bool("reset"),
		ShutdownTimeout:  c.Duration("shutdown-timeout"),
		Health:           supervisor.HealthOptions{Interval: ops.healthInterval(c.Duration("health-interval"))},
		Observers:        ops.observers,
		PluginEnv:        ops.cp.pluginEnv,
		PluginTLS:        c.Bool("plugin-tls"),
		ControlProcs:     controlProcs(),
	})
	var cerr *host.ConfigError
	if errors.As(err, &cerr) {
		printDiagnostics(c, plan.Config.Files, cerr.Diagnostics)
		return cli.Exit("", 1)
	}
	if sum != nil {
		sum.WriteTable(c.App.ErrWriter)
	}
	switch {
	case sum != nil && sum.Interrupted && (err == nil || errors.Is(err, context.Canceled)):
		if err != nil {
			fmt.Fprintln(c.App.ErrWriter, "Stopped at once: events in flight were not acked and are delivered again by the next apply.")
		}
		return cli.Exit("", exitInterrupted)
	case sum != nil && sum.Abandoned:
		return cli.Exit("Error: "+flowhcl.Escape(err.Error()), exitInterrupted)
	case err != nil:
		return cli.Exit("Error: "+flowhcl.Escape(err.Error()), 1)
	}
	return nil
}

// watchSignals closes interrupt on the first SIGINT/SIGTERM and cancels on
// the second.
func watchSignals(cancel context.CancelFunc, interrupt chan struct{}) (stop func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		n := 0
		for {
			select {
			case <-ch:
				n++
				if n == 1 {
					close(interrupt)
				} else {
					cancel()
					return
				}
			case <-done:
				return
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}
