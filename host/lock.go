package host

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/hcl/lockfile"
	"github.com/flowctl/flowctl/host/catalog"
)

// LockOptions tune Lock.
type LockOptions struct {
	// Platforms whose binaries are hashed into the lock file; default this
	// machine's. Each must be installed at the chosen version.
	Platforms []catalog.Platform
	// Upgrade picks the highest version the constraint allows even when the
	// lock file pins one that still satisfies it.
	Upgrade bool
}

// LockChange is what Lock did to one plugin's entry.
type LockChange struct {
	Address  string
	Version  string
	Previous string // the version pinned before; "" when the entry is new
	// Action is "added", "updated", "unchanged" or "removed".
	Action    string
	Platforms []string
}

// Lock writes the lock file of the pipeline at path: for each of its
// required_plugins, the version to use (the pinned one while it still
// satisfies the constraint, else the highest installed match) and the h1
// hashes of that version's binaries for the requested platforms. Entries the
// pipeline no longer requires are dropped. Hashes of platforms not requested
// are kept while the version stays the same, so a lock file can collect the
// platforms of several machines.
func (h *Host) Lock(ctx context.Context, path string, opts LockOptions) (*lockfile.File, []LockChange, map[string]*hcl.File, hcl.Diagnostics) {
	cfg, diags := flowhcl.Load(path)
	if cfg == nil || diags.HasErrors() {
		return nil, nil, filesOf(cfg), diags
	}
	lock, ldiags := lockfile.Load(LockPath(cfg))
	if lock != nil && lock.HCL != nil {
		cfg.Files[lock.Path] = lock.HCL
	}
	if diags = append(diags, ldiags...); diags.HasErrors() {
		return nil, nil, cfg.Files, diags
	}
	if len(opts.Platforms) == 0 {
		opts.Platforms = []catalog.Platform{h.platform()}
	}
	installed, _ := catalog.Scan(h.SearchPath)
	rs := &resolver{h: h, cfg: cfg, lock: lock, installed: installed, platform: h.platform(), byType: map[string]*Resolved{}}

	var changes []LockChange
	required := map[string]bool{}
	for _, rp := range cfg.RequiredPlugins {
		entry, change, d := rs.lockOne(ctx, rp, opts)
		diags = append(diags, d...)
		if entry != nil {
			required[entry.Address] = true
			lock.Set(entry)
			changes = append(changes, change)
		}
	}
	if diags.HasErrors() {
		return nil, nil, cfg.Files, diags
	}
	for _, p := range slices.Clone(lock.Plugins) {
		if !required[p.Address] {
			lock.Remove(p.Address)
			changes = append(changes, LockChange{Address: p.Address, Version: p.Version, Action: "removed"})
		}
	}
	if err := lock.Write(); err != nil {
		return nil, nil, cfg.Files, diagAt(hcl.Range{}, "Cannot write the lock file", err.Error())
	}
	return lock, changes, cfg.Files, diags
}

func filesOf(cfg *flowhcl.Config) map[string]*hcl.File {
	if cfg == nil {
		return nil
	}
	return cfg.Files
}

// lockOne chooses and hashes one required plugin.
func (rs *resolver) lockOne(ctx context.Context, rp *flowhcl.RequiredPlugin, opts LockOptions) (*lockfile.Plugin, LockChange, hcl.Diagnostics) {
	addr, err := catalog.ParseAddress(rp.Source)
	if err != nil {
		return nil, LockChange{}, diagAt(rp.SourceRange, "Invalid plugin source", capitalize(err.Error())+".")
	}
	if slices.Contains(rs.h.Catalog.BuiltinNames(), rp.Name) || addr.IsBuiltin() {
		return nil, LockChange{}, diagAt(rp.DeclRange, "Built-in plugin in required_plugins",
			fmt.Sprintf("%q is a plugin built into flowctl; built-in plugins need no required_plugins entry and are never locked.", rp.Name))
	}
	prev := rs.lock.Plugin(addr.String())
	primary := opts.Platforms[0]
	if slices.Contains(opts.Platforms, rs.platform) {
		primary = rs.platform
	}
	inst, d := rs.chooseVersion(rp, addr, prev, primary, opts.Upgrade)
	if d.HasErrors() {
		return nil, LockChange{}, d
	}
	entry := &lockfile.Plugin{Address: addr.String(), Version: inst.Version.String(), Constraints: rp.Version}
	change := LockChange{Address: addr.String(), Version: entry.Version, Action: "added"}
	if prev != nil {
		change.Previous, change.Action = prev.Version, "updated"
		if prev.Version == entry.Version {
			entry.Hashes = slices.Clone(prev.Hashes)
			change.Action = "unchanged"
		}
	}
	for _, pl := range opts.Platforms {
		h1, d := rs.hashPlatform(ctx, rp, inst, pl)
		if d.HasErrors() {
			return nil, LockChange{}, d
		}
		if !slices.Contains(entry.Hashes, h1) {
			entry.Hashes = append(entry.Hashes, h1)
			if change.Action == "unchanged" {
				change.Action = "updated"
			}
		}
		change.Platforms = append(change.Platforms, pl.String())
	}
	slices.Sort(entry.Hashes)
	return entry, change, nil
}

// chooseVersion keeps the pinned version while it satisfies the constraint
// and is installed, unless upgrading; otherwise the highest match.
func (rs *resolver) chooseVersion(rp *flowhcl.RequiredPlugin, addr catalog.Address, prev *lockfile.Plugin, p catalog.Platform, upgrade bool) (*catalog.Installed, hcl.Diagnostics) {
	if prev != nil && !upgrade {
		if lv, err := version.NewVersion(prev.Version); err == nil && (rp.Constraints == nil || rp.Constraints.Check(lv)) {
			pin, _ := version.NewConstraint("= " + lv.String())
			if inst, err := catalog.Select(rs.installed, rs.h.SearchPath, addr, pin, p); err == nil {
				return inst, nil
			}
		}
	}
	inst, err := catalog.Select(rs.installed, rs.h.SearchPath, addr, rp.Constraints, p)
	if err != nil {
		return nil, diagAt(firstRange(rp.VersionRange, rp.DeclRange), "No matching plugin version",
			fmt.Sprintf("%s. Install one with `flowctl plugins install %s FILE|URL`.", capitalize(err.Error()), addr))
	}
	return inst, nil
}

// hashPlatform hashes the chosen version's binary for platform pl; the
// binary for this machine is also described, so a lock never pins a binary
// that is not the plugin and version its directory claims.
func (rs *resolver) hashPlatform(ctx context.Context, rp *flowhcl.RequiredPlugin, inst *catalog.Installed, pl catalog.Platform) (string, hcl.Diagnostics) {
	pin, _ := version.NewConstraint("= " + inst.Version.String())
	bin, err := catalog.Select(rs.installed, rs.h.SearchPath, inst.Address, pin, pl)
	if err != nil {
		return "", diagAt(rp.DeclRange, "Plugin not installed for a platform",
			fmt.Sprintf("%s %s is not installed for %s, so its hash cannot be locked: install that build with `flowctl plugins install --platform %s %s FILE|URL`, or leave %s out of -platform.",
				inst.Address, inst.Version, pl, pl, inst.Address, pl))
	}
	if err := catalog.CheckBinary(bin.Path, pl); err != nil {
		return "", diagAt(rp.DeclRange, "Plugin cannot run", fmt.Sprintf("%s %s: %s.", inst.Address, inst.Version, err))
	}
	h1, _, err := catalog.Hash(bin.Path)
	if err != nil {
		return "", diagAt(rp.DeclRange, "Plugin cannot be read", err.Error())
	}
	if pl == rs.platform {
		p := &catalog.Plugin{Name: rp.Name, Source: inst.Address.String(), Version: inst.Version.String(), Path: bin.Path}
		if _, d := rs.describe(ctx, p, rp, bin); d.HasErrors() {
			return "", d
		}
	}
	return h1, nil
}

// checkLocked refuses to run a third-party plugin that the lock file does
// not pin, as Terraform refuses a provider its lock file lacks: without an
// entry nothing says which version was chosen and which binary is trusted,
// so the pipeline would run whatever the search path holds today. Built-in
// plugins are part of flowctl and need no entry. validate and plan only
// warn, so a pipeline can be written before it is locked.
func checkLocked(plan *Plan) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, name := range slices.Sorted(maps.Keys(plan.Plugins)) {
		r := plan.Plugins[name]
		if r.Required == nil || r.Status != HashUnlocked {
			continue
		}
		where := fmt.Sprintf("%s has no entry for it", lockfile.FileName)
		if !plan.Lock.Exists() {
			where = fmt.Sprintf("there is no %s next to the pipeline", lockfile.FileName)
		}
		diags = append(diags, diagAt(r.Required.DeclRange, "Plugin not locked",
			fmt.Sprintf("apply runs only third-party plugins the lock file pins, and %s, so nothing checks the binary of %s %s (%s). "+
				"Run `flowctl plugins lock` to pin its version and hash, then apply again.",
				where, r.Plugin.Source, r.Plugin.Version, r.Plugin.Path))...)
	}
	return diags
}
