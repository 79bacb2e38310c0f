package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a pipeline without running it",
		ArgsUsage: "[FILE|DIR]",
		Description: "Parses the pipeline (FILE, or every .hcl file in DIR; default the current directory), " +
			"resolves every component's plugin (checking versions and the lock file's hashes), checks each " +
			"block against the schema its plugin reports, and checks the graph (unknown inputs, cycles, sinks " +
			"without inputs, unread sources). Then each plugin binary is started once to check the configuration of " +
			"every component it serves (values out of range, expressions that do not compile) without opening " +
			"anything, and stopped; --start-parallelism bounds how many run at once. " +
			"Problems are printed with file:line:column; with -json, as one JSON document on stdout (exit code 1 " +
			"when it is not valid).",
		Flags: loadFlags(
			&cli.BoolFlag{Name: "json", Usage: "print the result as JSON on stdout"},
			&cli.DurationFlag{Name: "start-timeout", Value: 30 * time.Second, Usage: "how long a plugin may take to start and handshake, and to answer each request"},
			startParallelismFlag,
		),
		Action: func(c *cli.Context) error {
			// A signal stops the plugins and removes the run's socket
			// directory before flowctl exits, instead of killing it midway.
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			c.Context = ctx
			if c.Bool("json") {
				return validateJSON(c)
			}
			h, plan, err := loadPipeline(c.Context, c)
			if err != nil {
				return err
			}
			diags, err := h.CheckConfig(c.Context, plan, checkOptions(c))
			if ctx.Err() != nil {
				return cli.Exit("Interrupted: the plugins were stopped before they all checked their configuration.", exitInterrupted)
			}
			if err != nil {
				return cli.Exit("Error: "+flowhcl.Escape(err.Error()), 1)
			}
			if len(diags) > 0 {
				printDiagnostics(c, plan.Config.Files, diags)
			}
			if diags.HasErrors() {
				return cli.Exit("", 1)
			}
			var names []string
			for _, comp := range plan.Components {
				names = append(names, comp.Address().String())
			}
			fmt.Fprintf(c.App.Writer, "The pipeline %q is valid: %d components (%s).\n", plan.Config.Pipeline.Name, len(names), strings.Join(names, ", "))
			return nil
		},
	}
}

func validateJSON(c *cli.Context) error {
	h, path, vars, err := loadArgs(c)
	if err != nil {
		return err
	}
	plan, files, diags := h.Load(c.Context, path, vars)
	if plan != nil {
		more, err := h.CheckConfig(c.Context, plan, checkOptions(c))
		if c.Context.Err() != nil {
			return cli.Exit("Interrupted: the plugins were stopped before they all checked their configuration.", exitInterrupted)
		}
		if err != nil {
			more = hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Plugin failed", Detail: err.Error()}}
		}
		diags = append(diags, more...)
	}
	report := flowhcl.NewJSONReport(files, diags)
	out, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the report: %w", err)
	}
	fmt.Fprintln(c.App.Writer, string(out))
	if !report.Valid {
		return cli.Exit("", 1)
	}
	return nil
}

func checkOptions(c *cli.Context) host.CheckOptions {
	return host.CheckOptions{StartTimeout: c.Duration("start-timeout"), Parallelism: c.Int("start-parallelism")}
}

// loadArgs builds the host and reads the pipeline argument and variables.
func loadArgs(c *cli.Context) (*host.Host, string, flowhcl.VarSources, error) {
	path, err := pipelineArg(c)
	if err != nil {
		return nil, "", flowhcl.VarSources{}, err
	}
	vars, err := varSources(c)
	if err != nil {
		return nil, "", vars, err
	}
	h, err := newHost(c)
	return h, path, vars, err
}

// loadPipeline builds the host and loads the pipeline argument with the
// variable values, printing diagnostics (warnings too) with file:line:column.
func loadPipeline(ctx context.Context, c *cli.Context) (*host.Host, *host.Plan, error) {
	h, path, vars, err := loadArgs(c)
	if err != nil {
		return nil, nil, err
	}
	plan, files, diags := h.Load(ctx, path, vars)
	printDiagnostics(c, files, diags)
	if diags.HasErrors() {
		return nil, nil, cli.Exit("", 1)
	}
	return h, plan, nil
}

func printDiagnostics(c *cli.Context, files map[string]*hcl.File, diags hcl.Diagnostics) {
	if len(diags) > 0 {
		_ = flowhcl.WriteDiagnosticsLimit(c.App.ErrWriter, files, diags, useColor(c.App.ErrWriter), flowhcl.MaxPrintedDiagnostics)
		if !diags.HasErrors() {
			fmt.Fprintln(c.App.ErrWriter) // set warnings apart from what follows
		}
	}
}

// useColor reports whether what is written to w may be coloured: w is a
// terminal and the user did not set NO_COLOR (https://no-color.org: any
// non-empty value turns colour off).
func useColor(w any) bool {
	if os.Getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
