package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// The catalog tests run flowctl against plugin trees built from
// testdata/plugins/stamp, a third-party-style processor that stamps its
// version on every event, in honest and misbehaving builds.

const stampAddr = "example.com/acme/stamp"

var (
	stampMu    sync.Mutex
	stampBuilt = map[string]string{}
)

// stampBinary builds the stamp plugin once per version, mode and GOARCH.
func stampBinary(t *testing.T, version, mode, goarch string) string {
	t.Helper()
	stampMu.Lock()
	defer stampMu.Unlock()
	key := version + "-" + mode + "-" + goarch
	if p, ok := stampBuilt[key]; ok {
		return p
	}
	out := filepath.Join(filepath.Dir(flowctlBin), "stamp-"+key)
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", fmt.Sprintf("-X main.version=%s -X main.mode=%s", version, mode),
		"-o", out, "./testdata/plugins/stamp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build stamp %s: %v\n%s", key, err, b)
	}
	stampBuilt[key] = out
	return out
}

// otherArch is an architecture this machine does not run, for builds of
// the wrong platform.
func otherArch() string {
	if runtime.GOARCH == "arm64" {
		return "amd64"
	}
	return "arm64"
}

func thisPlatform() string  { return runtime.GOOS + "_" + runtime.GOARCH }
func otherPlatform() string { return runtime.GOOS + "_" + otherArch() }

// place copies bin into tree as the stamp plugin's version for platform,
// exactly where the catalog's layout puts it.
func place(t *testing.T, tree, version, platform, bin string) string {
	t.Helper()
	dir := filepath.Join(tree, "example.com", "acme", "stamp", version, platform)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "flowctl-plugin-stamp_v"+version)
	copyFile(t, bin, dst, 0o755)
	return dst
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dst, mode); err != nil {
		t.Fatal(err)
	}
}

// workspace is a pipeline directory and a plugin tree, isolated from the
// machine's plugin directories.
type workspace struct {
	dir, tree string
	env       []string
}

func newWorkspace(t *testing.T) *workspace {
	t.Helper()
	root := t.TempDir()
	w := &workspace{dir: filepath.Join(root, "work"), tree: filepath.Join(root, "plugins")}
	for _, d := range []string{w.dir, w.tree} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w.env = []string{
		"FLOWCTL_PLUGIN_PATH=" + w.tree,
		"XDG_DATA_HOME=" + filepath.Join(root, "xdg"),
		"HOME=" + root,
	}
	return w
}

func (w *workspace) run(t *testing.T, args ...string) result {
	t.Helper()
	return flowctlEnv(t, w.dir, w.env, args...)
}

// stampPipeline uses the stamp plugin under constraint, writing out.jsonl.
func stampPipeline(constraint string) string {
	return fmt.Sprintf(`flowctl {
  required_plugins {
    stamp = { source = %q, version = %q }
  }
}

source "generator" "ticks" {
  count = 20
}

processor "stamp" "s" {
  inputs = [source.ticks]
}

sink "file" "out" {
  inputs = [processor.s]
  path   = "out.jsonl"
}
`, stampAddr, constraint)
}

var (
	h1RE = regexp.MustCompile(`h1:[A-Za-z0-9+/]{43}=`)
	// logLineRE matches a host log line; its timestamp differs every run.
	logLineRE = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\S+ \[[A-Z]+\] .*\n`)
	// The control plane's address and run id change every run.
	controlPlaneLineRE = regexp.MustCompile(`(?m)^Control plane: .*\n`)
)

// normalize replaces what differs between machines and runs in output
// meant for golden files.
func (w *workspace) normalize(s string) string {
	s = logLineRE.ReplaceAllString(s, "")
	s = controlPlaneLineRE.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, w.tree, "$PLUGINS")
	s = strings.ReplaceAll(s, w.dir, "$WORK")
	s = h1RE.ReplaceAllString(s, "h1:<hash>")
	s = strings.ReplaceAll(s, thisPlatform(), "$PLATFORM")
	s = strings.ReplaceAll(s, otherPlatform(), "$OTHER_PLATFORM")
	s = strings.ReplaceAll(s, runtime.GOOS+"/"+otherArch(), "$OTHER_OS/ARCH")
	return s
}

func checkGoldenFile(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept it)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// lockPlugins writes the workspace's lock file (describe works in every
// misbehaving mode but protocol9, so the bad plugins can be locked too).
func lockPlugins(t *testing.T, w *workspace) {
	t.Helper()
	if r := w.run(t, "plugins", "lock"); r.code != 0 {
		t.Fatalf("plugins lock: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestCatalogErrors shows, for each way a plugin can be broken, the exact
// message a user sees, from validate or from apply.
func TestCatalogErrors(t *testing.T) {
	tests := []struct {
		name string
		// setup fills the workspace; it returns the flowctl arguments.
		setup func(t *testing.T, w *workspace) []string
	}{
		{"not_executable", func(t *testing.T, w *workspace) []string {
			bin := place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "", runtime.GOARCH))
			if err := os.Chmod(bin, 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"validate"}
		}},
		{"wrong_architecture", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "", otherArch()))
			return []string{"validate"}
		}},
		{"stdout_before_handshake", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "stdout", runtime.GOARCH))
			lockPlugins(t, w) // apply runs only locked plugins
			return []string{"apply"}
		}},
		{"wrong_magic_cookie", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "cookie", runtime.GOARCH))
			lockPlugins(t, w) // apply runs only locked plugins
			return []string{"apply"}
		}},
		{"wrong_protocol_version", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "protocol9", runtime.GOARCH))
			return []string{"validate"}
		}},
		{"wrong_protocol_in_handshake", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "protocol9-handshake", runtime.GOARCH))
			lockPlugins(t, w) // apply runs only locked plugins
			return []string{"apply"}
		}},
		{"exits_during_start", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "exit", runtime.GOARCH))
			lockPlugins(t, w) // apply runs only locked plugins
			return []string{"apply"}
		}},
		{"unreachable_after_handshake", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "badsocket", runtime.GOARCH))
			return []string{"validate"}
		}},
		{"start_timeout", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "hang", runtime.GOARCH))
			lockPlugins(t, w) // apply runs only locked plugins
			return []string{"apply", "--start-timeout", "2s"}
		}},
		{"checksum_mismatch", func(t *testing.T, w *workspace) []string {
			bin := place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "", runtime.GOARCH))
			if r := w.run(t, "plugins", "lock"); r.code != 0 {
				t.Fatalf("lock: %+v", r)
			}
			// Same version, another build: what a tampered or swapped binary looks like.
			copyFile(t, stampBinary(t, "1.0.0", "stdout", runtime.GOARCH), bin, 0o755)
			return []string{"validate"}
		}},
		{"no_matching_version", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "", runtime.GOARCH))
			place(t, w.tree, "1.1.0", otherPlatform(), stampBinary(t, "1.1.0", "", otherArch()))
			writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), stampPipeline("~> 2.0"))
			return []string{"validate"}
		}},
		{"version_differs_from_directory", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.1.0", thisPlatform(), stampBinary(t, "1.0.0", "", runtime.GOARCH))
			return []string{"validate"}
		}},
		{"not_declared", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "", runtime.GOARCH))
			writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), strings.SplitN(stampPipeline("~> 1.0"), "\n\n", 2)[1])
			return []string{"validate"}
		}},
		{"apply_not_locked", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "", runtime.GOARCH))
			return []string{"apply"}
		}},
		{"not_in_lock_file", func(t *testing.T, w *workspace) []string {
			place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "", runtime.GOARCH))
			writeFile(t, filepath.Join(w.dir, ".flowctl.lock.hcl"), "# empty\n")
			return []string{"validate"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorkspace(t)
			writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), stampPipeline("~> 1.0"))
			args := tt.setup(t, w)
			r := w.run(t, args...)
			if r.code == 0 {
				t.Fatalf("flowctl %v succeeded:\n%s%s", args, r.stdout, r.stderr)
			}
			got := fmt.Sprintf("$ flowctl %s\nexit code: %d\n--- stderr\n%s", strings.Join(args, " "), r.code, w.normalize(r.stderr))
			checkGoldenFile(t, filepath.Join("testdata", "catalog", tt.name+".golden"), got)
			if out, err := exec.Command("pgrep", "-f", w.tree).Output(); err == nil {
				t.Errorf("a plugin outlived flowctl: pids %s", out)
			}
		})
	}
}
