package main

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// oldSenderPipeline puts a plugin that speaks protocol 2 (stamp, mode
// protocol2) before or into a parallel component.
func oldSenderPipeline(stampPar, sinkPar int) string {
	return fmt.Sprintf(`flowctl {
  required_plugins {
    stamp = { source = "example.com/acme/stamp", version = "1.0.0" }
  }
}

source "generator" "ticks" {
  count = 500
}

processor "stamp" "s" {
  inputs      = [source.ticks]
  parallelism = %d
}

sink "discard" "out" {
  inputs      = [processor.s]
  parallelism = %d
}
`, stampPar, sinkPar)
}

// TestParallelNeedsProtocol3FromSenders: a plugin of protocol 2 would send
// every batch to every instance of a parallel component, so apply refuses
// it as a sender, naming it; as a parallel component itself it is fine.
func TestParallelNeedsProtocol3FromSenders(t *testing.T) {
	w := newWorkspace(t)
	place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "protocol2", runtime.GOARCH))

	writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), oldSenderPipeline(1, 2))
	if r := w.run(t, "plugins", "lock"); r.code != 0 {
		t.Fatalf("plugins lock: exit %d\n%s", r.code, r.stderr)
	}
	r := w.run(t, "apply")
	want := "sink.out runs as 2 instances, but processor.s, which sends to it, is a plugin ("
	if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "of protocol 2: sending to parallel components takes protocol 3") {
		t.Fatalf("apply: exit %d, want 1 and %q:\n%s", r.code, want, r.stderr)
	}

	writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), oldSenderPipeline(2, 1))
	r = w.run(t, "apply")
	if r.code != 0 {
		t.Fatalf("apply with the old plugin as the parallel one: exit %d\n%s", r.code, r.stderr)
	}
	for _, row := range [][]string{{"processor.s[0]", stampAddr}, {"processor.s[1]", stampAddr}, {"sink.out", "flowctl/discard"}} {
		if !containsRow(r.stderr, row...) {
			t.Errorf("summary has no row %q:\n%s", row, r.stderr)
		}
	}
}

// TestParallelNeedsDirectPath: with --plugin-tls local plugins serve the
// host only, so batches relay through it, which parallel components cannot
// do; apply refuses and says that the flag is why.
func TestParallelNeedsDirectPath(t *testing.T) {
	w := newWorkspace(t)
	writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), `source "generator" "ticks" {
  count = 100
}

sink "discard" "out" {
  inputs      = [source.ticks]
  parallelism = 2
}
`)
	r := w.run(t, "apply", "--plugin-tls")
	want := "sink.out has parallelism = 2, which needs batches to go plugin to plugin, but local plugins serve only the host when their connections are encrypted (--plugin-tls)"
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("apply --plugin-tls: exit %d, want 1 and %q:\n%s", r.code, want, r.stderr)
	}
	if r := w.run(t, "apply"); r.code != 0 {
		t.Fatalf("apply without --plugin-tls: exit %d\n%s", r.code, r.stderr)
	}
}
