package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestThirdPartyPlugin runs the life of examples/thirdparty-plugin as its
// README tells it: build the plugin from its own module, pack it into a
// .tar.gz, `flowctl plugins install` it, lock it, plan and apply a pipeline
// that uses both of its components under their own names with one
// required_plugins entry.
func TestThirdPartyPlugin(t *testing.T) {
	example, err := filepath.Abs(filepath.Join("..", "..", "examples", "thirdparty-plugin"))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorkspace(t)
	dist := t.TempDir()
	bin := filepath.Join(dist, "flowctl-plugin-upper")
	build := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags", "-X main.version=1.0.0", "-o", bin, ".")
	build.Dir = example
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the example plugin in its own module: %v\n%s", err, out)
	}
	archive := filepath.Join(dist, "upper_1.0.0_"+thisPlatform()+".tar.gz")
	tarGz(t, archive, bin)

	copyFile(t, filepath.Join(example, "pipeline.hcl"), filepath.Join(w.dir, "pipeline.hcl"), 0o644)
	steps := [][]string{
		{"plugins", "install", "example.com/acme/upper", archive},
		{"plugins", "lock"},
		{"plugins", "list"},
		{"validate"},
		{"plan"},
		{"apply"},
	}
	var plan, list string
	for _, args := range steps {
		r := w.run(t, args...)
		if r.code != 0 {
			t.Fatalf("flowctl %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
		switch args[0] {
		case "plan":
			plan = r.stdout
		case "plugins":
			if args[1] == "list" {
				list = r.stdout
			}
		}
	}
	installed := filepath.Join(w.dir, ".flowctl", "plugins", "example.com", "acme", "upper", "1.0.0", thisPlatform(), "flowctl-plugin-upper_v1.0.0")
	if _, err := os.Stat(installed); err != nil {
		t.Errorf("not installed where the layout says: %v", err)
	}
	if !containsRow(plan, "example.com/acme/upper", "1.0.0", "verified", installed) {
		t.Errorf("plan does not show the verified plugin at %s:\n%s", installed, plan)
	}
	// One required_plugins entry serves both components of the binary,
	// each under its own name, and the commands say which binary that is.
	if !containsRow(plan, "tally", "example.com/acme/upper", "1.0.0", "verified", installed) {
		t.Errorf("plan does not show tally served by the upper binary:\n%s", plan)
	}
	if !containsRow(list, "example.com/acme/upper", "processor upper, sink tally", installed) {
		t.Errorf("plugins list does not show the binary's components:\n%s", list)
	}
	var counts map[string]int
	if b, err := os.ReadFile(filepath.Join(w.dir, "counts.json")); err != nil {
		t.Errorf("the tally sink wrote nothing: %v", err)
	} else if err := json.Unmarshal(b, &counts); err != nil || counts["flowctl.generator.tick"] != 100 {
		t.Errorf("counts.json = %s (%v), want 100 flowctl.generator.tick events", b, err)
	}
	lines := readLines(t, filepath.Join(w.dir, "out.jsonl"))
	if len(lines) != 100 {
		t.Fatalf("%d events written, want 100", len(lines))
	}
	for _, l := range lines {
		if l.Attributes["shouted_by"] != "upper 1.0.0" || strings.ToUpper(string(l.Data)) != string(l.Data) {
			t.Fatalf("event not processed by the plugin: %+v", l)
		}
	}
}

// tarGz packs file into a gzipped tar archive at path, as a release does.
func tarGz(t *testing.T, path, file string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	hdr := &tar.Header{Name: filepath.Base(file), Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(hdr); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	for _, c := range []interface{ Close() error }{tw, gz, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
