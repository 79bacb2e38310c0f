package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-version"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/hcl/lockfile"
	"github.com/flowctl/flowctl/host/catalog"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// PluginListing is one row of `flowctl plugins list`: a built-in plugin or
// one installed binary.
type PluginListing struct {
	Address  string
	Version  string
	Platform string
	Path     string
	Builtin  bool
	// Protocols the binary speaks, from describe; empty for binaries of
	// another platform (they cannot run here) or when describe failed
	// (DescribeErr).
	Protocols   []uint32
	DescribeErr error
	// Components are the component types the binary serves, as "kind
	// name" ("sink counter"): one required_plugins entry makes each usable
	// under its own name. Empty when describe failed or could not run.
	Components []string
	// Hash is the binary's h1 hash ("" for built-ins).
	Hash string
	// HashStatus is, against the pipeline's lock file: "built-in",
	// "locked", "MISMATCH" (same version, hash not pinned), "not locked",
	// "not required" or "-" when there is no pipeline.
	HashStatus string
	// Selected: the pipeline would run this binary.
	Selected bool
}

// ListPlugins lists the built-in plugins and every installed binary on the
// search path. When pipelinePath names a pipeline (it may name none: a
// directory without .hcl files), each row also says whether that pipeline
// selects it and how its hash compares with the lock file.
func (h *Host) ListPlugins(ctx context.Context, pipelinePath string) ([]PluginListing, error) {
	var rows []PluginListing
	exe := ""
	for _, name := range h.Catalog.BuiltinNames() {
		p, err := h.Catalog.Lookup(name)
		if err != nil {
			return nil, err
		}
		exe = p.Path
		row := PluginListing{Address: p.Source, Version: p.Version, Platform: h.platform().String(), Path: exe, Builtin: true, HashStatus: "built-in"}
		if schema, err := h.Catalog.Describe(ctx, p); err == nil {
			row.Components = componentTypes(schema)
		}
		rows = append(rows, row)
	}
	installed, _ := catalog.Scan(h.SearchPath)
	cfg, lock := h.pipelineForListing(pipelinePath)
	selected := h.selections(cfg, lock, installed)
	for _, in := range installed {
		row := PluginListing{Address: in.Address.String(), Version: in.Version.String(), Platform: in.Platform.String(), Path: in.Path, HashStatus: "-"}
		row.Hash, _, _ = catalog.Hash(in.Path)
		if in.Platform == h.platform() {
			schema, err := h.Catalog.Describe(ctx, &catalog.Plugin{Name: in.Address.Name, Source: in.Address.String(), Version: row.Version, Path: in.Path, Hash: row.Hash})
			if err != nil {
				row.DescribeErr = err
			} else {
				row.Protocols = schema.GetProtocolVersions()
				row.Components = componentTypes(schema)
			}
		}
		if cfg != nil {
			row.HashStatus = hashStatus(cfg, lock, in, row.Hash)
		}
		row.Selected = selected[in.Path]
		rows = append(rows, row)
	}
	return rows, nil
}

// pipelineForListing loads just enough of the pipeline at path (its
// required_plugins and lock file) to mark rows; nil when there is none.
func (h *Host) pipelineForListing(path string) (*flowhcl.Config, *lockfile.File) {
	if path == "" {
		return nil, nil
	}
	if fi, err := os.Stat(path); err != nil || (fi.IsDir() && !hasHCL(path)) {
		return nil, nil
	}
	cfg, diags := flowhcl.Load(path)
	if cfg == nil || diags.HasErrors() {
		return nil, nil
	}
	lock, ldiags := lockfile.Load(LockPath(cfg))
	if ldiags.HasErrors() {
		lock = nil
	}
	return cfg, lock
}

func hasHCL(dir string) bool {
	m, _ := filepath.Glob(filepath.Join(dir, "*.hcl"))
	return len(m) > 0
}

// selections marks the binaries the pipeline would run on this machine.
func (h *Host) selections(cfg *flowhcl.Config, lock *lockfile.File, installed []catalog.Installed) map[string]bool {
	out := map[string]bool{}
	if cfg == nil {
		return out
	}
	for _, rp := range cfg.RequiredPlugins {
		addr, err := catalog.ParseAddress(rp.Source)
		if err != nil {
			continue
		}
		constraints := rp.Constraints
		if lock != nil {
			if lp := lock.Plugin(addr.String()); lp != nil {
				if c, err := version.NewConstraint("= " + lp.Version); err == nil {
					constraints = c
				}
			}
		}
		if in, err := catalog.Select(installed, h.SearchPath, addr, constraints, h.platform()); err == nil {
			out[in.Path] = true
		}
	}
	return out
}

func hashStatus(cfg *flowhcl.Config, lock *lockfile.File, in catalog.Installed, h1 string) string {
	required := false
	for _, rp := range cfg.RequiredPlugins {
		if a, err := catalog.ParseAddress(rp.Source); err == nil && a == in.Address {
			required = true
		}
	}
	if !required {
		return "not required"
	}
	if lock == nil {
		return "not locked"
	}
	lp := lock.Plugin(in.Address.String())
	switch {
	case lp == nil:
		return "not locked"
	case lp.HasHash(h1):
		return "locked"
	case lp.Version == in.Version.String():
		return "MISMATCH"
	default:
		return fmt.Sprintf("not locked (lock pins %s)", lp.Version)
	}
}

// componentTypes names what a plugin serves: "processor upper", "sink tally".
func componentTypes(schema *flowctlv1.GetSchemaResponse) []string {
	out := make([]string, 0, len(schema.GetComponents()))
	for _, c := range schema.GetComponents() {
		out = append(out, wire.KindFromProto(c.GetKind()).String()+" "+c.GetName())
	}
	return out
}
