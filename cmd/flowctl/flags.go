package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

var logFlags = []cli.Flag{
	&cli.StringFlag{Name: "log-level", Value: "warn", Usage: "host and plugin log level: trace, debug, info, warn, error", EnvVars: []string{"FLOWCTL_LOG_LEVEL"}},
	&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log format: text or json"},
}

var varFlags = []cli.Flag{
	&cli.StringSliceFlag{Name: "var", Usage: "set a variable: -var name=value (repeatable; wins over -var-file and FLOWCTL_VAR_name)"},
	&cli.StringSliceFlag{Name: "var-file", Usage: "read variables from an HCL (or .json) file of name = value lines (repeatable; later files win)"},
}

var pluginDirFlag = &cli.StringSliceFlag{
	Name:  "plugin-dir",
	Usage: "look for installed plugins here first (repeatable); then FLOWCTL_PLUGIN_PATH, ./.flowctl/plugins, $XDG_DATA_HOME/flowctl/plugins, /usr/local/share/flowctl/plugins",
}

var startParallelismFlag = &cli.IntFlag{
	Name:  "start-parallelism",
	Usage: "how many plugins start at once (validate: how many plugin processes run at once); 0: a few per CPU",
}

// loadFlags are the flags of every command that loads a pipeline.
func loadFlags(more ...cli.Flag) []cli.Flag {
	flags := append([]cli.Flag{}, varFlags...)
	flags = append(flags, pluginDirFlag)
	flags = append(flags, more...)
	return append(flags, logFlags...)
}

// varSources gathers the variable values given outside the pipeline.
func varSources(c *cli.Context) (flowhcl.VarSources, error) {
	src := flowhcl.VarSources{Flags: map[string]string{}, Files: c.StringSlice("var-file"), Environ: os.Environ()}
	for _, kv := range c.StringSlice("var") {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return src, cli.Exit(fmt.Sprintf("invalid -var %q: want -var name=value", kv), exitUsage)
		}
		src.Flags[strings.TrimSpace(name)] = value
	}
	return src, nil
}

// pipelineArg returns the pipeline argument: a file, or a directory whose
// .hcl files form one pipeline; the current directory when there is none.
func pipelineArg(c *cli.Context) (string, error) {
	switch c.NArg() {
	case 0:
		return ".", nil
	case 1:
		return c.Args().First(), nil
	}
	return "", cli.Exit(fmt.Sprintf("%s takes one pipeline file or directory, e.g. flowctl %s pipeline.hcl", c.Command.Name, c.Command.Name), exitUsage)
}
