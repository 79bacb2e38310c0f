// Package host runs pipelines: it ties the language (hcl), the plugin
// catalog, the DAG, the supervisor and the router together.
//
// Load parses a pipeline, resolves each component's plugin, fetches its
// schema (compiled in for built-ins; `describe`, no handshake, cached by
// hash for installed binaries) and decodes every block against it, then
// builds the DAG — nothing is started. `validate` is Load and CheckConfig,
// which starts each plugin binary once to check the configuration of every
// component it serves. Apply
// runs a loaded pipeline: start every plugin through its driver, check its
// schema over gRPC, configure it (plugin diagnostics map back to file:line),
// open streams sinks first, route until the sources end or the caller asks
// to stop, stop the plugins and return a Summary.
package host

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"

	"github.com/flowctl/flowctl/drivers"
	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/hcl/lockfile"
	"github.com/flowctl/flowctl/host/catalog"
	"github.com/flowctl/flowctl/host/pipeline"
	"github.com/flowctl/flowctl/host/redact"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Host holds what every pipeline run needs. Build one in main.
type Host struct {
	Log     hclog.Logger
	Catalog *catalog.Catalog
	// Drivers by name; "process" must be present.
	Drivers map[string]drivers.Driver
	// UI receives progress lines for a person; nil discards them. Lines
	// come from several goroutines (a restart's among them), one Write
	// each, never two at once.
	UI io.Writer
	// uiMu serialises writes to UI, which need not be safe for concurrent
	// use (a bytes.Buffer in tests).
	uiMu sync.Mutex
	// Stdout receives what plugins print (the stdout sink); nil discards it.
	Stdout io.Writer
	// LogLevel is passed to plugins.
	LogLevel string
	// SearchPath lists the plugin directories, searched in order
	// (catalog.DefaultSearchPath).
	SearchPath []string
	// Platform is the os_arch whose binaries run; zero means this machine's.
	Platform catalog.Platform
	// Redact scrubs the sensitive values of the pipelines this host loads
	// from what plugins say; Load adds each plan's (Plan.Sensitive). cmd
	// passes the log and UI writers through it too. Nil: Load makes one.
	Redact *redact.Redactor
}

// Plan is a loaded, validated pipeline, ready to apply.
type Plan struct {
	// Path is the pipeline file or directory as given; Dir the directory
	// plugins run in and relative paths resolve against.
	Path   string
	Dir    string
	Config *flowhcl.Config
	Graph  *pipeline.Graph
	// Lock is the pipeline's lock file (Exists false when there is none).
	Lock *lockfile.File
	// Plugins are the plugins the components use, by component type: a
	// binary serving several types the pipeline uses is listed under each.
	Plugins map[string]*Resolved
	// Components in topological order.
	Components []*PlannedComponent
	// Sensitive is the text of every sensitive value of the pipeline: of
	// sensitive variables, of what is computed from them, of attributes
	// plugins declare sensitive. Never shown; Host.Redact scrubs them.
	Sensitive []string
}

// PlannedComponent is one component with its plugin and decoded config.
type PlannedComponent struct {
	Node       *pipeline.Node
	Plugin     *catalog.Plugin
	Schema     *flowctlv1.ComponentSchema
	ConfigJSON []byte
	Driver     string
	// validateOnly: the plugin answers Configure with validate_only, so
	// CheckConfig checks this component in a process shared with the
	// plugin's other components.
	validateOnly bool
	// Env is the component's env attribute: what its plugin finds in its
	// environment beyond the minimal one (drivers.PluginEnv).
	Env *flowhcl.Env
	// sensitive is the text of the component's sensitive values.
	sensitive []string
}

// Address returns the component's address.
func (c *PlannedComponent) Address() flowhcl.Address { return c.Node.Address }

// Load parses and validates the pipeline at path (a file, or a directory
// whose .hcl files form one pipeline) with the given variable values. It
// returns the files parsed (for printing diagnostics) even when it fails.
func (h *Host) Load(ctx context.Context, path string, vars flowhcl.VarSources) (*Plan, map[string]*hcl.File, hcl.Diagnostics) {
	cfg, diags := flowhcl.Load(path)
	if cfg == nil {
		return nil, nil, diags
	}
	files := cfg.Files
	if diags.HasErrors() {
		return nil, files, diags
	}
	ectx, vdiags := cfg.EvalContext(vars)
	diags = append(diags, vdiags...)
	if vdiags.HasErrors() {
		return nil, files, diags
	}
	lock, ldiags := lockfile.Load(LockPath(cfg))
	if lock != nil && lock.HCL != nil {
		files[lock.Path] = lock.HCL
	}
	diags = append(diags, ldiags...)
	if ldiags.HasErrors() {
		return nil, files, diags
	}
	graph, gdiags := pipeline.Build(cfg)
	diags = append(diags, gdiags...)

	rs, rdiags := h.resolvePlugins(ctx, cfg, lock)
	diags = append(diags, rdiags...)
	plan := &Plan{Path: path, Dir: cfg.Dir, Config: cfg, Graph: graph, Lock: lock, Plugins: map[string]*Resolved{}}
	plan.Sensitive = flowhcl.SensitiveStrings(ectx)
	if h.Redact == nil {
		h.Redact = redact.New()
	}
	h.Redact.Add(plan.Sensitive...)
	for _, comp := range cfg.Components {
		pc, cdiags := h.planComponent(ctx, rs, comp, ectx)
		diags = append(diags, cdiags...)
		if pc != nil {
			if graph != nil {
				pc.Node = graph.Node(comp.Address)
			}
			plan.Sensitive = append(plan.Sensitive, pc.sensitive...)
			h.Redact.Add(pc.sensitive...)
		}
		plan.Components = append(plan.Components, pc)
	}
	if diags.HasErrors() {
		return nil, files, diags
	}
	plan.Plugins = rs.byType
	for t, r := range rs.served {
		if _, ok := plan.Plugins[t]; !ok {
			plan.Plugins[t] = r
		}
	}
	plan.Components = topoSorted(plan)
	return plan, files, diags
}

func (h *Host) planComponent(ctx context.Context, rs *resolver, comp *flowhcl.Component, ectx *hcl.EvalContext) (*PlannedComponent, hcl.Diagnostics) {
	r, diags := rs.lookup(ctx, comp)
	if r == nil {
		return nil, diags
	}
	cs, err := componentSchema(r.Plugin, r.Schema, comp.Address.Kind.Proto(), comp.Type)
	if err != nil {
		return nil, diagAt(comp.TypeRange, "Unsupported component", err.Error()+".")
	}
	js, sensitive, diags := flowhcl.DecodeComponentSensitive(comp, cs, ectx)
	if diags.HasErrors() {
		return nil, diags
	}
	env, ediags := comp.DecodeEnv(ectx)
	if diags = append(diags, ediags...); ediags.HasErrors() {
		return nil, diags
	}
	for _, e := range env.Set {
		if e.Sensitive {
			sensitive = append(sensitive, e.Value)
		}
	}
	driver := comp.Driver.Name
	if _, ok := h.Drivers[driver]; !ok {
		return nil, append(diags, diagAt(comp.Driver.DeclRange, "Driver not available",
			fmt.Sprintf("This flowctl has no %q driver; it has %s.", driver, strings.Join(slices.Sorted(maps.Keys(h.Drivers)), ", ")))...)
	}
	return &PlannedComponent{Plugin: r.Plugin, Schema: cs, ConfigJSON: js, Driver: driver, validateOnly: r.Schema.GetValidateOnly(), Env: env, sensitive: sensitive}, diags
}

func topoSorted(plan *Plan) []*PlannedComponent {
	byAddr := make(map[flowhcl.Address]*PlannedComponent, len(plan.Components))
	for _, c := range plan.Components {
		byAddr[c.Address()] = c
	}
	out := make([]*PlannedComponent, 0, len(plan.Components))
	for _, a := range plan.Graph.TopoOrder() {
		out = append(out, byAddr[a])
	}
	return out
}
