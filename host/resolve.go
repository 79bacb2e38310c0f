package host

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/hcl/lockfile"
	"github.com/flowctl/flowctl/host/catalog"
	"github.com/flowctl/flowctl/host/supervisor"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// HashStatus says how a plugin binary was checked before it may run.
type HashStatus int

const (
	// HashBuiltin: the plugin is part of the flowctl binary itself.
	HashBuiltin HashStatus = iota
	// HashVerified: the binary's hash is one the lock file pins, and
	// go-plugin checks its SHA-256 again when it starts it.
	HashVerified
	// HashUnlocked: there is no lock file, so nothing pins the binary.
	HashUnlocked
)

func (s HashStatus) String() string {
	switch s {
	case HashBuiltin:
		return "built-in"
	case HashVerified:
		return "verified"
	default:
		return "not locked"
	}
}

// Resolved is the plugin a component type names, with how it was chosen.
type Resolved struct {
	Plugin *catalog.Plugin
	// Required is the required_plugins entry; nil for built-ins.
	Required *flowhcl.RequiredPlugin
	Status   HashStatus
	// Schema is what the plugin's describe printed.
	Schema *flowctlv1.GetSchemaResponse
}

// LockPath is where a pipeline's lock file lives: in the pipeline's
// directory, next to its files.
func LockPath(cfg *flowhcl.Config) string {
	return filepath.Join(cfg.Dir, lockfile.FileName)
}

// resolver picks the plugin of every component type: the built-ins, and for
// each required_plugins entry the installed version its constraint and the
// lock file allow, whose binary hashes to a locked hash and which describes
// itself as that version.
type resolver struct {
	h         *Host
	cfg       *flowhcl.Config
	lock      *lockfile.File
	installed []catalog.Installed
	platform  catalog.Platform
	// byType holds the required plugins by local name and the built-ins
	// used; served, the types found among the components of required
	// plugins (servedBy).
	byType map[string]*Resolved
	served map[string]*Resolved
}

func (h *Host) resolvePlugins(ctx context.Context, cfg *flowhcl.Config, lock *lockfile.File) (*resolver, hcl.Diagnostics) {
	rs := &resolver{h: h, cfg: cfg, lock: lock, platform: h.platform(), byType: map[string]*Resolved{}}
	var diags hcl.Diagnostics
	if len(cfg.RequiredPlugins) > 0 {
		var problems []error
		rs.installed, problems = catalog.Scan(h.SearchPath)
		for _, p := range problems {
			h.Log.Debug("plugin directory entry ignored", "problem", p)
		}
		if !lock.Exists() {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  "Plugins are not locked",
				Detail: fmt.Sprintf("There is no %s next to the pipeline, so nothing checks the plugin binaries against known hashes. "+
					"Run `flowctl plugins lock` to pin their versions and hashes.", lockfile.FileName),
				Subject: cfg.RequiredPlugins[0].DeclRange.Ptr(),
			})
		}
	}
	for _, rp := range cfg.RequiredPlugins {
		r, d := rs.required(ctx, rp)
		diags = append(diags, d...)
		if r != nil {
			rs.byType[rp.Name] = r
		}
	}
	return rs, diags
}

func (h *Host) platform() catalog.Platform {
	if h.Platform != (catalog.Platform{}) {
		return h.Platform
	}
	return catalog.CurrentPlatform()
}

func diagAt(subject hcl.Range, summary, detail string) hcl.Diagnostics {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail}
	if subject != (hcl.Range{}) {
		d.Subject = subject.Ptr()
	}
	return hcl.Diagnostics{d}
}

// required resolves one required_plugins entry.
func (rs *resolver) required(ctx context.Context, rp *flowhcl.RequiredPlugin) (*Resolved, hcl.Diagnostics) {
	addr, err := catalog.ParseAddress(rp.Source)
	if err != nil {
		return nil, diagAt(rp.SourceRange, "Invalid plugin source", capitalize(err.Error())+".")
	}
	if slices.Contains(rs.h.Catalog.BuiltinNames(), rp.Name) || addr.IsBuiltin() {
		return nil, diagAt(rp.DeclRange, "Built-in plugin in required_plugins",
			fmt.Sprintf("%q is a plugin built into flowctl; built-in plugins need no required_plugins entry. Remove it, or give the third-party plugin another local name.", rp.Name))
	}
	constraints, locked, diags := rs.constraints(rp, addr)
	if diags.HasErrors() {
		return nil, diags
	}
	inst, err := catalog.Select(rs.installed, rs.h.SearchPath, addr, constraints, rs.platform)
	if err != nil {
		detail := capitalize(err.Error()) + "."
		if locked != nil {
			detail += fmt.Sprintf(" The lock file pins version %s; install it, or run `flowctl plugins lock` to choose another.", locked.Version)
		} else {
			detail += fmt.Sprintf(" Install one with `flowctl plugins install %s FILE|URL`.", addr)
		}
		return nil, diagAt(firstRange(rp.VersionRange, rp.DeclRange), "No matching plugin version", detail)
	}
	if err := catalog.CheckBinary(inst.Path, rs.platform); err != nil {
		return nil, diagAt(rp.DeclRange, "Plugin cannot run", fmt.Sprintf("%s %s: %s.", addr, inst.Version, err))
	}
	h1, sum, err := catalog.Hash(inst.Path)
	if err != nil {
		return nil, diagAt(rp.DeclRange, "Plugin cannot be read", fmt.Sprintf("%s %s: %s.", addr, inst.Version, err))
	}
	p := &catalog.Plugin{Name: rp.Name, Source: addr.String(), Version: inst.Version.String(), Path: inst.Path, Hash: h1}
	status := HashUnlocked
	if locked != nil {
		if !locked.HasHash(h1) {
			return nil, rs.hashMismatch(addr, inst, h1, locked)
		}
		p.Checksum, status = sum, HashVerified
	}
	schema, d := rs.describe(ctx, p, rp, inst)
	if d.HasErrors() {
		return nil, d
	}
	return &Resolved{Plugin: p, Required: rp, Status: status, Schema: schema}, nil
}

// constraints returns what the installed version must satisfy: the pinned
// version when the lock file has the plugin, else the pipeline's constraint.
func (rs *resolver) constraints(rp *flowhcl.RequiredPlugin, addr catalog.Address) (version.Constraints, *lockfile.Plugin, hcl.Diagnostics) {
	if !rs.lock.Exists() {
		return rp.Constraints, nil, nil
	}
	locked := rs.lock.Plugin(addr.String())
	if locked == nil {
		return nil, nil, diagAt(rp.DeclRange, "Plugin not in the lock file",
			fmt.Sprintf("%s has no entry for %s, so its binary cannot be checked. Run `flowctl plugins lock` to add it.", rs.lock.Path, addr))
	}
	lv, err := version.NewVersion(locked.Version)
	if err != nil {
		return nil, nil, diagAt(locked.VersionRange, "Invalid locked version", err.Error())
	}
	if rp.Constraints != nil && !rp.Constraints.Check(lv) {
		return nil, nil, diagAt(firstRange(rp.VersionRange, rp.DeclRange), "Locked version does not match the constraint",
			fmt.Sprintf("The lock file pins %s to %s (at %s), which does not satisfy %q. Run `flowctl plugins lock` to select a matching version.",
				addr, locked.Version, posString(locked.VersionRange), rp.Version))
	}
	pin, err := version.NewConstraint("= " + lv.String())
	if err != nil {
		return nil, nil, diagAt(locked.VersionRange, "Invalid locked version", err.Error())
	}
	return pin, locked, nil
}

func (rs *resolver) hashMismatch(addr catalog.Address, inst *catalog.Installed, h1 string, locked *lockfile.Plugin) hcl.Diagnostics {
	return diagAt(locked.HashesRange, "Plugin binary does not match the lock file",
		fmt.Sprintf("%s has hash %s, but %s pins %s %s to %s. "+
			"The binary changed after the lock file was written, or it was built for a platform the lock file does not list (this is %s). "+
			"If you trust this binary, run `flowctl plugins lock` to record its hash; otherwise reinstall the plugin with `flowctl plugins install`.",
			inst.Path, h1, rs.lock.Path, addr, locked.Version, strings.Join(locked.Hashes, " or "), rs.platform))
}

// describe asks the chosen binary what it is, and refuses one that is not
// the plugin, the version or the protocol its place in the catalog says.
func (rs *resolver) describe(ctx context.Context, p *catalog.Plugin, rp *flowhcl.RequiredPlugin, inst *catalog.Installed) (*flowctlv1.GetSchemaResponse, hcl.Diagnostics) {
	schema, err := rs.h.Catalog.Describe(ctx, p)
	if err != nil {
		return nil, diagAt(rp.DeclRange, "Plugin failed", err.Error())
	}
	addr := inst.Address
	if schema.GetName() != addr.Name {
		return nil, diagAt(rp.DeclRange, "Plugin is not what its directory says",
			fmt.Sprintf("%s calls itself %q, but it is installed as %s. Reinstall the right binary with `flowctl plugins install`.", inst.Path, schema.GetName(), addr))
	}
	v, err := version.NewVersion(schema.GetVersion())
	if err != nil || !v.Equal(inst.Version) {
		return nil, diagAt(rp.DeclRange, "Plugin version does not match its directory",
			fmt.Sprintf("%s reports version %q, but it is installed as %s %s. Reinstall it with `flowctl plugins install` so the directory names the version the binary reports.",
				inst.Path, schema.GetVersion(), addr, inst.Version))
	}
	if !sharesProtocol(schema.GetProtocolVersions()) {
		ours := supervisor.ProtocolList(wire.ProtocolVersions)
		return nil, diagAt(rp.DeclRange, "Incompatible plugin protocol",
			fmt.Sprintf("%s %s speaks flowctl plugin protocol %s, but this flowctl speaks %s. Install a release of the plugin built for protocol %s.",
				addr, inst.Version, supervisor.ProtocolList(schema.GetProtocolVersions()), ours, ours))
	}
	p.Version = schema.GetVersion()
	return schema, nil
}

func sharesProtocol(theirs []uint32) bool {
	for _, v := range theirs {
		if slices.Contains(wire.ProtocolVersions, int(v)) {
			return true
		}
	}
	return false
}

// lookup returns the plugin serving component type name.
func (rs *resolver) lookup(ctx context.Context, comp *flowhcl.Component) (*Resolved, hcl.Diagnostics) {
	if r, ok := rs.byType[comp.Type]; ok {
		return r, nil
	}
	if rp := rs.cfg.RequiredPlugin(comp.Type); rp != nil {
		return nil, nil // its entry failed and was reported
	}
	p, err := rs.h.Catalog.Lookup(comp.Type)
	if err != nil {
		if r, diags := rs.servedBy(comp); r != nil || diags.HasErrors() {
			return r, diags
		}
		return nil, diagAt(comp.TypeRange, "Unknown component type", fmt.Sprintf("%s: %v.%s%s", comp.Address, err, rs.declareHint(comp.Type), rs.failedHint()))
	}
	schema, err := rs.h.Catalog.Describe(ctx, p)
	if err != nil {
		return nil, diagAt(comp.TypeRange, "Plugin failed", fmt.Sprintf("%s: %v", comp.Address, err))
	}
	r := &Resolved{Plugin: p, Status: HashBuiltin, Schema: schema}
	rs.byType[comp.Type] = r
	return r, nil
}

// servedBy finds the required plugin that serves a component of comp's kind
// named comp.Type: one required_plugins entry makes every component its
// binary serves usable under its own name. Local names and built-ins come
// first (lookup), so a plugin cannot take over a built-in's name; two
// binaries serving the same name is an error that names them both.
func (rs *resolver) servedBy(comp *flowhcl.Component) (*Resolved, hcl.Diagnostics) {
	kind := comp.Address.Kind.Proto()
	var found []*Resolved
	for _, rp := range rs.cfg.RequiredPlugins {
		r := rs.byType[rp.Name]
		if r == nil || slices.ContainsFunc(found, func(f *Resolved) bool { return f.Plugin.Path == r.Plugin.Path }) {
			continue
		}
		if slices.ContainsFunc(r.Schema.GetComponents(), func(c *flowctlv1.ComponentSchema) bool {
			return c.GetKind() == kind && c.GetName() == comp.Type
		}) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		if rs.served == nil {
			rs.served = map[string]*Resolved{}
		}
		rs.served[comp.Type] = found[0]
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, r := range found {
		names[i] = fmt.Sprintf("%s (required as %q)", r.Plugin.Source, r.Required.Name)
	}
	return nil, diagAt(comp.TypeRange, "Ambiguous component type",
		fmt.Sprintf("%s: a %s %q is served by %s. Choose one by its local name: declare the plugin you mean in required_plugins as %s = { source = ... }.",
			comp.Address, comp.Address.Kind, comp.Type, strings.Join(names, " and "), comp.Type))
}

// failedHint says that a required plugin that could not be loaded may be
// the one serving a type nothing else serves.
func (rs *resolver) failedHint() string {
	var failed []string
	for _, rp := range rs.cfg.RequiredPlugins {
		if rs.byType[rp.Name] == nil {
			failed = append(failed, rp.Name)
		}
	}
	if len(failed) == 0 {
		return ""
	}
	return fmt.Sprintf(" (required plugin %s could not be loaded, see above; it may serve this type)", strings.Join(failed, ", "))
}

// declareHint suggests a required_plugins entry for an installed plugin the
// pipeline uses without declaring it.
func (rs *resolver) declareHint(name string) string {
	found := rs.installed
	if found == nil {
		found, _ = catalog.Scan(rs.h.SearchPath)
	}
	for _, in := range found {
		if in.Address.Name == name {
			return fmt.Sprintf(" %s is installed (%s) but not declared; only declared plugins load. Add to the pipeline:\n\n"+
				"  flowctl {\n    required_plugins {\n      %s = { source = %q, version = \"%s\" }\n    }\n  }",
				in.Address, in.Version, name, in.Address.String(), "~> "+in.Version.String())
		}
	}
	return ""
}

// componentSchema finds the component a block means in its plugin: the one
// of its kind named like the block's type, or, for a plugin whose local name
// differs from its component's, its only component of that kind.
func componentSchema(p *catalog.Plugin, schema *flowctlv1.GetSchemaResponse, kind flowctlv1.Kind, typ string) (*flowctlv1.ComponentSchema, error) {
	var ofKind []*flowctlv1.ComponentSchema
	for _, c := range schema.GetComponents() {
		if c.GetKind() == kind {
			if c.GetName() == typ {
				return c, nil
			}
			ofKind = append(ofKind, c)
		}
	}
	if len(ofKind) == 1 && !p.Builtin {
		return ofKind[0], nil
	}
	return catalog.Component(p, schema, kind, typ)
}

func firstRange(rs ...hcl.Range) hcl.Range {
	for _, r := range rs {
		if r != (hcl.Range{}) {
			return r
		}
	}
	return hcl.Range{}
}

func posString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
