package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	flowhcl "github.com/flowctl/flowctl/hcl"
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
			path, err := pipelineArg(c)
			if err != nil {
				return err
			}
			vars, err := parseVars(c)
			if err != nil {
				return err
			}
			h, err := newHost(c)
			if err != nil {
				return err
			}
			plan, files, diags := h.Load(c.Context, path, vars)
			if len(diags) > 0 {
				_ = flowhcl.WriteDiagnostics(c.App.ErrWriter, files, diags, isTerminal(c.App.ErrWriter))
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

// isTerminal reports whether w is a terminal, for colour.
func isTerminal(w any) bool {
	f, ok := w.(interface{ Fd() uintptr })
	return ok && term.IsTerminal(int(f.Fd()))
}
