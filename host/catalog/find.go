package catalog

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// candidate is a regular file in a directory or an archive that may be the
// plugin binary; name is slash-separated, relative to the container.
type candidate struct {
	name string
	exec bool
}

// choose picks the plugin binary among files: the one named for the plugin
// (flowctl-plugin-<plugin> or flowctl-plugin-<plugin>_v*), else the only
// executable one. Anything else is an error listing what was found, because
// installing the wrong file of a release would be worse than asking.
func choose(container, plugin string, files []candidate) (candidate, error) {
	var named, execs []candidate
	for _, f := range files {
		if hiddenPath(f.name) {
			continue
		}
		if isBinaryName(path.Base(f.name), plugin) {
			named = append(named, f)
		} else if f.exec {
			execs = append(execs, f)
		}
	}
	switch {
	case len(named) == 1:
		return named[0], nil
	case len(named) > 1:
		return candidate{}, fmt.Errorf("%s holds several binaries named for the plugin (%s): install one of them by its path", container, candidateList(named))
	case len(execs) == 1:
		return execs[0], nil
	case len(execs) > 1:
		return candidate{}, fmt.Errorf("%s holds several executable files (%s) and none is named %s or %s_v<version>: install the plugin binary by its path",
			container, candidateList(execs), binaryPrefix+plugin, binaryPrefix+plugin)
	}
	return candidate{}, fmt.Errorf("no plugin binary in %s: want a file named %s or %s_v<version>, or a single executable file",
		container, binaryPrefix+plugin, binaryPrefix+plugin)
}

func isBinaryName(base, plugin string) bool {
	want := binaryPrefix + plugin
	return base == want || strings.HasPrefix(base, want+"_v")
}

// hiddenPath reports whether a component of name starts with a dot
// (.git, macOS "._" resource forks): such files are never the plugin.
func hiddenPath(name string) bool {
	for c := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(c, ".") && c != "." {
			return true
		}
	}
	return false
}

func candidateList(cs []candidate) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// findInDir returns the path of the plugin binary in dir or below it.
func findInDir(dir, plugin string) (string, error) {
	var files []candidate
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if c, ok := dirCandidate(dir, p, d); ok {
			files = append(files, c)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("look for the plugin binary in %s: %w", dir, err)
	}
	c, err := choose(dir, plugin, files)
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, filepath.FromSlash(c.name)), nil
}

// dirCandidate returns the file at p as a candidate when it is (or links
// to) a regular file.
func dirCandidate(dir, p string, d fs.DirEntry) (candidate, bool) {
	if d.IsDir() {
		return candidate{}, false
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return candidate{}, false
	}
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return candidate{}, false
	}
	return candidate{name: filepath.ToSlash(rel), exec: fi.Mode().Perm()&0o111 != 0}, true
}
