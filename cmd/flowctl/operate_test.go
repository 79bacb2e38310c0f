package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cpSyncBuf collects a process's output while the test reads it.
type cpSyncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *cpSyncBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *cpSyncBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// cpProc is a flowctl process running in the background.
type cpProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *cpSyncBuf
	stderr *cpSyncBuf
	done   chan struct{}
	code   int
}

func startFlowctlCP(t *testing.T, dir string, env []string, args ...string) *cpProc {
	t.Helper()
	cmd := exec.Command(flowctlBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	p := &cpProc{t: t, cmd: cmd, stdout: &cpSyncBuf{}, stderr: &cpSyncBuf{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok { //nolint:errorlint // Wait returns it unwrapped
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = -int(ws.Signal())
			}
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	return p
}

// waitFor waits until re matches the process's stderr and returns the
// first submatch.
func (p *cpProc) waitFor(re string) string {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(p.stderr.String()); m != nil {
			if len(m) > 1 {
				return m[1]
			}
			return m[0]
		}
		select {
		case <-p.done:
			p.t.Fatalf("flowctl exited %d before printing %q:\n%s", p.code, re, p.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.t.Fatalf("flowctl did not print %q:\n%s", re, p.stderr.String())
	return ""
}

// interrupt sends SIGINT and waits for the exit code.
func (p *cpProc) interrupt() int {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("flowctl did not exit after SIGINT:\n%s", p.stderr.String())
	}
	return p.code
}

func (p *cpProc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.t.Fatalf("flowctl did not exit:\n%s", p.stderr.String())
	}
	return p.code
}

var controlPlaneRE = `Control plane: (127\.0\.0\.1:\d+)`

// startRunCP writes pipeline into a new directory and applies it with a
// control plane on a free port; it returns the process and the address.
func startRunCP(t *testing.T, pipeline string, args ...string) (*cpProc, string) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), pipeline)
	p := startFlowctlCP(t, dir, nil, append(append([]string{"apply", "--control-plane-port", "0"}, args...), "p.hcl")...)
	return p, p.waitFor(controlPlaneRE)
}

// cpCounters is a component in `status -o json`.
type cpCounters struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	State    string `json:"state"`
	Received uint64 `json:"received"`
	Emitted  uint64 `json:"emitted"`
	Acked    uint64 `json:"acked"`
	Failed   uint64 `json:"failed"`
	Restarts uint64 `json:"restarts"`
}

type cpStatus struct {
	Run struct {
		ID         string       `json:"id"`
		Pipeline   string       `json:"pipeline"`
		State      string       `json:"state"`
		Components []cpCounters `json:"components"`
	} `json:"run"`
	Services []cpService `json:"services"`
}

type cpService struct {
	ID      string             `json:"id"`
	State   string             `json:"state"`
	RunID   string             `json:"run_id"`
	Message string             `json:"message"`
	Managed bool               `json:"managed"`
	Metrics map[string]float64 `json:"metrics"`
}

func statusJSONOf(t *testing.T, endpoint string, args ...string) cpStatus {
	t.Helper()
	r := flowctl(t, ".", append([]string{"status", "--endpoint", endpoint, "-o", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("status exited %d: %s", r.code, r.stderr)
	}
	var s cpStatus
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.stdout)
	}
	return s
}

func listJSON(t *testing.T, endpoint string, args ...string) []cpService {
	t.Helper()
	r := flowctl(t, ".", append([]string{"list", "--endpoint", endpoint, "-o", "json"}, args...)...)
	if r.code != 0 {
		t.Fatalf("list exited %d: %s", r.code, r.stderr)
	}
	var out struct {
		Services []cpService `json:"services"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, r.stdout)
	}
	return out.Services
}

// cpEventually retries check until it returns "" or the time is up.
func cpEventually(t *testing.T, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// summaryCounters parses apply's summary table: component → IN, OUT, ACKED,
// FAILED, RESTARTS ("-" is 0).
func summaryCounters(t *testing.T, stderr string) map[string][5]uint64 {
	t.Helper()
	i := strings.Index(stderr, "COMPONENT  ")
	if i < 0 {
		t.Fatalf("no summary in:\n%s", stderr)
	}
	rows := map[string][5]uint64{}
	cols := regexp.MustCompile(`\s{2,}`)
	for _, l := range strings.Split(stderr[i:], "\n")[1:] {
		f := cols.Split(strings.TrimSpace(l), -1)
		if len(f) != 10 {
			break
		}
		var v [5]uint64
		for j, k := range []int{3, 4, 5, 6, 9} {
			if f[k] != "-" {
				n, err := strconv.ParseUint(f[k], 10, 64)
				if err != nil {
					t.Fatalf("summary row %q: %v", l, err)
				}
				v[j] = n
			}
		}
		rows[f[0]] = v
	}
	return rows
}

// idleAfter is a pipeline whose counters come to rest while it runs: a
// fast source of n events, and a trickle source that sends one event and
// then waits 1000 s for the next.
func idleAfter(n int) string {
	return fmt.Sprintf(`
source "generator" "fast" {
  count = %d
}
source "generator" "trickle" {
  rate      = 0.001
  id_prefix = "t"
}
processor "transform" "tag" {
  inputs = [source.fast, source.trickle]
  set    = { env = "test" }
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "out.jsonl"
}`, n)
}

// TestStatusJSONMatchesSummary reads `flowctl status -o json` while a run
// goes on, then interrupts it: every component was there with non-zero
// counters, and they are the final summary's.
func TestStatusJSONMatchesSummary(t *testing.T) {
	p, ep := startRunCP(t, idleAfter(3000))
	var last cpStatus
	cpEventually(t, 30*time.Second, func() string {
		s := statusJSONOf(t, ep)
		same := fmt.Sprint(s.Run.Components) == fmt.Sprint(last.Run.Components)
		last = s
		for _, c := range s.Run.Components {
			if c.State != "HEALTHY" {
				return fmt.Sprintf("%s is %s", c.ID, c.State)
			}
		}
		if len(s.Run.Components) != 4 || s.Run.Components[len(s.Run.Components)-1].Acked != 3001 || !same {
			return fmt.Sprintf("counters not at rest yet: %+v", s.Run.Components)
		}
		return ""
	})
	if last.Run.State != "running" || last.Run.Pipeline != "p" {
		t.Errorf("run %s of pipeline %q, want a RUNNING run of p", last.Run.State, last.Run.Pipeline)
	}
	checkStatusViewsAgree(t, ep, last)
	watch := startFlowctlCP(t, ".", nil, "status", "--watch", "-o", "json", "--interval", "100ms", "--endpoint", ep)
	cpEventually(t, 10*time.Second, func() string {
		if n := strings.Count(watch.stdout.String(), "\n"); n < 3 {
			return fmt.Sprintf("status --watch printed %d lines", n)
		}
		return ""
	})
	if code := p.interrupt(); code != exitInterrupted {
		t.Fatalf("apply exited %d, want %d:\n%s", code, exitInterrupted, p.stderr.String())
	}
	// The watch ends with the run, and each of its lines is a status.
	if code := watch.wait(); code != 0 || !strings.Contains(watch.stderr.String(), "The control plane stopped (its run ended).") {
		t.Errorf("status --watch exited %d: %s", code, watch.stderr.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(watch.stdout.String()), "\n") {
		var s cpStatus
		if err := json.Unmarshal([]byte(l), &s); err != nil || s.Run.ID != last.Run.ID || len(s.Run.Components) != 4 {
			t.Fatalf("status --watch line %q: %v", l, err)
		}
	}
	sum := summaryCounters(t, p.stderr.String())
	if len(sum) != 4 {
		t.Fatalf("summary has %d components:\n%s", len(sum), p.stderr.String())
	}
	for _, c := range last.Run.Components {
		got := [5]uint64{c.Received, c.Emitted, c.Acked, c.Failed, c.Restarts}
		if c.Kind == "processor" {
			got[2] = 0 // the summary shows no acks for processors
		}
		if got != sum[c.ID] {
			t.Errorf("%s: status says in/out/acked/failed/restarts %v, the summary %v", c.ID, got, sum[c.ID])
		}
		if c.Emitted+c.Received == 0 {
			t.Errorf("%s has zero counters: %+v", c.ID, c)
		}
	}
	want := map[string][5]uint64{
		"source.fast": {0, 3000, 3000, 0, 0}, "source.trickle": {0, 1, 1, 0, 0},
		"processor.tag": {3001, 3001, 0, 0, 0}, "sink.out": {3001, 0, 3001, 0, 0},
	}
	for id, w := range want {
		if sum[id] != w {
			t.Errorf("summary %s = %v, want %v", id, sum[id], w)
		}
	}
}

// checkStatusViewsAgree reads a run at rest (its counters as in want) in
// every form `flowctl status` has: the table, one component (which showed
// zeros while the table showed the run's numbers) and one component as
// JSON all show the same numbers. The plugin processes' CPU and memory
// are shown, read from /proc.
func checkStatusViewsAgree(t *testing.T, ep string, want cpStatus) {
	t.Helper()
	table := flowctl(t, ".", "status", "--endpoint", ep)
	if table.code != 0 {
		t.Fatalf("status exited %d: %s", table.code, table.stderr)
	}
	header := regexp.MustCompile(`(?m)^COMPONENT\s+STATE\s+EVENTS/S\s+IN\s+OUT\s+ACKED\s+FAILED\s+RESTARTS\s+BACKLOG\s+CPU\s+MEM\s+ETA$`)
	if !header.MatchString(table.stdout) {
		t.Fatalf("status table has not every column:\n%s", table.stdout)
	}
	for _, c := range want.Run.Components {
		// COMPONENT STATE EVENTS/S IN OUT ACKED FAILED RESTARTS BACKLOG CPU MEM ETA
		row := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c.ID) + `\s+HEALTHY\s+[\d,]+\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+[\d,]+\s+(\S+)\s+(\S+)\s+\S+$`).FindStringSubmatch(table.stdout)
		if row == nil {
			t.Fatalf("no row for %s:\n%s", c.ID, table.stdout)
		}
		if !regexp.MustCompile(`^\d+(\.\d)?%$`).MatchString(row[6]) || !regexp.MustCompile(`^[\d.]+(KiB|MiB|GiB)$`).MatchString(row[7]) {
			t.Errorf("%s: CPU %q, memory %q: want the plugin process's, with units", c.ID, row[6], row[7])
		}
		detail := flowctl(t, ".", "status", "--endpoint", ep, c.ID)
		if detail.code != 0 {
			t.Fatalf("status %s exited %d: %s", c.ID, detail.code, detail.stderr)
		}
		for i, field := range []string{"received", "emitted", "acked", "failed", "restarts"} {
			cell := row[i+1]
			if cell == "-" {
				continue
			}
			line := regexp.MustCompile(`(?m)^  ` + field + `:\s+(\S+)`).FindStringSubmatch(detail.stdout)
			if line == nil || line[1] != cell {
				t.Errorf("status %s: %s %v, the table %s:\n%s\n%s", c.ID, field, line, cell, detail.stdout, table.stdout)
			}
		}
		one := flowctl(t, ".", "status", "--endpoint", ep, "-o", "json", c.ID)
		var got cpCounters
		if err := json.Unmarshal([]byte(one.stdout), &got); err != nil {
			t.Fatalf("status %s -o json: %v\n%s", c.ID, err, one.stdout)
		}
		if got != c {
			t.Errorf("status %s -o json = %+v, status -o json has %+v", c.ID, got, c)
		}
	}
	// A generator with a count says what it has left (none, at rest: ETA
	// 0s); one without cannot, and the run has no ETA then.
	var doc struct {
		Run struct {
			ETA        *float64 `json:"eta_seconds"`
			Components []struct {
				ID        string   `json:"id"`
				Remaining *uint64  `json:"remaining"`
				ETA       *float64 `json:"eta_seconds"`
				Memory    *uint64  `json:"memory_bytes"`
			} `json:"components"`
		} `json:"run"`
	}
	if err := json.Unmarshal([]byte(flowctl(t, ".", "status", "--endpoint", ep, "-o", "json").stdout), &doc); err != nil {
		t.Fatal(err)
	}
	for _, c := range doc.Run.Components {
		switch {
		case c.ID == "source.fast" && (c.Remaining == nil || *c.Remaining != 0 || c.ETA == nil || *c.ETA != 0):
			t.Errorf("source.fast: remaining %v, ETA %v; want 0 and 0", c.Remaining, c.ETA)
		case c.ID == "source.trickle" && (c.Remaining != nil || c.ETA != nil):
			t.Errorf("source.trickle (unbounded): remaining %v, ETA %v; want none", c.Remaining, c.ETA)
		case c.Memory == nil || *c.Memory < 1<<20:
			t.Errorf("%s: memory %v, want the plugin process's resident memory", c.ID, c.Memory)
		}
	}
	if doc.Run.ETA != nil {
		t.Errorf("run ETA %v with an unbounded source", *doc.Run.ETA)
	}
	if sink := regexp.MustCompile(`(?m)^sink\.out\s+HEALTHY\s+\S+\s+(\S+)\s+-\s+(\S+)\s`).FindStringSubmatch(table.stdout); sink == nil || sink[2] != "3,001" {
		t.Errorf("sink.out's acked in the table: %v, want 3,001:\n%s", sink, table.stdout)
	}
}

func TestStatusWhenNothingRuns(t *testing.T) {
	r := flowctl(t, ".", "status", "--endpoint", "127.0.0.1:1")
	want := "Error: no flowctl control plane is running at 127.0.0.1:1 (connection refused): start `flowctl apply` (it serves one while the pipeline runs) or `flowctl server`, or point --endpoint / FLOWCTL_ENDPOINT at one\n"
	if r.code != 1 || r.stderr != want {
		t.Errorf("status exited %d with\n%q\nwant 1 with\n%q", r.code, r.stderr, want)
	}
	r = flowctlEnv(t, ".", []string{"FLOWCTL_ENDPOINT=127.0.0.1:2"}, "list")
	if r.code != 1 || !strings.Contains(r.stderr, "no flowctl control plane is running at 127.0.0.1:2") {
		t.Errorf("list with FLOWCTL_ENDPOINT exited %d: %s", r.code, r.stderr)
	}
	r = flowctl(t, ".", "status", "-o", "yaml")
	if r.code != exitUsage || !strings.Contains(r.stderr, `invalid -o "yaml": want table or json`) {
		t.Errorf("status -o yaml exited %d: %s", r.code, r.stderr)
	}
}

// TestStaleRegistration kills a run with SIGKILL and starts the next on the
// same state directory: the old run is LOST and none of its components is
// reported healthy.
func TestStaleRegistration(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), `
source "generator" "ticks" {
  rate = 500
}
sink "file" "out" {
  inputs = [source.ticks]
  path   = "out.jsonl"
}`)
	state := filepath.Join(dir, "state")
	first := startFlowctlCP(t, dir, nil, "apply", "--control-plane-port", "0", "--state-dir", state, "p.hcl")
	ep := first.waitFor(controlPlaneRE)
	var oldRun string
	cpEventually(t, 30*time.Second, func() string {
		svcs := listJSON(t, ep)
		if len(svcs) != 2 || svcs[0].State != "HEALTHY" || svcs[1].State != "HEALTHY" {
			return fmt.Sprintf("first run not healthy yet: %+v", svcs)
		}
		oldRun = svcs[0].RunID
		return ""
	})
	_ = first.cmd.Process.Kill()
	first.wait()

	second := startFlowctlCP(t, dir, nil, "apply", "--control-plane-port", "0", "--state-dir", state, "p.hcl")
	ep = second.waitFor(controlPlaneRE)
	cpEventually(t, 30*time.Second, func() string {
		all := listJSON(t, ep, "--all")
		var cur, old int
		for _, s := range all {
			switch {
			case s.RunID == oldRun:
				old++
				if s.State == "HEALTHY" || s.State == "STARTING" || s.State == "DEGRADED" {
					t.Fatalf("%s of the killed run %s is %s", s.ID, oldRun, s.State)
				}
				if !strings.Contains(s.Message, "left over from run "+oldRun) {
					t.Errorf("%s: message %q does not say it is left over", s.ID, s.Message)
				}
			case s.State == "HEALTHY":
				cur++
			}
		}
		if old != 2 || cur != 2 {
			return fmt.Sprintf("want the old run's 2 components and 2 healthy current ones: %+v", all)
		}
		return ""
	})
	for _, s := range listJSON(t, ep) {
		if s.RunID == oldRun {
			t.Errorf("list without --all shows %s of the old run", s.ID)
		}
	}
	if old := statusJSONOf(t, ep, "--run", oldRun); old.Run.State != "lost" || len(old.Run.Components) != 0 && old.Run.Components[0].State == "HEALTHY" {
		t.Errorf("old run: %+v, want LOST", old.Run)
	}
	if code := second.interrupt(); code != exitInterrupted {
		t.Fatalf("second apply exited %d:\n%s", code, second.stderr.String())
	}
}

func TestControlPlaneFlags(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), idleAfter(1))
	r := flowctl(t, dir, "apply", "--control-plane-address", "0.0.0.0", "--control-plane-port", "0", "p.hcl")
	if r.code != exitUsage || !strings.Contains(r.stderr, "refusing to serve the control plane beyond loopback without TLS: 0.0.0.0:0 is reachable from other machines") {
		t.Errorf("apply on 0.0.0.0 without TLS exited %d:\n%s", r.code, r.stderr)
	}
	// An explicitly chosen port that is taken is an error, not a surprise.
	srv := startFlowctlCP(t, dir, nil, "server", "--port", "0", "--no-persistence")
	addr := srv.waitFor(`listening on (127\.0\.0\.1:\d+)`)
	port := addr[strings.LastIndex(addr, ":")+1:]
	r = flowctl(t, dir, "apply", "--control-plane-port", port, "p.hcl")
	if r.code != 1 || !strings.Contains(r.stderr, "control plane: listen tcp 127.0.0.1:"+port+": bind: address already in use") {
		t.Errorf("apply on a busy port exited %d:\n%s", r.code, r.stderr)
	}
	srv.interrupt()
}
