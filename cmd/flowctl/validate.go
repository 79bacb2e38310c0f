package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:      "validate",
		Usage:     "check a pipeline file without running it",
		ArgsUsage: "FILE",
		Description: "Parses FILE, resolves every component's plugin, checks each block against the " +
			"schema its plugin reports, and checks the graph (unknown inputs, cycles, sinks without " +
			"inputs, unread sources). Nothing is started. Problems are printed with file:line:column.",
		Flags: append([]cli.Flag{varFlag}, logFlags...),
		Action: func(c *cli.Context) error {
			_, plan, err := loadPipeline(c.Context, c)
			if err != nil {
				return err
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

// loadPipeline builds the host and loads the FILE argument with the -var
// values, printing diagnostics with file:line:column.
func loadPipeline(ctx context.Context, c *cli.Context) (*host.Host, *host.Plan, error) {
	path, err := pipelineArg(c)
	if err != nil {
		return nil, nil, err
	}
	vars, err := parseVars(c)
	if err != nil {
		return nil, nil, err
	}
	h, err := newHost(c)
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
		_ = flowhcl.WriteDiagnostics(c.App.ErrWriter, files, diags, isTerminal(c.App.ErrWriter))
	}
}

// isTerminal reports whether w is a terminal, for colour.
func isTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
