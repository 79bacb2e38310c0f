// Package catalog finds the plugin that provides a component type and
// describes it.
//
// A component type in a pipeline (`sink "file" ...`) names a plugin by its
// local name. Built-in plugins are served by the flowctl binary itself,
// re-executed as a separate plugin process, so a fresh build runs pipelines
// with no install step. Installed plugins, versions and the lock file come
// with the catalog's search path.
package catalog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// BuiltinNamespace is the namespace of the plugins shipped with flowctl.
const BuiltinNamespace = "flowctl"

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
	// DescribeTimeout bounds `describe`; default 10s.
	DescribeTimeout time.Duration
}

// Catalog resolves component types to plugins.
type Catalog struct {
	opts     Options
	builtins map[string]*Plugin
}

// New returns a catalog with the built-in plugins of opts.
func New(opts Options) *Catalog {
	if opts.DescribeTimeout == 0 {
		opts.DescribeTimeout = 10 * time.Second
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

// Lookup returns the plugin whose local name is name.
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

// Describe runs the plugin with the argument `describe` (no handshake) and
// returns its schema.
func (c *Catalog) Describe(ctx context.Context, p *Plugin) (*flowctlv1.GetSchemaResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.DescribeTimeout)
	defer cancel()
	args := append(slices.Clone(p.Args), "describe")
	cmd := exec.CommandContext(ctx, p.Path, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v", c.opts.DescribeTimeout)
		}
		return nil, fmt.Errorf("plugin %s (%s): describe: %w%s", p.Name, p.Path, err, outputHint(stderr.String()))
	}
	var schema flowctlv1.GetSchemaResponse
	if err := protojson.Unmarshal(stdout.Bytes(), &schema); err != nil {
		return nil, fmt.Errorf("plugin %s (%s): describe printed no valid schema (is it a flowctl plugin?): %w", p.Name, p.Path, err)
	}
	return &schema, nil
}

func outputHint(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	return "\n  " + strings.ReplaceAll(s, "\n", "\n  ")
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
