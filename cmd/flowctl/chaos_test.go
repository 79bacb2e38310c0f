//go:build chaos

package main

// Fault tests (`make chaos`): real flowctl and plugin processes, killed with
// SIGKILL, slowed down and made to fail. Each checks that the union of the
// sinks' output holds every event of the source at least once, and that
// duplicates are bounded by what can be in flight.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowctl/flowctl/host/checkpoint"
)

func init() { buildTags = "chaos" }

// inFlightBound is the most events that can be delivered twice after one
// failure: every batch a source may have unacked (its credits, 16) of the
// batch size the fault pipelines use.
const (
	batchSize     = 100
	inFlightBound = 16 * batchSize
)

// background is a flowctl apply running in dir.
type background struct {
	t      *testing.T
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

type lockedWriter struct{ b *background }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	return w.b.stderr.Write(p)
}

func startBackground(t *testing.T, dir string, args ...string) *background {
	t.Helper()
	b := &background{t: t, done: make(chan struct{})}
	b.cmd = exec.Command(flowctlBin, args...)
	b.cmd.Dir = dir
	b.cmd.Stderr = lockedWriter{b}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { b.err = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		_ = b.cmd.Process.Kill()
		<-b.done
	})
	return b
}

func (b *background) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// wait waits for the exit and returns the exit code.
func (b *background) wait(timeout time.Duration) int {
	b.t.Helper()
	select {
	case <-b.done:
	case <-time.After(timeout):
		b.t.Fatalf("flowctl still running after %s:\n%s", timeout, b.output())
	}
	if b.err == nil {
		return 0
	}
	if ee, ok := b.err.(*exec.ExitError); ok { //nolint:errorlint // Wait returns it unwrapped
		return ee.ExitCode()
	}
	b.t.Fatalf("wait: %v", b.err)
	return -1
}

// plugin finds the pid of the plugin process serving the built-in plugin
// name under flowctl.
func (b *background) plugin(name string) int {
	b.t.Helper()
	return b.plugins(name, 1)[0]
}

// plugins waits for n live plugin processes serving the built-in plugin
// name under flowctl and returns their pids.
func (b *background) plugins(name string, n int) []int {
	b.t.Helper()
	var pids []int
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		pids = pids[:0]
		for pid, args := range children(b.cmd.Process.Pid) {
			if len(args) >= 3 && args[1] == builtinCommand && args[2] == name && alive(pid) {
				pids = append(pids, pid)
			}
		}
		if len(pids) >= n {
			return pids
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.t.Fatalf("%d %s plugin processes under flowctl, want %d:\n%s", len(pids), name, n, b.output())
	return nil
}

// waitLines waits until path holds at least n lines.
func waitLines(t *testing.T, b *background, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(path); err == nil && bytes.Count(data, []byte("\n")) >= n {
			return
		}
		select {
		case <-b.done:
			t.Fatalf("flowctl exited before %s had %d lines:\n%s", path, n, b.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("%s has fewer than %d lines after 30s:\n%s", path, n, b.output())
}

// readLinesIfAny is readLines, or nothing when path does not exist.
func readLinesIfAny(t *testing.T, path string) []line {
	t.Helper()
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil
	}
	return readLines(t, path)
}

// checkDelivery checks that the lines hold every generator id 1..n at least
// once, with at most maxDup duplicates.
func checkDelivery(t *testing.T, n, maxDup int, lines ...[]line) {
	t.Helper()
	seen := make(map[int]int, n)
	for _, ls := range lines {
		for _, l := range ls {
			id, err := strconv.Atoi(l.ID)
			if err != nil || id < 1 || id > n {
				t.Fatalf("unexpected event id %q", l.ID)
			}
			seen[id]++
		}
	}
	var missing []int
	dups := 0
	for id := 1; id <= n; id++ {
		switch c := seen[id]; {
		case c == 0:
			missing = append(missing, id)
		case c > 1:
			dups += c - 1
		}
	}
	if len(missing) > 0 {
		t.Errorf("%d of %d events lost, first %v", len(missing), n, missing[:min(10, len(missing))])
	}
	if dups > maxDup {
		t.Errorf("%d duplicates, more than the %d that can be in flight", dups, maxDup)
	}
	t.Logf("%d events delivered, %d duplicates", n, dups)
}

func pipelineDir(t *testing.T, hcl string) string {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), hcl)
	return dir
}

// linear is generator → transform → file, slow enough to be hit mid-stream.
func linear(count, rate int) string {
	return fmt.Sprintf(`
pipeline "chaos" {
  restart {
    attempts = 3
    delay    = "100ms"
  }
}
source "generator" "ticks" {
  count = %d
  rate  = %d
  batch {
    size = %d
  }
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { stage = "tagged" }
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "out.jsonl"
}
`, count, rate, batchSize)
}

// TestChaosKillProcessor: SIGKILL of the processor mid-stream; it is
// restarted, what it held is delivered again and the run completes.
func TestChaosKillProcessor(t *testing.T) {
	const n = 20000
	dir := pipelineDir(t, linear(n, 5000))
	b := startBackground(t, dir, "apply", "p.hcl")
	waitLines(t, b, filepath.Join(dir, "out.jsonl"), 2000)
	pid := b.plugin("transform")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(60 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, b.output())
	}
	out := b.output()
	if !strings.Contains(out, "processor.tag: restarted") {
		t.Errorf("no restart reported:\n%s", out)
	}
	if row := summaryRows(out)["processor.tag"]; len(row) < 7 || row[6] != "1" {
		t.Errorf("processor.tag summary %v, want 1 restart:\n%s", row, out)
	}
	checkDelivery(t, n, inFlightBound, readLines(t, filepath.Join(dir, "out.jsonl")))
}

// TestChaosKillSink: SIGKILL of the sink mid-stream.
func TestChaosKillSink(t *testing.T) {
	const n = 20000
	dir := pipelineDir(t, linear(n, 5000))
	b := startBackground(t, dir, "apply", "p.hcl")
	waitLines(t, b, filepath.Join(dir, "out.jsonl"), 2000)
	if err := syscall.Kill(b.plugin("file"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(60 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, b.output())
	}
	if row := summaryRows(b.output())["sink.out"]; len(row) < 7 || row[6] != "1" {
		t.Errorf("sink.out summary %v, want 1 restart:\n%s", row, b.output())
	}
	checkDelivery(t, n, inFlightBound, readLines(t, filepath.Join(dir, "out.jsonl")))
}

// TestChaosKillHost: SIGKILL of flowctl itself; its plugins go too, and a
// second apply resumes from the checkpoint and completes.
func TestChaosKillHost(t *testing.T) {
	const n = 20000
	dir := pipelineDir(t, linear(n, 5000))
	b := startBackground(t, dir, "apply", "p.hcl")
	waitLines(t, b, filepath.Join(dir, "out.jsonl"), 3000)
	plugins := children(b.cmd.Process.Pid)
	if len(plugins) != 3 {
		t.Fatalf("want 3 plugin processes, got %v", plugins)
	}
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	b.wait(10 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for pid, args := range plugins {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("plugin %d %v outlived its killed host", pid, args)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	before := len(readLines(t, filepath.Join(dir, "out.jsonl")))

	again := startBackground(t, dir, "apply", "p.hcl")
	if code := again.wait(60 * time.Second); code != 0 {
		t.Fatalf("second apply: exit %d:\n%s", code, again.output())
	}
	if !strings.Contains(again.output(), "source.ticks: resuming from its checkpoint") {
		t.Errorf("second apply does not say it resumes:\n%s", again.output())
	}
	lines := readLines(t, filepath.Join(dir, "out.jsonl"))
	if len(lines)-before >= n {
		t.Errorf("second apply wrote %d events: it started over instead of resuming", len(lines)-before)
	}
	checkDelivery(t, n, inFlightBound, lines)
}

// rss returns a process's resident set size in bytes.
func rss(pid int) (int64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}

// TestChaosSlowSink: a sink far slower than its source; memory stays
// bounded everywhere (backpressure, not buffering) and nothing is dropped.
func TestChaosSlowSink(t *testing.T) {
	const n = 30000
	dir := pipelineDir(t, fmt.Sprintf(`
source "generator" "fast" {
  count        = %d
  payload_size = 100
}
sink "chaos" "slow" {
  inputs = [source.fast]
  path   = "out.jsonl"
  delay  = "200ms"
  fsync  = false
}
`, n))
	b := startBackground(t, dir, "apply", "p.hcl")
	b.plugin("generator")
	b.plugin("chaos")
	// generator → discard moves about 640,000 events a second here (flowctl
	// 0.1.0-dev, 2 cores); the sink takes 200ms a batch of 1000, 5,000 a
	// second: over 100 times slower.
	const ceiling = 150 << 20
	peak := map[string]int64{}
	for {
		procs := map[string]int{"flowctl": b.cmd.Process.Pid}
		for pid, args := range children(b.cmd.Process.Pid) {
			if len(args) >= 3 {
				procs[args[2]] = pid
			}
		}
		for name, pid := range procs {
			if v, ok := rss(pid); ok && v > peak[name] {
				peak[name] = v
			}
		}
		select {
		case <-b.done:
		case <-time.After(50 * time.Millisecond):
			continue
		}
		break
	}
	if code := b.wait(time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, b.output())
	}
	for name, v := range peak {
		t.Logf("peak RSS %s: %d MiB", name, v>>20)
		if v > ceiling {
			t.Errorf("%s peaked at %d MiB RSS, over the %d MiB ceiling", name, v>>20, ceiling>>20)
		}
	}
	if len(peak) < 3 {
		t.Errorf("sampled only %v", peak)
	}
	checkDelivery(t, n, 0, readLines(t, filepath.Join(dir, "out.jsonl")))
}

// nacking is generator → chaos sink that refuses two events, with the
// given on_error settings.
func nacking(n int, nackTimes int, onError string) string {
	return fmt.Sprintf(`
source "generator" "ticks" {
  count = %d
  batch {
    size = %d
  }
}
sink "chaos" "out" {
  inputs     = [source.ticks]
  path       = "out.jsonl"
  nack_ids   = ["00000150", "00001234"]
  nack_times = %d
  %s
}
sink "file" "dlq" {
  path = "dead.jsonl"
}
`, n, batchSize, nackTimes, onError)
}

// The dead-letter sink above has no inputs, which is only valid when some
// component sends it dead letters.

// TestChaosNackRetry: refused twice, retried three times: all delivered.
func TestChaosNackRetry(t *testing.T) {
	const n = 2000
	dir := pipelineDir(t, nacking(n, 2, `on_error = "retry"
  retry {
    attempts = 3
    delay    = "10ms"
  }
  dead_letter = sink.dlq`))
	r := flowctl(t, dir, "apply", "p.hcl")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	row := summaryRows(r.stderr)["sink.out"]
	if len(row) < 7 || row[4] != strconv.Itoa(2*2*batchSize) || row[5] != "0" {
		t.Errorf("sink.out summary %v, want %d retried and none dead-lettered:\n%s", row, 2*2*batchSize, r.stderr)
	}
	checkDelivery(t, n, 0, readLines(t, filepath.Join(dir, "out.jsonl")))
	if dead := readLinesIfAny(t, filepath.Join(dir, "dead.jsonl")); len(dead) != 0 {
		t.Errorf("%d dead letters, want none", len(dead))
	}
}

// TestChaosNackDeadLetter: refused always: the refused batches land in the
// dead-letter sink with the error attached; everything else in the sink.
func TestChaosNackDeadLetter(t *testing.T) {
	const n = 2000
	dir := pipelineDir(t, nacking(n, 0, `on_error = "dead_letter"
  dead_letter = sink.dlq`))
	r := flowctl(t, dir, "apply", "p.hcl")
	if r.code != 0 {
		t.Fatalf("exit %d:\n%s", r.code, r.stderr)
	}
	out := readLines(t, filepath.Join(dir, "out.jsonl"))
	dead := readLines(t, filepath.Join(dir, "dead.jsonl"))
	if len(dead) != 2*batchSize {
		t.Errorf("%d dead letters, want the %d events of the two refused batches", len(dead), 2*batchSize)
	}
	for _, l := range dead {
		if !strings.Contains(l.Attributes["flowctl.error"], "chaos: refusing event") ||
			l.Attributes["flowctl.component"] != "sink.out" || l.Attributes["flowctl.attempts"] != "1" {
			t.Fatalf("dead letter %s has attributes %v", l.ID, l.Attributes)
		}
	}
	checkDelivery(t, n, 0, out, dead)
}

// TestChaosInvalidUTF8DeadLetter: a processor emits two events with an
// attribute that is not valid UTF-8. The next processor's SDK refuses them
// where they enter, each with its own error; on_error = "dead_letter"
// routes them to the dead-letter sink, which accepts them (repaired), and
// the run completes. A second apply resumes after them and completes too.
func TestChaosInvalidUTF8DeadLetter(t *testing.T) {
	const n = 2000
	dir := pipelineDir(t, fmt.Sprintf(`
source "generator" "ticks" {
  count = %d
  batch {
    size = %d
  }
}
processor "chaos" "careless" {
  inputs      = [source.ticks]
  corrupt_ids = ["00000150", "00001234"]
}
processor "transform" "tag" {
  inputs      = [processor.careless]
  set         = { checked = "yes" }
  on_error    = "dead_letter"
  dead_letter = sink.dlq
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "out.jsonl"
}
sink "file" "dlq" {
  path = "dead.jsonl"
}
`, n, batchSize))
	for run := 1; run <= 2; run++ {
		r := flowctl(t, dir, "apply", "p.hcl")
		if r.code != 0 {
			t.Fatalf("apply %d: exit %d:\n%s", run, r.code, r.stderr)
		}
	}
	out := readLines(t, filepath.Join(dir, "out.jsonl"))
	dead := readLines(t, filepath.Join(dir, "dead.jsonl"))
	if len(dead) != 2 || len(out) != n-2 {
		t.Fatalf("%d delivered and %d dead letters, want %d and 2", len(out), len(dead), n-2)
	}
	for _, l := range dead {
		if (l.ID != "00000150" && l.ID != "00001234") ||
			!strings.Contains(l.Attributes["flowctl.error"], `attribute "chaos.corrupt": value "\xff\xfe" is not valid UTF-8`) ||
			l.Attributes["flowctl.component"] != "processor.tag" || l.Attributes["chaos.corrupt"] != "\uFFFD" {
			t.Fatalf("dead letter %s has attributes %v", l.ID, l.Attributes)
		}
	}
	checkDelivery(t, n, 0, out, dead)
}

// TestChaosNackFail: refused always, on_error = fail: the run fails naming
// the sink and the reason, and the checkpoint stops before the refused
// event.
func TestChaosNackFail(t *testing.T) {
	const n = 2000
	// Without dead_letter nothing feeds the dead-letter sink: drop it.
	hcl := strings.Replace(nacking(n, 0, `on_error = "retry"
  retry {
    attempts = 1
    delay    = "10ms"
  }`), "sink \"file\" \"dlq\" {\n  path = \"dead.jsonl\"\n}\n", "", 1)
	dir := pipelineDir(t, hcl)
	r := flowctl(t, dir, "apply", "p.hcl")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"sink.out", "chaos: refusing event 00000150", "after 2 attempts"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stderr)
		}
	}
	store, err := checkpoint.Open(filepath.Join(dir, ".flowctl", "state", "p"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cp, ok, err := store.Get("source.ticks")
	if err != nil {
		t.Fatal(err)
	}
	if ok {
		pos := binary.BigEndian.Uint64(cp.Position)
		if pos >= 150 {
			t.Errorf("checkpoint at event %d passed the failed event 150", pos)
		}
	}
	for _, l := range readLinesIfAny(t, filepath.Join(dir, "out.jsonl")) {
		if l.ID == "00000150" {
			t.Error("the refused event was written")
		}
	}
}

// TestChaosInterruptResume: SIGINT mid-run drains within shutdown_timeout,
// the output is complete up to the checkpoint, and a second apply finishes
// the rest with no gap and no duplicate.
func TestChaosInterruptResume(t *testing.T) {
	const n = 30000
	dir := pipelineDir(t, strings.Replace(linear(n, 10000), `pipeline "chaos" {`, `pipeline "chaos" {
  shutdown_timeout = "10s"`, 1))
	b := startBackground(t, dir, "apply", "p.hcl")
	waitLines(t, b, filepath.Join(dir, "out.jsonl"), 3000)
	start := time.Now()
	if err := b.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(20 * time.Second); code != exitInterrupted {
		t.Fatalf("exit %d, want %d:\n%s", code, exitInterrupted, b.output())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s to stop, over the 10s shutdown_timeout", d)
	}
	if !strings.Contains(b.output(), "interrupted") || summaryRows(b.output())["sink.out"] == nil {
		t.Errorf("no summary:\n%s", b.output())
	}
	first := readLines(t, filepath.Join(dir, "out.jsonl"))
	store, err := checkpoint.Open(filepath.Join(dir, ".flowctl", "state", "chaos"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := store.Get("source.ticks")
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	upTo := int(binary.BigEndian.Uint64(cp.Position))
	ids := make([]int, 0, len(first))
	for _, l := range first {
		id, _ := strconv.Atoi(l.ID)
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) < upTo || ids[upTo-1] != upTo {
		t.Fatalf("output after the interrupt is not complete up to the checkpoint (event %d): %d lines", upTo, len(ids))
	}

	again := startBackground(t, dir, "apply", "p.hcl")
	if code := again.wait(60 * time.Second); code != 0 {
		t.Fatalf("second apply: exit %d:\n%s", code, again.output())
	}
	checkDelivery(t, n, 0, readLines(t, filepath.Join(dir, "out.jsonl")))
}

// TestChaosRestartsRunOut: a processor that crashes every time is restarted
// as often as its restart block allows; then the run fails naming it, with
// its last output, and the checkpoint holds only what was delivered.
func TestChaosRestartsRunOut(t *testing.T) {
	dir := pipelineDir(t, `
source "generator" "ticks" {
  count = 5000
  batch {
    size = 10
  }
}
processor "chaos" "crashy" {
  inputs     = [source.ticks]
  exit_after = 50
  restart {
    attempts = 2
    delay    = "10ms"
  }
}
sink "file" "out" {
  inputs = [processor.crashy]
  path   = "out.jsonl"
}
`)
	r := flowctl(t, dir, "apply", "p.hcl")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"Error: processor.crashy: plugin failed and has no restart attempts left (restart.attempts = 2)",
		"last plugin output:",
		"exit_after",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stderr)
		}
	}
	if row := summaryRows(r.stderr)["processor.crashy"]; len(row) < 7 || row[6] != "2" {
		t.Errorf("processor.crashy summary %v, want 2 restarts:\n%s", row, r.stderr)
	}
	// Every event the checkpoint covers is in the output.
	store, err := checkpoint.Open(filepath.Join(dir, ".flowctl", "state", "p"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cp, ok, err := store.Get("source.ticks")
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	upTo := 0 // a run that fails fast may not get to checkpoint anything
	if ok {
		upTo = int(binary.BigEndian.Uint64(cp.Position))
	}
	checkDelivery(t, upTo, inFlightBound, filterUpTo(readLines(t, filepath.Join(dir, "out.jsonl")), upTo))
}

func filterUpTo(lines []line, n int) []line {
	var out []line
	for _, l := range lines {
		if id, err := strconv.Atoi(l.ID); err == nil && id <= n {
			out = append(out, l)
		}
	}
	return out
}

// TestChaosHungProcessor: a processor that stops answering (SIGSTOP) fails
// its health checks, is killed and restarted, and the run completes.
func TestChaosHungProcessor(t *testing.T) {
	const n = 10000
	dir := pipelineDir(t, linear(n, 5000))
	b := startBackground(t, dir, "apply", "--health-interval", "200ms", "p.hcl")
	waitLines(t, b, filepath.Join(dir, "out.jsonl"), 1000)
	pid := b.plugin("transform")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(60 * time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, b.output())
	}
	if alive(pid) {
		t.Errorf("the hung plugin %d is still alive", pid)
	}
	out := b.output()
	if !strings.Contains(out, "health checks failed") || !strings.Contains(out, "processor.tag: restarted") {
		t.Errorf("no health failure and restart reported:\n%s", out)
	}
	checkDelivery(t, n, inFlightBound, readLines(t, filepath.Join(dir, "out.jsonl")))
}

// TestChaosShutdownTimeout: a drain that cannot finish within
// shutdown_timeout is cut short: flowctl exits 130 soon after the timeout,
// says so, and leaves no plugin behind; the next apply delivers the rest.
func TestChaosShutdownTimeout(t *testing.T) {
	const n = 3000
	dir := pipelineDir(t, fmt.Sprintf(`
pipeline "stuck" {
  shutdown_timeout = "1s"
}
source "generator" "ticks" {
  count = %d
  batch {
    size = %d
  }
}
sink "chaos" "slow" {
  inputs = [source.ticks]
  path   = "out.jsonl"
  delay  = "300ms"
}
`, n, batchSize))
	b := startBackground(t, dir, "apply", "p.hcl")
	waitLines(t, b, filepath.Join(dir, "out.jsonl"), 2*batchSize)
	plugins := children(b.cmd.Process.Pid)
	start := time.Now()
	if err := b.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := b.wait(30 * time.Second); code != exitInterrupted {
		t.Fatalf("exit %d, want %d:\n%s", code, exitInterrupted, b.output())
	}
	// 16 batches in flight at 300ms each would take about 5s to drain.
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("took %s to stop with a 1s shutdown_timeout", d)
	}
	if !strings.Contains(b.output(), "shutdown_timeout (1s) passed") {
		t.Errorf("output does not explain the cut-short drain:\n%s", b.output())
	}
	for pid := range plugins {
		if alive(pid) {
			t.Errorf("plugin %d outlived flowctl", pid)
		}
	}
	again := startBackground(t, dir, "apply", "p.hcl")
	if code := again.wait(60 * time.Second); code != 0 {
		t.Fatalf("second apply: exit %d:\n%s", code, again.output())
	}
	checkDelivery(t, n, inFlightBound, readLines(t, filepath.Join(dir, "out.jsonl")))
}
