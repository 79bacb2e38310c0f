package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/urfave/cli/v2"
)

func planCommand() *cli.Command {
	return &cli.Command{
		Name:      "plan",
		Usage:     "show what apply would run, without starting anything",
		ArgsUsage: "[FILE|DIR]",
		Description: "Validates the pipeline like `flowctl validate` and prints what `flowctl apply` would run: " +
			"each plugin with its address, version, path and hash status (built-in, verified against the lock " +
			"file, or not locked), then the components in topological order with their driver, inputs, batch, " +
			"error and restart settings. No plugin is started (built-ins are described from their compiled schemas, " +
			"an installed binary is asked to describe itself once per hash).",
		Flags: loadFlags(),
		Action: func(c *cli.Context) error {
			_, plan, err := loadPipeline(c.Context, c)
			if err != nil {
				return err
			}
			return plan.WriteText(c.App.Writer)
		},
	}
}

func graphCommand() *cli.Command {
	return &cli.Command{
		Name:      "graph",
		Usage:     "print the pipeline's graph in Graphviz DOT (or SVG)",
		ArgsUsage: "[FILE|DIR]",
		Description: "Validates the pipeline and prints its components and edges as a Graphviz digraph, left to " +
			"right: sources green, processors as ellipses, sinks blue, dead-letter edges dashed red. " +
			"With -format svg the DOT is rendered by Graphviz's `dot`, which must be installed " +
			"(Debian: apt-get install graphviz). Example: flowctl graph | dot -Tpng > pipeline.png",
		Flags: loadFlags(&cli.StringFlag{Name: "format", Value: "dot", Usage: "dot or svg"}),
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "dot" && format != "svg" {
				return cli.Exit(fmt.Sprintf("invalid -format %q: want dot or svg", format), exitUsage)
			}
			_, plan, err := loadPipeline(c.Context, c)
			if err != nil {
				return err
			}
			dot := plan.Graph.DOT(plan.Config.Pipeline.Name)
			if format == "dot" {
				_, err := fmt.Fprint(c.App.Writer, dot)
				return err
			}
			return renderSVG(c, dot)
		},
	}
}

// renderSVG pipes dot through Graphviz.
func renderSVG(c *cli.Context, dot string) error {
	bin, err := exec.LookPath("dot")
	if err != nil {
		return cli.Exit("Error: -format svg needs Graphviz's `dot` on the PATH (Debian: apt-get install graphviz); "+
			"without it, print DOT (the default) and render it elsewhere", 1)
	}
	cmd := exec.CommandContext(c.Context, bin, "-Tsvg")
	cmd.Stdin = strings.NewReader(dot)
	cmd.Stdout = c.App.Writer
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("graphviz dot -Tsvg: %w", err)
	}
	return nil
}
