package catalog

import (
	"os"
	"path/filepath"
	"strings"
)

// binaryPrefix starts every plugin binary's file name, so that a directory
// or archive holding other files still shows which one is the plugin.
const binaryPrefix = "flowctl-plugin-"

// BinaryName is the file name of an installed plugin binary:
// "flowctl-plugin-<name>_v<version>". The version in the name keeps two
// versions' binaries distinguishable in process lists and crash reports.
func BinaryName(name, version string) string {
	return binaryPrefix + name + "_v" + version
}

// BinaryPath is where the binary of a at version for p lives under root.
func BinaryPath(root string, a Address, version string, p Platform) string {
	return filepath.Join(pluginDir(root, a), version, p.String(), BinaryName(a.Name, version))
}

// pluginDir holds every version of a under root.
func pluginDir(root string, a Address) string {
	return filepath.Join(root, a.Hostname, a.Namespace, a.Name)
}

// DefaultSearchPath returns the plugin directories in priority order:
// pluginDirs (--plugin-dir, in order), the entries of FLOWCTL_PLUGIN_PATH,
// <workdir>/.flowctl/plugins, $XDG_DATA_HOME/flowctl/plugins (default
// $HOME/.local/share; left out when neither is set) and
// /usr/local/share/flowctl/plugins. Duplicates are dropped, the first kept,
// so a directory keeps its highest priority. getenv is passed in so that
// tests and callers control the environment.
func DefaultSearchPath(pluginDirs []string, getenv func(string) string, workdir string) []string {
	var dirs []string
	dirs = append(dirs, pluginDirs...)
	for _, d := range filepath.SplitList(getenv("FLOWCTL_PLUGIN_PATH")) {
		if strings.TrimSpace(d) != "" {
			dirs = append(dirs, d)
		}
	}
	dirs = append(dirs, filepath.Join(workdir, ".flowctl", "plugins"))
	if data := dataHome(getenv); data != "" {
		dirs = append(dirs, filepath.Join(data, "flowctl", "plugins"))
	}
	dirs = append(dirs, filepath.Join(string(os.PathSeparator), "usr", "local", "share", "flowctl", "plugins"))
	return dedupe(dirs)
}

func dataHome(getenv func(string) string) string {
	if d := getenv("XDG_DATA_HOME"); d != "" {
		return d
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "share")
	}
	return ""
}

// dedupe keeps the first of equal directories, compared cleaned so that
// "a/" and "a" count as one, and drops empty ones.
func dedupe(dirs []string) []string {
	seen := map[string]bool{}
	out := dirs[:0]
	for _, d := range dirs {
		c := filepath.Clean(d)
		if d == "" || seen[c] {
			continue
		}
		seen[c] = true
		out = append(out, d)
	}
	return out
}

// DefaultCacheDir is flowctl's cache directory: $XDG_CACHE_HOME/flowctl
// (default $HOME/.cache/flowctl); "" when neither is set, and then nothing
// is cached.
func DefaultCacheDir(getenv func(string) string) string {
	if d := getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "flowctl")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".cache", "flowctl")
	}
	return ""
}
