package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

var logFlags = []cli.Flag{
	&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "host and plugin log level: trace, debug, info, warn, error", EnvVars: []string{"FLOWCTL_LOG_LEVEL"}},
	&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
}

var varFlag = &cli.StringSliceFlag{
	Name:  "var",
	Usage: "set a variable: -var name=value (repeatable)",
}

// parseVars turns repeated -var name=value flags into a map.
func parseVars(c *cli.Context) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range c.StringSlice("var") {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, cli.Exit(fmt.Sprintf("invalid -var %q: want -var name=value", kv), exitUsage)
		}
		vars[strings.TrimSpace(name)] = value
	}
	return vars, nil
}

// pipelineArg returns the single FILE argument.
func pipelineArg(c *cli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", cli.Exit(fmt.Sprintf("%s needs exactly one pipeline file, e.g. flowctl %s pipeline.hcl", c.Command.Name, c.Command.Name), exitUsage)
	}
	return c.Args().First(), nil
}
