package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/flowctl/flowctl/host"
	"github.com/flowctl/flowctl/host/catalog"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

func pluginsCommand() *cli.Command {
	return &cli.Command{
		Name:  "plugins",
		Usage: "list, install, remove, lock and describe plugins",
		Description: "Installed plugins live in versioned directories, several versions and platforms side by side:\n\n" +
			"  <dir>/<hostname>/<namespace>/<name>/<version>/<os>_<arch>/flowctl-plugin-<name>_v<version>\n\n" +
			"searched in this order: --plugin-dir, FLOWCTL_PLUGIN_PATH (a list like PATH), ./.flowctl/plugins, " +
			"$XDG_DATA_HOME/flowctl/plugins (~/.local/share/...), /usr/local/share/flowctl/plugins. Read-only " +
			"directories work, so a CI image can carry its plugins. A pipeline loads only the plugins its " +
			"flowctl { required_plugins { ... } } block declares, at the highest installed version its constraint " +
			"allows, pinned by the lock file .flowctl.lock.hcl next to the pipeline.",
		Subcommands: []*cli.Command{
			pluginsListCommand(),
			pluginsInstallCommand(),
			pluginsRemoveCommand(),
			pluginsLockCommand(),
			pluginsDescribeCommand(),
		},
	}
}

func pluginsListCommand() *cli.Command {
	return &cli.Command{
		Name:      "list",
		Usage:     "list built-in and installed plugins",
		ArgsUsage: "[PIPELINE]",
		Description: "Lists the built-in plugins and every installed binary on the search path with its version, " +
			"platform, the plugin protocols it speaks and its path. Given a pipeline (default: the current " +
			"directory, when it holds .hcl files), SELECTED marks the binaries it would run and HASH compares each " +
			"with the lock file: locked, MISMATCH (the binary changed), not locked, or not required. COMPONENTS " +
			"are the component types each binary serves; one required_plugins entry makes every one of them usable " +
			"under its own name.",
		Flags: append([]cli.Flag{pluginDirFlag}, logFlags...),
		Action: func(c *cli.Context) error {
			path, err := pipelineArg(c)
			if err != nil {
				return err
			}
			h, err := newHost(c)
			if err != nil {
				return err
			}
			rows, err := h.ListPlugins(c.Context, path)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ADDRESS\tVERSION\tPLATFORM\tPROTOCOL\tHASH\tSELECTED\tCOMPONENTS\tPATH")
			for _, r := range rows {
				sel := ""
				if r.Selected || r.Builtin {
					sel = "*"
				}
				comps := "-"
				if len(r.Components) > 0 {
					comps = strings.Join(r.Components, ", ")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Address, r.Version, r.Platform, protocols(r), r.HashStatus, sel, comps, r.Path)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, r := range rows {
				if r.DescribeErr != nil {
					fmt.Fprintf(c.App.ErrWriter, "Warning: %s %s: %v\n", r.Address, r.Version, r.DescribeErr)
				}
			}
			fmt.Fprintf(c.App.ErrWriter, "Searched: %s\n", strings.Join(h.SearchPath, ", "))
			return nil
		},
	}
}

func protocols(r host.PluginListing) string {
	switch {
	case r.Builtin:
		return "1"
	case r.DescribeErr != nil:
		return "error"
	case len(r.Protocols) == 0:
		return "-"
	}
	s := make([]string, len(r.Protocols))
	for i, p := range r.Protocols {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}

// installRoot is where install writes: the first --plugin-dir, else
// ./.flowctl/plugins.
func installRoot(c *cli.Context) string {
	if dirs := c.StringSlice("plugin-dir"); len(dirs) > 0 {
		return dirs[0]
	}
	return filepath.Join(".flowctl", "plugins")
}

func pluginsInstallCommand() *cli.Command {
	return &cli.Command{
		Name:      "install",
		Usage:     "install a plugin from a binary, a directory, an archive or a URL",
		ArgsUsage: "ADDRESS SOURCE",
		Description: "Installs the plugin binary at SOURCE as ADDRESS ([hostname/]namespace/name, e.g. " +
			"example.com/acme/kafka). SOURCE is a binary, a directory holding it, a .zip or .tar.gz archive, or an " +
			"http(s) URL of either; a URL needs a SHA256SUMS file (by default the one next to it, or --checksums), " +
			"which the download must match. The binary is checked (it must run on the platform, call itself " +
			"NAME, report a semantic version and speak this flowctl's plugin protocol), then renamed into place " +
			"atomically under the first --plugin-dir, default ./.flowctl/plugins. A binary for another platform " +
			"(--platform) cannot be asked its version: give --version.\n\n" +
			"Afterwards, declare it in the pipeline's required_plugins and run `flowctl plugins lock`.",
		Flags: append([]cli.Flag{
			pluginDirFlag,
			&cli.StringFlag{Name: "platform", Usage: "os_arch the binary is built for (default this machine's)"},
			&cli.StringFlag{Name: "version", Usage: "the plugin's version; checked against the binary when it can run here"},
			&cli.StringFlag{Name: "checksums", Usage: "path or URL of a SHA256SUMS file to verify SOURCE against"},
			&cli.BoolFlag{Name: "force", Usage: "replace an installed binary of the same version whose hash differs"},
		}, logFlags...),
		Action: pluginsInstall,
	}
}

func pluginsInstall(c *cli.Context) error {
	if c.NArg() != 2 {
		return cli.Exit("plugins install needs ADDRESS and SOURCE, e.g. flowctl plugins install example.com/acme/upper ./upper_1.0.0_linux_amd64.tar.gz", exitUsage)
	}
	addr, err := catalog.ParseAddress(c.Args().Get(0))
	if err != nil {
		return cli.Exit("Error: "+err.Error(), exitUsage)
	}
	platform := catalog.CurrentPlatform()
	if s := c.String("platform"); s != "" {
		if platform, err = catalog.ParsePlatform(s); err != nil {
			return cli.Exit("Error: "+err.Error(), exitUsage)
		}
	}
	h, err := newHost(c)
	if err != nil {
		return err
	}
	root := installRoot(c)
	res, err := catalog.Install(c.Context, c.Args().Get(1), catalog.InstallOptions{
		Root: root, Address: addr, Version: c.String("version"), Platform: platform,
		Describe: func(ctx context.Context, path string) (*flowctlv1.GetSchemaResponse, error) {
			return h.Catalog.Describe(ctx, &catalog.Plugin{Name: addr.Name, Source: addr.String(), Path: path})
		},
		Checksums: c.String("checksums"), Force: c.Bool("force"), Progress: c.App.ErrWriter,
	})
	if err != nil {
		return cli.Exit("Error: "+err.Error(), 1)
	}
	what := "Installed"
	switch {
	case res.AlreadyInstalled:
		what = "Already installed:"
	case res.Replaced:
		what = "Replaced"
	}
	fmt.Fprintf(c.App.Writer, "%s %s %s (%s) at %s\n  %s\n", what, res.Address, res.Version, res.Platform, res.Path, res.Hash)
	if !res.AlreadyInstalled {
		fmt.Fprintf(c.App.ErrWriter, "Declare it in the pipeline's required_plugins (e.g. %s = { source = %q, version = \"~> %s\" }) and run `flowctl plugins lock`.\n",
			addr.Name, addr.String(), res.Version)
	}
	return nil
}

func pluginsRemoveCommand() *cli.Command {
	return &cli.Command{
		Name:      "remove",
		Usage:     "remove an installed plugin version, or every version",
		ArgsUsage: "ADDRESS [VERSION]",
		Description: "Deletes VERSION of ADDRESS (all its platforms), or every version when VERSION is left out, " +
			"from each plugin directory on the search path that has it (with --plugin-dir, only those directories). " +
			"Empty parent directories are removed too. A pipeline whose lock file pins a removed version fails to " +
			"load until it is reinstalled or re-locked.",
		Flags: append([]cli.Flag{pluginDirFlag}, logFlags...),
		Action: func(c *cli.Context) error {
			if c.NArg() < 1 || c.NArg() > 2 {
				return cli.Exit("plugins remove needs ADDRESS and optionally VERSION", exitUsage)
			}
			addr, err := catalog.ParseAddress(c.Args().Get(0))
			if err != nil {
				return cli.Exit("Error: "+err.Error(), exitUsage)
			}
			ver := c.Args().Get(1)
			roots := c.StringSlice("plugin-dir")
			if len(roots) == 0 {
				h, err := newHost(c)
				if err != nil {
					return err
				}
				roots = h.SearchPath
			}
			return removeFrom(c, roots, addr, ver)
		},
	}
}

// removeFrom removes from every root that has the plugin.
func removeFrom(c *cli.Context, roots []string, addr catalog.Address, ver string) error {
	removed := 0
	for _, root := range roots {
		found, _ := catalog.Scan([]string{root})
		has := false
		for _, in := range found {
			has = has || (in.Address == addr && (ver == "" || in.Version.String() == ver || in.Version.Original() == ver))
		}
		if !has {
			continue
		}
		gone, err := catalog.Remove(root, addr, ver)
		if err != nil {
			return cli.Exit("Error: "+err.Error(), 1)
		}
		for _, in := range gone {
			fmt.Fprintf(c.App.Writer, "Removed %s %s (%s) from %s\n", in.Address, in.Version, in.Platform, root)
			removed++
		}
	}
	if removed == 0 {
		what := addr.String()
		if ver != "" {
			what += " " + ver
		}
		return cli.Exit(fmt.Sprintf("Error: %s is not installed (searched: %s)", what, strings.Join(roots, ", ")), 1)
	}
	return nil
}

func pluginsLockCommand() *cli.Command {
	return &cli.Command{
		Name:      "lock",
		Usage:     "pin the pipeline's plugins in .flowctl.lock.hcl",
		ArgsUsage: "[PIPELINE]",
		Description: "For each plugin in the pipeline's required_plugins, chooses a version (the one already pinned " +
			"while it satisfies the constraint, else the highest installed match; -upgrade always takes the highest) " +
			"and records it with the h1 hashes of its binaries in .flowctl.lock.hcl next to the pipeline. " +
			"-platform (repeatable, default this machine's) adds the hashes of other platforms' builds, which must " +
			"be installed. Commit the lock file: apply refuses a binary whose hash it does not list.",
		Flags: append([]cli.Flag{
			pluginDirFlag,
			&cli.StringSliceFlag{Name: "platform", Usage: "os_arch to hash (repeatable; default this machine's)"},
			&cli.BoolFlag{Name: "upgrade", Usage: "choose the highest matching version even if an older one is pinned"},
		}, logFlags...),
		Action: func(c *cli.Context) error {
			path, err := pipelineArg(c)
			if err != nil {
				return err
			}
			var platforms []catalog.Platform
			for _, s := range c.StringSlice("platform") {
				p, err := catalog.ParsePlatform(s)
				if err != nil {
					return cli.Exit("Error: "+err.Error(), exitUsage)
				}
				platforms = append(platforms, p)
			}
			h, err := newHost(c)
			if err != nil {
				return err
			}
			return lockPipeline(c, h, path, host.LockOptions{Platforms: platforms, Upgrade: c.Bool("upgrade")})
		},
	}
}

// lockPipeline writes the lock file and reports each change.
func lockPipeline(c *cli.Context, h *host.Host, path string, opts host.LockOptions) error {
	lock, changes, files, diags := h.Lock(c.Context, path, opts)
	printDiagnostics(c, files, diags)
	if diags.HasErrors() {
		return cli.Exit("", 1)
	}
	for _, ch := range changes {
		switch ch.Action {
		case "removed":
			fmt.Fprintf(c.App.Writer, "- %s %s: removed (no longer required)\n", ch.Address, ch.Version)
		case "updated":
			from := ""
			if ch.Previous != "" && ch.Previous != ch.Version {
				from = " (was " + ch.Previous + ")"
			}
			fmt.Fprintf(c.App.Writer, "~ %s %s%s: hashes for %s\n", ch.Address, ch.Version, from, strings.Join(ch.Platforms, ", "))
		case "added":
			fmt.Fprintf(c.App.Writer, "+ %s %s: hashes for %s\n", ch.Address, ch.Version, strings.Join(ch.Platforms, ", "))
		default:
			fmt.Fprintf(c.App.Writer, "  %s %s: unchanged\n", ch.Address, ch.Version)
		}
	}
	fmt.Fprintf(c.App.Writer, "Wrote %s (%d plugins).\n", lock.Path, len(lock.Plugins))
	return nil
}

func pluginsDescribeCommand() *cli.Command {
	return &cli.Command{
		Name:      "describe",
		Usage:     "print what a plugin binary provides",
		ArgsUsage: "PATH",
		Description: "Runs the plugin binary at PATH with the argument `describe` (no handshake, nothing is " +
			"configured) and prints its name, version, plugin protocols and components with their configuration " +
			"attributes. -json prints the plugin's own JSON.",
		Flags: append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the raw JSON"}}, logFlags...),
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("plugins describe needs the PATH of a plugin binary", exitUsage)
			}
			path := c.Args().First()
			if err := catalog.CheckBinary(path, catalog.CurrentPlatform()); err != nil {
				return cli.Exit("Error: "+err.Error(), 1)
			}
			h, err := newHost(c)
			if err != nil {
				return err
			}
			schema, err := h.Catalog.Describe(c.Context, &catalog.Plugin{Name: filepath.Base(path), Path: path})
			if err != nil {
				return cli.Exit("Error: "+err.Error(), 1)
			}
			if c.Bool("json") {
				out, err := protojson.MarshalOptions{Multiline: true, UseProtoNames: true}.Marshal(schema)
				if err != nil {
					return err
				}
				fmt.Fprintln(c.App.Writer, string(out))
				return nil
			}
			return writeSchema(c, schema)
		},
	}
}

func writeSchema(c *cli.Context, s *flowctlv1.GetSchemaResponse) error {
	w := c.App.Writer
	fmt.Fprintf(w, "%s %s (plugin protocol %v)\n", s.GetName(), s.GetVersion(), s.GetProtocolVersions())
	var types []string
	for _, comp := range s.GetComponents() {
		types = append(types, fmt.Sprintf("%s %q", wire.KindFromProto(comp.GetKind()), comp.GetName()))
	}
	fmt.Fprintf(w, "Serves %s; one required_plugins entry makes each usable under its own name.\n", strings.Join(types, ", "))
	for _, comp := range s.GetComponents() {
		kind := strings.ToLower(strings.TrimPrefix(comp.GetKind().String(), "KIND_"))
		fmt.Fprintf(w, "\n%s %q: %s\n", kind, comp.GetName(), comp.GetDescription())
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, a := range comp.GetAttributes() {
			var notes []string
			if a.GetRequired() {
				notes = append(notes, "required")
			}
			if d := a.GetDefaultJson(); len(d) > 0 {
				notes = append(notes, "default "+compactJSON(d))
			}
			if a.GetSensitive() {
				notes = append(notes, "sensitive")
			}
			typ := strings.ToLower(strings.TrimPrefix(a.GetType().String(), "ATTRIBUTE_TYPE_"))
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", a.GetName(), typ, strings.Join(notes, ", "), a.GetDescription())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func compactJSON(b []byte) string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}
