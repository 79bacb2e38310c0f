//go:build chaos

package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// Parallel components under faults: one instance of three is killed with
// SIGKILL mid-run. It is restarted on its own, the run completes, every
// event arrives, duplicates stay within what the source had in flight, and
// with partition_by = "key" each key's events reach the sink in order.

// keys is how many distinct keys the generator cycles through: event n has
// key n mod keys.
const keys = 20

// parallelPipeline is generator → transform → file with parallelism on the
// processor or the sink, slow enough to be hit mid-stream.
func parallelPipeline(count int, procPar, sinkPar string) string {
	return fmt.Sprintf(`
pipeline "chaos" {
  restart {
    attempts = 3
    delay    = "100ms"
  }
}
source "generator" "ticks" {
  count = %d
  rate  = 5000
  keys  = %d
  batch {
    size = %d
  }
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { stage = "tagged" }
  %s
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "out.jsonl"
  %s
}
`, count, keys, batchSize, procPar, sinkPar)
}

const byKey = "parallelism = 3\n  partition_by = \"key\""

// killInstance kills one of the three plugin processes serving plugin and
// returns its pid.
func killInstance(t *testing.T, b *background, plugin string) int {
	t.Helper()
	pids := b.plugins(plugin, 3)
	if len(pids) != 3 {
		t.Fatalf("%d %s plugin processes under flowctl, want 3:\n%s", len(pids), plugin, b.output())
	}
	if err := syscall.Kill(pids[1], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return pids[1]
}

// checkInstances checks that exactly one of component's three instances
// was restarted, once, and that each got events.
func checkInstances(t *testing.T, out, component string) {
	t.Helper()
	rows := summaryRows(out)
	restarted := 0
	for i := range 3 {
		row := rows[fmt.Sprintf("%s[%d]", component, i)]
		if len(row) < 7 {
			t.Fatalf("no summary row for %s[%d]:\n%s", component, i, out)
		}
		if row[0] == "0" {
			t.Errorf("%s[%d] got no events: %v", component, i, row)
		}
		switch row[6] {
		case "0":
		case "1":
			restarted++
		default:
			t.Errorf("%s[%d] restarted %s times", component, i, row[6])
		}
	}
	if restarted != 1 {
		t.Errorf("%d instances of %s restarted, want 1:\n%s", restarted, component, out)
	}
}

// checkKeyOrder checks that, leaving out events seen before (a replay),
// each key's events are in the file in the order the source made them.
func checkKeyOrder(t *testing.T, lines []line) {
	t.Helper()
	last := map[int]int{}
	for _, l := range lines {
		id, err := strconv.Atoi(l.ID)
		if err != nil {
			t.Fatalf("event id %q", l.ID)
		}
		k := id % keys
		prev, ok := last[k]
		switch {
		case ok && id <= prev:
			continue // delivered again after the failure
		case ok && id != prev+keys, !ok && id != k && id != k+keys:
			t.Fatalf("key k%d: event %d follows %d (first %v)", k, id, prev, !ok)
		}
		last[k] = id
	}
}

// killOneOfThree runs the pipeline, kills one instance of plugin (serving
// component) mid-run, and checks that the run completes with every event,
// duplicates within the in-flight window and, when byKeyOrder, each key in
// order.
func killOneOfThree(t *testing.T, procPar, sinkPar, plugin, component string, byKeyOrder bool) {
	const n = 30000
	dir := pipelineDir(t, parallelPipeline(n, procPar, sinkPar))
	b := startBackground(t, dir, "apply", "p.hcl")
	out := filepath.Join(dir, "out.jsonl")
	waitLines(t, b, out, 3000)
	killInstance(t, b, plugin)
	if code := b.wait(90 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, b.output())
	}
	checkInstances(t, b.output(), component)
	lines := readLines(t, out)
	checkDelivery(t, n, inFlightBound, lines)
	if byKeyOrder {
		checkKeyOrder(t, lines)
	}
}

func TestChaosParallelKillProcessorInstance(t *testing.T) {
	killOneOfThree(t, byKey, "", "transform", "processor.tag", true)
}

func TestChaosParallelKillSinkInstance(t *testing.T) {
	killOneOfThree(t, "", byKey, "file", "sink.out", true)
}

// Without partition_by each batch goes to whichever instance is ready: no
// order to keep, but nothing may be lost.
func TestChaosParallelKillAnyInstance(t *testing.T) {
	killOneOfThree(t, "parallelism = 3", "", "transform", "processor.tag", false)
}
