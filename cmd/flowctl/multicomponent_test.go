package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// multiPipeline uses the components of the stamp plugin built in mode
// multi, each under its own name, with one required_plugins entry.
const multiPipeline = `flowctl {
  required_plugins {
    stamp = { source = "example.com/acme/stamp", version = "1.0.0" }
  }
}

source "generator" "ticks" {
  count = 250
}

processor "stamp" "mark" {
  inputs = [source.ticks]
}

sink "counter" "count" {
  inputs = [processor.mark]
  path   = "count.txt"
}

sink "discard" "drop" {
  inputs = [processor.mark]
}
`

// TestMultiComponentPlugin: a binary that serves several components makes
// each usable under its own name with one required_plugins entry (the
// issue's `NewSink("counter")` inside another plugin was "unknown plugin
// counter"), except a built-in's name, which stays the built-in's; and
// plan, plugins list and plugins describe say which binary serves which
// type.
func TestMultiComponentPlugin(t *testing.T) {
	w := newWorkspace(t)
	installed := place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "multi", runtime.GOARCH))
	writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), multiPipeline)

	r := w.run(t, "validate")
	if r.code != 0 || !strings.Contains(r.stdout, "is valid: 4 components") {
		t.Fatalf("validate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = w.run(t, "plan")
	if r.code != 0 {
		t.Fatalf("plan: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, row := range [][]string{
		{"counter", stampAddr, "1.0.0", installed},
		{"stamp", stampAddr, "1.0.0", installed},
		{"discard", "flowctl/discard", "built-in"},
	} {
		if !containsRow(r.stdout, row...) {
			t.Errorf("plan has no row %q:\n%s", row, r.stdout)
		}
	}
	r = w.run(t, "plugins", "list")
	if !containsRow(r.stdout, stampAddr, "processor stamp, sink counter, sink discard", installed) {
		t.Errorf("plugins list does not show what the binary serves:\n%s%s", r.stdout, r.stderr)
	}
	r = w.run(t, "plugins", "describe", installed)
	if !strings.Contains(r.stdout, `Serves processor "stamp", sink "counter", sink "discard"`) {
		t.Errorf("plugins describe does not list the component types:\n%s%s", r.stdout, r.stderr)
	}

	if r := w.run(t, "plugins", "lock"); r.code != 0 {
		t.Fatalf("plugins lock: exit %d\n%s", r.code, r.stderr)
	}
	r = w.run(t, "apply")
	if r.code != 0 {
		t.Fatalf("apply: exit %d (a third-party discard refuses everything)\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(w.dir, "count.txt")); err != nil || string(b) != "250" {
		t.Errorf("the counter sink counted %q (%v), want 250", b, err)
	}
	if !containsRow(r.stderr, "sink.count", stampAddr+" 1.0.0", "250") || !containsRow(r.stderr, "sink.drop", "flowctl/discard") {
		t.Errorf("summary does not show which plugin ran each sink:\n%s", r.stderr)
	}
}

// TestMultiComponentAmbiguous: when two declared binaries serve the same
// component type, flowctl names both and how to choose; declaring one under
// the type's name chooses it.
func TestMultiComponentAmbiguous(t *testing.T) {
	w := newWorkspace(t)
	bin := stampBinary(t, "1.0.0", "multi", runtime.GOARCH)
	place(t, w.tree, "1.0.0", thisPlatform(), bin)
	other := filepath.Join(w.tree, "example.com", "beta", "stamp", "1.0.0", thisPlatform())
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, bin, filepath.Join(other, "flowctl-plugin-stamp_v1.0.0"), 0o755)

	pipeline := func(second string) string {
		return `flowctl {
  required_plugins {
    stamp = { source = "example.com/acme/stamp", version = "1.0.0" }
    ` + second + ` = { source = "example.com/beta/stamp", version = "1.0.0" }
  }
}

source "generator" "ticks" {
  count = 10
}

sink "counter" "count" {
  inputs = [source.ticks]
  path   = "count.txt"
}
`
	}
	writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), pipeline("beta"))
	r := w.run(t, "validate")
	for _, want := range []string{"Ambiguous component type", `a sink "counter" is served by example.com/acme/stamp (required as "stamp") and example.com/beta/stamp (required as "beta")`, "counter = { source = ... }", "pipeline.hcl:12"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("validate stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.code != 1 {
		t.Errorf("validate: exit %d, want 1", r.code)
	}

	writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), pipeline("counter"))
	r = w.run(t, "plan")
	if r.code != 0 || !containsRow(r.stdout, "counter", "example.com/beta/stamp") {
		t.Errorf("plan with counter declared by name: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
