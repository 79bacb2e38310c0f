package main

import (
	"fmt"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/flowctl/flowctl/proto/wire"
)

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the flowctl version, plugin protocol versions and built-in plugins",
		Action: func(c *cli.Context) error {
			fmt.Fprintf(c.App.Writer, "flowctl %s (%s, %s/%s)\nplugin protocol versions: %v\nbuilt-in plugins:\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH, wire.ProtocolVersions)
			for _, p := range builtinPlugins() {
				fmt.Fprintf(c.App.Writer, "  flowctl/%s %s\n", p.Name, p.Version)
			}
			return nil
		},
	}
}
