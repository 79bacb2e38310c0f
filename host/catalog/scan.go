package catalog

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/go-version"
)

// Installed is one plugin binary found in a plugin directory.
type Installed struct {
	Address  Address
	Version  *version.Version
	Platform Platform
	// Path is the binary.
	Path string
	// Root is the search-path directory it was found under.
	Root string
}

// Scan lists the plugin binaries under roots, looking exactly at the
// layout's depths (see the package doc) so that a large or foreign tree is
// not walked. It only reads: read-only roots work, and missing roots are
// skipped because most of the default search path usually does not exist.
//
// Entries that do not fit the layout are returned as problems, each naming
// the path and what is wrong, and the scan goes on: one stray directory must
// not hide every other plugin. Hidden entries (".install-*" staging and the
// like) are skipped silently.
//
// found is sorted by address, version (highest first) and platform; the
// same binary in two roots is listed twice, the earlier root first.
func Scan(roots []string) (found []Installed, problems []error) {
	s := &scanner{}
	for _, root := range roots {
		s.scanRoot(root)
	}
	slices.SortStableFunc(s.found, compareInstalled)
	return s.found, s.problems
}

func compareInstalled(a, b Installed) int {
	return cmp.Or(
		cmp.Compare(a.Address.String(), b.Address.String()),
		b.Version.Compare(a.Version),
		cmp.Compare(a.Platform.String(), b.Platform.String()),
	)
}

type scanner struct {
	found    []Installed
	problems []error
}

func (s *scanner) problem(path, format string, args ...any) {
	s.problems = append(s.problems, fmt.Errorf("%s: "+format, append([]any{path}, args...)...))
}

func (s *scanner) scanRoot(root string) {
	fi, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		s.problem(root, "cannot read plugin directory: %w", err)
		return
	case !fi.IsDir():
		s.problem(root, "plugin directory is not a directory")
		return
	}
	for _, host := range s.subdirs(root) {
		if !validHostname(host) {
			s.problem(filepath.Join(root, host), "not a hostname directory: %q is not a lower-case DNS name", host)
			continue
		}
		s.scanHost(root, host)
	}
}

func (s *scanner) scanHost(root, host string) {
	hostDir := filepath.Join(root, host)
	for _, ns := range s.subdirs(hostDir) {
		if !validPart(ns) {
			s.problem(filepath.Join(hostDir, ns), "not a namespace directory: %q may hold only lower-case letters, digits, '-' and '_'", ns)
			continue
		}
		for _, name := range s.subdirs(filepath.Join(hostDir, ns)) {
			a := Address{Hostname: host, Namespace: ns, Name: name}
			if why := a.invalid(); why != "" {
				s.problem(pluginDir(root, a), "not a plugin directory: %s", why)
				continue
			}
			s.scanPlugin(root, a)
		}
	}
}

func (s *scanner) scanPlugin(root string, a Address) {
	dir := pluginDir(root, a)
	for _, vs := range s.subdirs(dir) {
		v, err := version.NewSemver(vs)
		if err != nil || v.String() != vs {
			s.problem(filepath.Join(dir, vs), "not a version directory: %q is not a semantic version like 1.2.0", vs)
			continue
		}
		for _, ps := range s.subdirs(filepath.Join(dir, vs)) {
			p, err := ParsePlatform(ps)
			if err != nil {
				s.problem(filepath.Join(dir, vs, ps), "not a platform directory: %w", err)
				continue
			}
			s.binary(root, a, v, p)
		}
	}
}

// binary records the binary of one platform directory, which must be a
// regular file (or a link to one) with the layout's name.
func (s *scanner) binary(root string, a Address, v *version.Version, p Platform) {
	path := BinaryPath(root, a, v.String(), p)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.problem(filepath.Dir(path), "no plugin binary: want a file named %s in it", filepath.Base(path))
	case err != nil:
		s.problem(path, "cannot read plugin binary: %w", err)
	case !fi.Mode().IsRegular():
		s.problem(path, "plugin binary is not a regular file (mode %v)", fi.Mode())
	default:
		s.found = append(s.found, Installed{Address: a, Version: v, Platform: p, Path: path, Root: root})
	}
}

// subdirs returns the names of the directories in dir that may belong to
// the layout. Hidden entries are the catalog's own work in progress and are
// skipped; other non-directories are reported.
func (s *scanner) subdirs(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.problem(dir, "cannot read directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if !isDir(path, e) {
			s.problem(path, "not a directory: the plugin layout has only directories down to <os>_<arch>")
			continue
		}
		names = append(names, e.Name())
	}
	return names
}

// isDir follows symbolic links, so a plugin directory may link to a shared
// tree.
func isDir(path string, e fs.DirEntry) bool {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.IsDir()
	}
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
