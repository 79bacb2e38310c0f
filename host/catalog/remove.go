package catalog

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-version"
)

// Remove deletes one version of addr (every platform of it) from root, or
// with version "" every version, and prunes the directories it leaves
// empty up to root. It returns the binaries removed. Each version directory
// is renamed to a hidden name before it is deleted, so a concurrent Scan
// sees it either whole or not at all.
func Remove(root string, addr Address, version string) ([]Installed, error) {
	dir := pluginDir(root, addr)
	versions, err := versionDirs(dir, addr, version)
	if err != nil {
		return nil, err
	}
	if len(versions) == 0 {
		return nil, notInstalledError(root, addr, version)
	}
	removed := installedIn(root, addr, versions)
	for _, vs := range versions {
		if err := removeDir(filepath.Join(dir, vs)); err != nil {
			hint := ""
			if notWritable(err) {
				hint = "; the plugin directory is not writable"
			}
			return nil, fmt.Errorf("remove %s %s from %s: %w%s", addr, vs, root, err, hint)
		}
	}
	pruneEmpty(root, dir)
	return removed, nil
}

// versionDirs returns the version directories to remove: the one named
// (in canonical form, so "v1.0" finds "1.0.0") if it exists, or all.
func versionDirs(dir string, addr Address, v string) ([]string, error) {
	if v != "" {
		sv, err := version.NewSemver(v)
		if err != nil {
			return nil, fmt.Errorf("invalid version %q for %s: want a semantic version like 1.2.0: %w", v, addr, err)
		}
		if fi, err := os.Stat(filepath.Join(dir, sv.String())); err != nil || !fi.IsDir() {
			return nil, nil
		}
		return []string{sv.String()}, nil
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list versions of %s: %w", addr, err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

func notInstalledError(root string, addr Address, v string) error {
	if v == "" {
		return fmt.Errorf("%s is not installed in %s", addr, root)
	}
	return fmt.Errorf("%s %s is not installed in %s", addr, v, root)
}

// installedIn lists the binaries of the given versions, for the result.
func installedIn(root string, addr Address, versions []string) []Installed {
	found, _ := Scan([]string{root})
	var out []Installed
	for _, in := range found {
		for _, vs := range versions {
			if in.Address == addr && in.Version.String() == vs {
				out = append(out, in)
			}
		}
	}
	return out
}

// removeDir renames dir aside to a hidden sibling, then deletes that.
func removeDir(dir string) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	aside := filepath.Join(filepath.Dir(dir), ".remove-"+hex.EncodeToString(b[:]))
	if err := os.Rename(dir, aside); err != nil {
		return err
	}
	return os.RemoveAll(aside)
}

// pruneEmpty removes dir and its parents while they are empty, stopping at
// root, which is never removed.
func pruneEmpty(root, dir string) {
	for {
		rel, err := filepath.Rel(root, dir)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return
		}
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}
