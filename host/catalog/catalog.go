// Package catalog finds the plugins flowctl can run, installs and removes
// them, and describes them.
//
// # Built-in plugins
//
// A component type in a pipeline (`sink "file" ...`) names a plugin by its
// local name. Built-in plugins (namespace [BuiltinNamespace]) are served by
// the flowctl binary itself, re-executed as a separate plugin process, so a
// fresh build runs pipelines with no install step. [Catalog] holds them.
//
// # Installed plugins
//
// Every other plugin is a binary addressed as [Address]
// `[hostname/]namespace/name` and installed under a plugin directory (a
// root) in this layout, so that many versions and platforms sit side by
// side:
//
//	<root>/<hostname>/<namespace>/<name>/<version>/<os>_<arch>/flowctl-plugin-<name>_v<version>
//
// The version directory is a canonical semantic version ("1.2.0", no "v").
// Entries whose names start with a dot are the catalog's own work in
// progress (".install-*" staging, directories being removed) and are never
// plugins.
//
// # Search path and selection
//
// [DefaultSearchPath] lists the roots in priority order: --plugin-dir,
// FLOWCTL_PLUGIN_PATH, ./.flowctl/plugins, $XDG_DATA_HOME/flowctl/plugins,
// /usr/local/share/flowctl/plugins. [Scan] only reads, so read-only roots
// (a CI image's) work; what does not fit the layout is reported as a problem
// and skipped. [Select] picks the highest installed version that satisfies
// the pipeline's constraints for a platform; for equal versions the earliest
// root wins, so --plugin-dir overrides system directories.
//
// # Hashes and verification
//
// A binary's lock-file hash is the "h1:" dirhash of the single file
// ([Hash]); its plain SHA-256 feeds go-plugin's SecureConfig so the host
// runs exactly the bytes it checked. Nothing is executed before
// [CheckBinary] has confirmed it is an executable regular file built for the
// platform. [Install] verifies a SHA256SUMS line (required for downloads),
// the platform, and what the binary says it is, and only then renames the
// staged copy into place, so a plugin directory never holds a half-written
// binary. [Remove] renames directories aside before deleting them for the
// same reason.
package catalog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// BuiltinNamespace is the namespace of the plugins shipped with flowctl.
const BuiltinNamespace = "flowctl"

// DefaultDescribeTimeout bounds `describe` unless Options say otherwise.
const DefaultDescribeTimeout = 30 * time.Second

// ErrUnknownPlugin is returned when no plugin provides a component type.
var ErrUnknownPlugin = errors.New("unknown plugin")

// Plugin is a resolved plugin: what to run and what it claims to be.
type Plugin struct {
	// Name is the plugin's local name, the component type used in HCL.
	Name string
	// Source is the plugin's address, e.g. "flowctl/generator".
	Source  string
	Version string
	// Path and Args start the plugin; Builtin plugins are the flowctl binary
	// with arguments selecting the plugin.
	Path    string
	Args    []string
	Builtin bool
	// Hash is the binary's "h1:" hash ([Hash]); empty for built-ins.
	Hash string
	// Checksum is the binary's SHA-256 when it was checked against a lock
	// file; the host hands it to go-plugin so the process it starts is the
	// file that was checked. Nil means no check at start.
	Checksum []byte
}

// String names the plugin for messages: "flowctl/file 0.1.0 (built-in)".
func (p *Plugin) String() string {
	s := p.Source + " " + p.Version
	if p.Builtin {
		s += " (built-in)"
	}
	return s
}

// Options configure a Catalog.
type Options struct {
	// Executable is the flowctl binary that serves the built-in plugins.
	Executable string
	// BuiltinArgs returns the arguments that make Executable serve the
	// built-in plugin name.
	BuiltinArgs func(name string) []string
	// Builtins lists the built-in plugins by name, with the version they
	// report (flowctl's own).
	Builtins []string
	Version  string
	// BuiltinSchemas are the built-in plugins' schemas by name, compiled
	// into flowctl: describing a built-in then starts no process. A
	// built-in missing here is described by running it.
	BuiltinSchemas map[string]*flowctlv1.GetSchemaResponse
	// CacheDir, when set, keeps what installed binaries printed for
	// `describe`, by their h1 hash (see [Catalog.Describe]).
	CacheDir string
	// DescribeTimeout bounds running `describe`; default 30s, the
	// plugins' start timeout: on a loaded machine or under a CPU quota a
	// large binary may take seconds just to start.
	DescribeTimeout time.Duration
}

// Catalog resolves component types to built-in plugins and describes
// plugins. Installed plugins are found with [Scan] and [Select].
type Catalog struct {
	opts     Options
	builtins map[string]*Plugin
}

// New returns a catalog with the built-in plugins of opts.
func New(opts Options) *Catalog {
	if opts.DescribeTimeout == 0 {
		opts.DescribeTimeout = DefaultDescribeTimeout
	}
	c := &Catalog{opts: opts, builtins: map[string]*Plugin{}}
	for _, name := range opts.Builtins {
		c.builtins[name] = &Plugin{
			Name: name, Source: BuiltinNamespace + "/" + name, Version: opts.Version,
			Path: opts.Executable, Args: opts.BuiltinArgs(name), Builtin: true,
		}
	}
	return c
}

// Lookup returns the built-in plugin whose local name is name.
func (c *Catalog) Lookup(name string) (*Plugin, error) {
	if p, ok := c.builtins[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w %q: no installed or built-in plugin has that name (built-in: %s)",
		ErrUnknownPlugin, name, strings.Join(c.BuiltinNames(), ", "))
}

// BuiltinNames lists the built-in plugins, sorted.
func (c *Catalog) BuiltinNames() []string {
	names := make([]string, 0, len(c.builtins))
	for n := range c.builtins {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Component returns the schema of the component of kind named name, or an
// error listing what the plugin offers.
func Component(p *Plugin, schema *flowctlv1.GetSchemaResponse, kind flowctlv1.Kind, name string) (*flowctlv1.ComponentSchema, error) {
	var offered []string
	for _, c := range schema.GetComponents() {
		if c.GetKind() == kind && c.GetName() == name {
			return c, nil
		}
		offered = append(offered, kindWord(c.GetKind())+" "+c.GetName())
	}
	return nil, fmt.Errorf("plugin %s provides no %s %q; it provides: %s", p, kindWord(kind), name, strings.Join(offered, ", "))
}

func kindWord(k flowctlv1.Kind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "KIND_"))
}
