package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// commandGolden runs flowctl in dir and compares what the user sees with
// testdata/commands/NAME.golden, after normalize.
func commandGolden(t *testing.T, name, dir string, normalize func(string) string, args ...string) result {
	t.Helper()
	r := flowctl(t, dir, args...)
	got := "$ flowctl " + strings.Join(args, " ") + "\nexit code: " + itoa(r.code) + "\n--- stdout\n" + r.stdout + "--- stderr\n" + r.stderr
	if normalize != nil {
		got = normalize(got)
	}
	checkGoldenFile(t, filepath.Join("testdata", "commands", name+".golden"), got)
	return r
}

func itoa(n int) string { return strconv.Itoa(n) }

// hidePaths replaces the test binary's location and version, which differ
// between machines and builds.
func hidePaths(s string) string {
	s = strings.ReplaceAll(s, flowctlBin, "$FLOWCTL")
	return strings.ReplaceAll(s, version, "$VERSION")
}

func TestPlanGolden(t *testing.T) {
	commandGolden(t, "plan_hello", filepath.Join("..", "..", "examples", "hello"), hidePaths, "plan")
}

func TestGraphGolden(t *testing.T) {
	dir := filepath.Join("testdata", "validate")
	commandGolden(t, "graph_dot", dir, nil, "graph", "valid.hcl")
	commandGolden(t, "graph_bad_format", dir, nil, "graph", "-format", "png", "valid.hcl")
}

// TestGraphSVG renders through Graphviz; .ci/run installs it.
func TestGraphSVG(t *testing.T) {
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("Graphviz `dot` is not installed (apt-get install graphviz); .ci/run installs it")
	}
	r := flowctl(t, filepath.Join("testdata", "validate"), "graph", "-format", "svg", "valid.hcl")
	if r.code != 0 || !strings.Contains(r.stdout, "<svg") || !strings.Contains(r.stdout, "source.ticks") {
		t.Fatalf("graph -format svg: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestValidateJSONGolden(t *testing.T) {
	dir := filepath.Join("testdata", "validate")
	commandGolden(t, "validate_json_invalid", dir, nil, "validate", "-json", "unknown_input.hcl")
	r := commandGolden(t, "validate_json_valid", dir, nil, "validate", "-json", "valid.hcl")
	var report struct {
		Valid bool `json:"valid"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || !report.Valid {
		t.Errorf("validate -json on a valid pipeline: %v %s", err, r.stdout)
	}
}

// TestFmtCommand checks fmt's modes on a real directory: -check finds the
// unformatted file and changes nothing, -diff shows the change, fmt writes
// it, and a second fmt finds nothing to do.
func TestFmtCommand(t *testing.T) {
	dir := t.TempDir()
	ugly := "source \"generator\" \"g\" {\n    count=10\n  type = \"x\"\n\n\n}\n"
	writeFile(t, filepath.Join(dir, "p.hcl"), ugly)
	writeFile(t, filepath.Join(dir, "ok.hcl"), "sink \"discard\" \"d\" {\n  inputs = [source.g]\n}\n")
	if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "sub", "q.hcl"), "pipeline  \"q\" {\n}\n")

	hideDir := func(s string) string { return strings.ReplaceAll(s, dir, "$DIR") }
	commandGolden(t, "fmt_check_diff", dir, hideDir, "fmt", "-check", "-diff")
	if b, _ := os.ReadFile(filepath.Join(dir, "p.hcl")); string(b) != ugly {
		t.Fatal("fmt -check changed the file")
	}
	commandGolden(t, "fmt_write_recursive", dir, hideDir, "fmt", "-recursive")
	if r := flowctl(t, dir, "fmt", "-check", "-recursive"); r.code != 0 || r.stdout != "" {
		t.Errorf("fmt is not idempotent: a second run wants changes:\n%s%s", r.stdout, r.stderr)
	}

	writeFile(t, filepath.Join(dir, "broken.hcl"), "source \"generator\" {\n")
	commandGolden(t, "fmt_syntax_error", dir, hideDir, "fmt", "broken.hcl")
}

// TestInitCommand starts a pipeline from nothing and runs it.
func TestInitCommand(t *testing.T) {
	w := newWorkspace(t)
	r := w.run(t, "init")
	if r.code != 0 {
		t.Fatalf("init: %s%s", r.stdout, r.stderr)
	}
	for _, f := range []string{"pipeline.hcl", ".flowctl.lock.hcl"} {
		if _, err := os.Stat(filepath.Join(w.dir, f)); err != nil {
			t.Errorf("init did not write %s: %v", f, err)
		}
	}
	r = w.run(t, "apply")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 10 {
		t.Fatalf("apply of the starter pipeline: exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r := w.run(t, "fmt", "-check"); r.code != 0 {
		t.Errorf("the starter pipeline is not formatted:\n%s", r.stdout)
	}
	// A second init keeps the pipeline and refreshes the lock file.
	before, _ := os.ReadFile(filepath.Join(w.dir, "pipeline.hcl"))
	if r := w.run(t, "init"); r.code != 0 {
		t.Fatalf("second init: %s", r.stderr)
	}
	if after, _ := os.ReadFile(filepath.Join(w.dir, "pipeline.hcl")); string(after) != string(before) {
		t.Error("a second init rewrote pipeline.hcl")
	}
}

// TestPluginsCommands installs, lists, describes and removes a plugin.
func TestPluginsCommands(t *testing.T) {
	w := newWorkspace(t)
	bin := stampBinary(t, "1.2.0", "", runtime.GOARCH)
	if r := w.run(t, "plugins", "install", stampAddr, bin); r.code != 0 {
		t.Fatalf("install: %s%s", r.stdout, r.stderr)
	}
	r := w.run(t, "plugins", "install", stampAddr, bin)
	if r.code != 0 || !strings.Contains(r.stdout, "Already installed") {
		t.Errorf("second install of the same binary: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = w.run(t, "plugins", "list")
	installed := filepath.Join(w.dir, ".flowctl", "plugins", "example.com", "acme", "stamp", "1.2.0", thisPlatform(), "flowctl-plugin-stamp_v1.2.0")
	if !containsRow(r.stdout, stampAddr, "1.2.0", thisPlatform(), "1", installed) || !containsRow(r.stdout, "flowctl/generator") {
		t.Errorf("plugins list:\n%s", r.stdout)
	}
	r = w.run(t, "plugins", "describe", installed)
	if r.code != 0 || !strings.Contains(r.stdout, "stamp 1.2.0") || !strings.Contains(r.stdout, `processor "stamp"`) {
		t.Errorf("plugins describe: %s%s", r.stdout, r.stderr)
	}
	r = w.run(t, "plugins", "remove", stampAddr, "1.2.0")
	if r.code != 0 || !strings.Contains(r.stdout, "Removed "+stampAddr+" 1.2.0") {
		t.Errorf("plugins remove: %s%s", r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(w.dir, ".flowctl", "plugins", "example.com")); !os.IsNotExist(err) {
		t.Errorf("remove left directories behind: %v", err)
	}
	if r := w.run(t, "plugins", "remove", stampAddr); r.code == 0 || !strings.Contains(r.stderr, "is not installed") {
		t.Errorf("removing what is not installed: exit %d %s", r.code, r.stderr)
	}
}

// TestUsageErrors shows what each kind of usage error prints and that it
// exits 2 (README: "2 usage"), with a suggestion when a name is a typo.
func TestUsageErrors(t *testing.T) {
	dir := filepath.Join("testdata", "validate")
	tests := []struct {
		name string
		args []string
	}{
		{"usage_unknown_command", []string{"bogus"}},
		{"usage_command_typo", []string{"valdate", "valid.hcl"}},
		{"usage_unknown_subcommand", []string{"plugins", "instal"}},
		{"usage_unknown_flag", []string{"apply", "--rest", "valid.hcl"}},
		{"usage_two_pipelines", []string{"validate", "valid.hcl", "cycle.hcl"}},
		{"usage_bad_var", []string{"validate", "-var", "count", "valid.hcl"}},
		{"usage_bad_log_level", []string{"validate", "--log-level", "loud", "valid.hcl"}},
		{"usage_plugins_install_arguments", []string{"plugins", "install", "example.com/acme/upper"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := commandGolden(t, tt.name, dir, nil, tt.args...)
			if r.code != exitUsage {
				t.Errorf("flowctl %v exited %d, want %d (usage error)", tt.args, r.code, exitUsage)
			}
		})
	}
}
