package main

import (
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The tests in this file show what a user sees when a run cannot work:
// failures a restart cannot cure stop at once with file:line, and input or
// plugin output is printed escaped and bounded.

var (
	// durationRE and rateRE match the summary's timings, which differ
	// between runs.
	durationRE = regexp.MustCompile(`in \d+(\.\d+)?(ms|s|µs)\.`)
	rateRE     = regexp.MustCompile(`\d+ events/s`)
	// summaryRowRE matches a component's row of the summary table.
	summaryRowRE   = regexp.MustCompile(`(?m)^((?:source|processor|sink)\.\S+)\s.*\n`)
	sourceEventsRE = regexp.MustCompile(`\d+ source events`)
)

func hideRun(dir string) func(string) string {
	return func(s string) string {
		s = controlPlaneLineRE.ReplaceAllString(s, "")
		s = logLineRE.ReplaceAllString(s, "")
		s = durationRE.ReplaceAllString(s, "in $$TIME.")
		s = rateRE.ReplaceAllString(s, "$$RATE events/s")
		return hidePaths(strings.ReplaceAll(s, dir, "$DIR"))
	}
}

// TestPortInUse: an http source whose port is taken is reported at its
// address attribute by validate and by apply, before anything runs.
func TestPortInUse(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), `source "http" "in" {
  address = "`+addr+`"
}

sink "discard" "out" {
  inputs = [source.in]
}
`)
	hide := func(s string) string { return strings.ReplaceAll(hideRun(dir)(s), addr, "$ADDR") }
	for _, cmd := range []string{"validate", "apply"} {
		r := commandGolden(t, "port_in_use_"+cmd, dir, hide, cmd, "pipeline.hcl")
		if r.code != 1 {
			t.Errorf("%s with the port in use: exit %d, want 1", cmd, r.code)
		}
	}
}

// TestUnwritablePath: a file sink that cannot create its file fails the run
// at once, naming the component's file:line, without restarts.
func TestUnwritablePath(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "blocker"), "a file, not a directory\n")
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), `source "generator" "ticks" {
  count = 10
}

sink "file" "out" {
  inputs = [source.ticks]
  path   = "blocker/out.jsonl"
}
`)
	// How many events the source sent before the sink failed varies.
	hide := func(s string) string {
		s = summaryRowRE.ReplaceAllString(hideRun(dir)(s), "$1 $$COUNTERS\n")
		return sourceEventsRE.ReplaceAllString(s, "$$N source events")
	}
	start := time.Now()
	r := commandGolden(t, "unwritable_path", dir, hide, "apply", "pipeline.hcl")
	if r.code != 1 || strings.Contains(r.stderr, "restarting") {
		t.Errorf("apply with an unwritable path: exit %d (want 1), restarts in:\n%s", r.code, r.stderr)
	}
	// The default restart policy waits 1s, 2s and 4s between attempts.
	if d := time.Since(start); d > 7*time.Second {
		t.Errorf("the failed run took %v: was the sink restarted?", d)
	}
}

// TestGarbageInput: 4 KB of random bytes as a pipeline file print ten
// diagnostics and a count of the rest, with every control byte escaped.
func TestGarbageInput(t *testing.T) {
	dir := t.TempDir()
	rnd := rand.New(rand.NewPCG(17, 4096))
	garbage := make([]byte, 4096)
	for i := range garbage {
		garbage[i] = byte(rnd.UintN(256))
	}
	if err := os.WriteFile(filepath.Join(dir, "garbage.hcl"), garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	r := commandGolden(t, "garbage_input", dir, nil, "validate", "garbage.hcl")
	if r.code != 1 {
		t.Errorf("validate of garbage: exit %d, want 1", r.code)
	}
	if n := strings.Count(r.stderr, "\nError: ") + 1; n > 10 || !strings.Contains(r.stderr, "more (") {
		t.Errorf("printed %d diagnostics and no count of the rest", n)
	}
	if len(r.stderr) > 16<<10 {
		t.Errorf("printed %d bytes for 4 KB of garbage", len(r.stderr))
	}
	for _, c := range r.stderr {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f || c == 0xfffd {
			t.Fatalf("printed a raw control character or invalid byte %U", c)
		}
	}
}

// TestValidateSignalRemovesSockets: SIGTERM during validate stops the
// plugins and removes the run's socket directory; a directory left by a
// flowctl that is gone is removed by the next run.
func TestValidateSignalRemovesSockets(t *testing.T) {
	tmp := t.TempDir()
	env := []string{"TMPDIR=" + tmp}

	// A directory whose flowctl is gone: a finished process's pid.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(tmp, "flowctl-plugins-stale")
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(stale, "flowctl.pid"), itoa(gone.Process.Pid)+"\n")
	writeFile(t, filepath.Join(stale, "plugin123"), "")
	// One whose flowctl is alive (this test) is kept.
	live := filepath.Join(tmp, "flowctl-plugins-live")
	if err := os.MkdirAll(live, 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(live, "flowctl.pid"), itoa(os.Getpid())+"\n")

	cmd := exec.CommandContext(t.Context(), flowctlBin, "validate", "valid.hcl")
	cmd.Dir = filepath.Join("testdata", "validate")
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until its socket directory exists (the sweep ran before).
	deadline := time.Now().Add(30 * time.Second)
	for {
		dirs, _ := filepath.Glob(filepath.Join(tmp, "flowctl-plugins-*"))
		if len(dirs) == 2 && !contains(dirs, stale) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no socket directory of validate appeared: %v", dirs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	dirs, _ := filepath.Glob(filepath.Join(tmp, "flowctl-plugins-*"))
	if len(dirs) != 1 || dirs[0] != live {
		t.Errorf("after SIGTERM during validate the socket directories are %v, want only %s", dirs, live)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestReadmeQuickStart runs the README's first two commands in order: the
// second writes elsewhere and counts further, so it must not resume the
// first run's checkpoint (it would write 99,000 of 100,000 events).
func TestReadmeQuickStart(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", "hello", "pipeline.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	hello := filepath.Join(dir, "examples", "hello")
	if err := os.MkdirAll(hello, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(hello, "pipeline.hcl"), string(src))
	x := filepath.Join(dir, "x.jsonl")

	if r := flowctl(t, dir, "apply", "examples/hello/pipeline.hcl"); r.code != 0 {
		t.Fatalf("quick start: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(readLinesOf(t, filepath.Join(hello, "out.jsonl"))); n != 1000 {
		t.Errorf("quick start wrote %d events, want 1000", n)
	}
	r := flowctl(t, dir, "apply", "-var", "count=100000", "-var", "output="+x, "examples/hello/pipeline.hcl")
	if r.code != 0 {
		t.Fatalf("second command: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(readLinesOf(t, x)); n != 100000 {
		t.Errorf("second command wrote %d events to %s, want 100000", n, x)
	}
	if !strings.Contains(r.stderr, "source.ticks: starting over") || !strings.Contains(r.stderr, "sink.out's configuration changed (path)") {
		t.Errorf("the second command does not say why it starts over:\n%s", r.stderr)
	}
	// The same command again has nothing left to send.
	r = flowctl(t, dir, "apply", "-var", "count=100000", "-var", "output="+x, "examples/hello/pipeline.hcl")
	if r.code != 0 || !strings.Contains(r.stderr, "source.ticks: resuming from its checkpoint (100000 events acked") {
		t.Errorf("third run: exit %d, does not resume:\n%s", r.code, r.stderr)
	}
	if n := len(readLinesOf(t, x)); n != 100000 {
		t.Errorf("after the third run %s holds %d events, want 100000", x, n)
	}
}

func readLinesOf(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}
