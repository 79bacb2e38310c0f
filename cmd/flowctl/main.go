// Command flowctl runs streaming data pipelines described in HCL. Every
// source, processor and sink is a plugin process; the built-in ones are
// served by this binary itself, re-executed as a plugin.
package main

import (
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/hashicorp/go-hclog"
	"github.com/urfave/cli/v2"

	"github.com/flowctl/flowctl/drivers"
	"github.com/flowctl/flowctl/drivers/docker"
	"github.com/flowctl/flowctl/drivers/kubernetes"
	"github.com/flowctl/flowctl/drivers/process"
	"github.com/flowctl/flowctl/host"
	"github.com/flowctl/flowctl/host/catalog"
	"github.com/flowctl/flowctl/plugins/cel"
	"github.com/flowctl/flowctl/plugins/discard"
	"github.com/flowctl/flowctl/plugins/file"
	"github.com/flowctl/flowctl/plugins/generator"
	"github.com/flowctl/flowctl/plugins/http"
	"github.com/flowctl/flowctl/plugins/nats"
	"github.com/flowctl/flowctl/plugins/postgres"
	"github.com/flowctl/flowctl/plugins/stdout"
	"github.com/flowctl/flowctl/plugins/transform"
	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/describe"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// version is set at build time (-ldflags -X main.version=...).
var version = "0.1.0-dev"

// hostMemoryLimit is the host's soft memory limit (wire.SetGCDefaults):
// the host forwards batches without decoding them and holds only the few in
// flight, so it needs far less than a plugin may.
const hostMemoryLimit = 128 << 20

// builtinCommand is the hidden first argument that makes flowctl serve one
// of its built-in plugins: `flowctl __plugin NAME`.
const builtinCommand = "__plugin"

func builtinPlugins() []pluginsdk.Plugin {
	ps := []pluginsdk.Plugin{
		generator.Plugin(version),
		file.Plugin(version),
		stdout.Plugin(version),
		discard.Plugin(version),
		transform.Plugin(version),
		// Connectors (issue 8).
		cel.Plugin(version),
		postgres.Plugin(version),
		nats.Plugin(version),
		http.Plugin(version),
	}
	for _, p := range testPlugins {
		ps = append(ps, p(version))
	}
	return ps
}

// testPlugins are built in only by test builds (build tag chaos).
var testPlugins []func(version string) pluginsdk.Plugin

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) >= 3 && args[1] == builtinCommand {
		return serveBuiltin(args[2], args[3:], stderr)
	}
	wire.SetGCDefaults(hostMemoryLimit)
	stopProfile, err := wire.StartCPUProfile("flowctl")
	if err != nil {
		fmt.Fprintf(stderr, "Warning: %v\n", err)
	}
	defer stopProfile()
	app := newApp(stdout, stderr)
	if err := app.Run(args); err != nil {
		var ec cli.ExitCoder
		if asExitCoder(err, &ec) {
			if msg := ec.Error(); msg != "" {
				fmt.Fprintln(stderr, msg)
			}
			return ec.ExitCode()
		}
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

func serveBuiltin(name string, args []string, stderr io.Writer) int {
	i := slices.IndexFunc(builtinPlugins(), func(p pluginsdk.Plugin) bool { return p.Name == name })
	if i < 0 {
		fmt.Fprintf(stderr, "flowctl has no built-in plugin %q\n", name)
		return 1
	}
	// Serve reads the plugin's arguments from os.Args and exits.
	os.Args = append([]string{os.Args[0]}, args...)
	pluginsdk.Serve(builtinPlugins()[i])
	return 0
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return withUsageErrors(&cli.App{
		Name:    "flowctl",
		Usage:   "run streaming data pipelines described in HCL",
		Version: version,
		Description: "A pipeline is an HCL file (or a directory of them) of sources, processors and sinks. " +
			"Each is a plugin process; flowctl starts them, routes events between them with acknowledgements " +
			"and backpressure, and stops them when the sources end or you press Ctrl-C.\n\n" +
			"Built-in plugins (no install needed): generator, file, stdout, discard, transform, cel, postgres, nats, http. Third-party " +
			"plugins are declared in the pipeline's required_plugins, installed with `flowctl plugins install` " +
			"and pinned by `flowctl plugins lock` in .flowctl.lock.hcl.",
		Writer:                 stdout,
		ErrWriter:              stderr,
		HideHelpCommand:        true,
		UseShortOptionHandling: true,
		Commands: []*cli.Command{
			initCommand(),
			validateCommand(),
			planCommand(),
			applyCommand(),
			graphCommand(),
			fmtCommand(),
			pluginsCommand(),
			listCommand(),
			statusCommand(),
			serverCommand(),
			versionCommand(),
		},
	})
}

// newHost builds the host from global settings.
func newHost(c *cli.Context) (*host.Host, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the flowctl binary to serve built-in plugins: %w", err)
	}
	var names []string
	schemas := map[string]*flowctlv1.GetSchemaResponse{}
	for _, p := range builtinPlugins() {
		names = append(names, p.Name)
		schemas[p.Name] = describe.Schema(p)
	}
	level := c.String("log-level")
	if hclog.LevelFromString(level) == hclog.NoLevel {
		return nil, cli.Exit(fmt.Sprintf("invalid --log-level %q: want trace, debug, info, warn or error", level), exitUsage)
	}
	log := hclog.New(&hclog.LoggerOptions{
		Name:       "flowctl",
		Level:      hclog.LevelFromString(level),
		Output:     logOutput{c.App.ErrWriter},
		JSONFormat: c.String("log-format") == "json",
	})
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("find the working directory for ./.flowctl/plugins: %w", err)
	}
	return &host.Host{
		Log:        log,
		SearchPath: catalog.DefaultSearchPath(c.StringSlice("plugin-dir"), os.Getenv, wd),
		Catalog: catalog.New(catalog.Options{
			Executable:  exe,
			BuiltinArgs: func(name string) []string { return []string{builtinCommand, name} },
			Builtins:    names,
			Version:     version,
			// Built-ins are described from their compiled schemas, and an
			// installed binary once per hash: describing must not start a
			// process per plugin on every command.
			BuiltinSchemas: schemas,
			CacheDir:       catalog.DefaultCacheDir(os.Getenv),
			// Running `describe` is starting a plugin: --start-timeout
			// bounds it (commands without the flag keep the default).
			DescribeTimeout: c.Duration("start-timeout"),
		}),
		Drivers:  newDrivers(log),
		UI:       c.App.ErrWriter,
		Stdout:   c.App.Writer,
		LogLevel: level,
	}, nil
}

// newDrivers lists the drivers a pipeline may name; remote ones connect to
// their engine only when a component uses them.
func newDrivers(log hclog.Logger) map[string]drivers.Driver {
	return map[string]drivers.Driver{
		process.Name:    process.Driver{},
		docker.Name:     docker.New(log),
		kubernetes.Name: kubernetes.New(log),
	}
}

func asExitCoder(err error, target *cli.ExitCoder) bool {
	ec, ok := err.(cli.ExitCoder) //nolint:errorlint // urfave/cli returns it unwrapped
	if ok {
		*target = ec
	}
	return ok
}
