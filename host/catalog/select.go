package catalog

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/go-version"
)

// Select returns the highest version of addr installed for p that satisfies
// constraints (nil allows any). For equal versions the binary of the
// earliest of roots (the search path all was scanned from) wins, so that a
// --plugin-dir copy overrides a system-wide one. When nothing matches it
// returns a *NoVersionError listing what is installed.
func Select(all []Installed, roots []string, addr Address, constraints version.Constraints, p Platform) (*Installed, error) {
	var best *Installed
	for i := range all {
		in := &all[i]
		if in.Address != addr || in.Platform != p || (constraints != nil && !constraints.Check(in.Version)) {
			continue
		}
		if best == nil || better(in, best, roots) {
			best = in
		}
	}
	if best != nil {
		out := *best
		return &out, nil
	}
	return nil, &NoVersionError{
		Address:     addr,
		Constraints: constraintString(constraints),
		Platform:    p,
		Available:   installedOf(all, addr),
		Roots:       roots,
	}
}

// better reports whether a should be chosen over b.
func better(a, b *Installed, roots []string) bool {
	if c := a.Version.Compare(b.Version); c != 0 {
		return c > 0
	}
	return rootIndex(a.Root, roots) < rootIndex(b.Root, roots)
}

// rootIndex ranks unknown roots last.
func rootIndex(root string, roots []string) int {
	if i := slices.Index(roots, root); i >= 0 {
		return i
	}
	return len(roots)
}

// constraintString writes constraints as a user typed them; go-version's
// own String joins them without a space.
func constraintString(cs version.Constraints) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = strings.TrimSpace(c.String())
	}
	return strings.Join(parts, ", ")
}

func installedOf(all []Installed, addr Address) []Installed {
	var out []Installed
	for _, in := range all {
		if in.Address == addr {
			out = append(out, in)
		}
	}
	return out
}

// NoVersionError says that no installed binary fits a request, and what is
// installed instead.
type NoVersionError struct {
	Address Address
	// Constraints as written; "" when any version would do.
	Constraints string
	Platform    Platform
	// Available is every installed binary of Address, any version or
	// platform.
	Available []Installed
	// Roots is the search path, named when nothing is installed at all.
	Roots []string
}

func (e *NoVersionError) Error() string {
	if len(e.Available) == 0 {
		searched := "the search path is empty"
		if len(e.Roots) > 0 {
			searched = "searched: " + strings.Join(e.Roots, ", ")
		}
		return fmt.Sprintf("%s is not installed in any plugin directory (%s)", e.Address, searched)
	}
	want := "is installed"
	if e.Constraints != "" {
		want = fmt.Sprintf("matches %q", e.Constraints)
	}
	return fmt.Sprintf("no installed version of %s %s for %s; installed: %s", e.Address, want, e.Platform, availableList(e.Available))
}

// availableList writes "1.0.0 (linux_amd64), 1.1.0 (linux_amd64,
// linux_arm64)": versions ascending, each with its platforms, once however
// many roots hold it.
func availableList(all []Installed) string {
	var versions []*version.Version
	platforms := map[string][]string{}
	for _, in := range all {
		v := in.Version.String()
		if _, ok := platforms[v]; !ok {
			versions = append(versions, in.Version)
		}
		if !slices.Contains(platforms[v], in.Platform.String()) {
			platforms[v] = append(platforms[v], in.Platform.String())
		}
	}
	slices.SortFunc(versions, func(a, b *version.Version) int { return a.Compare(b) })
	parts := make([]string, len(versions))
	for i, v := range versions {
		ps := platforms[v.String()]
		slices.Sort(ps)
		parts[i] = fmt.Sprintf("%s (%s)", v, strings.Join(ps, ", "))
	}
	return strings.Join(parts, ", ")
}
