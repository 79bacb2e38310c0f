package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tmuxOrSkip returns tmux's path. Outside acceptance runs a missing tmux
// skips the test; under FLOWCTL_ACC=1 it fails it.
func tmuxOrSkip(t *testing.T) string {
	t.Helper()
	if os.Getenv("FLOWCTL_ACC") != "1" {
		t.Skip("acceptance test: set FLOWCTL_ACC=1 (make testacc) to run it; it needs tmux")
	}
	path, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal("FLOWCTL_ACC=1 but tmux is not installed: apt-get install tmux (.ci/run does)")
	}
	return path
}

// TestAccLiveStatusBlock runs apply in a real terminal (tmux) and reads
// the screen: one status block, updated in place below the scrolling log,
// with every component's state and counters; the plugins' log lines carry
// their component's name in colour; the block gives way to the summary.
func TestAccLiveStatusBlock(t *testing.T) {
	tmux := tmuxOrSkip(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), `
source "generator" "ticks" {
  count = 3000
  rate  = 1000
  batch {
    size   = 50
    linger = "10ms"
  }
}
processor "transform" "tag" {
  inputs = [source.ticks]
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "out.jsonl"
}`)
	socket := filepath.Join(dir, "tmux.sock")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-S", socket}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// The pane outlives flowctl so the end can be read too.
	shell := fmt.Sprintf("cd %s && TERM=xterm-256color %s apply --control-plane-port 0 --log-level info p.hcl; echo EXIT=$?; sleep 60", dir, flowctlBin)
	run("new-session", "-d", "-s", "flowctl", "-x", "120", "-y", "40", shell)
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", socket, "kill-server").Run() })
	screen := func() string { return run("capture-pane", "-p", "-t", "flowctl") }

	rowRE := func(c string) *regexp.Regexp {
		// COMPONENT STATE EVENTS/S IN OUT ACKED FAILED RESTARTS BACKLOG CPU MEM ETA
		return regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(c) + `\s+HEALTHY\s+[\d,]+\s+(\S+)\s+(\S+)\s+(\S+)\s+[0-]\s+0\s+[\d,]+\s+[\d.]+%\s+[\d.]+[KMG]iB\s+(\S+)$`)
	}
	var first string
	cpEventually(t, 20*time.Second, func() string {
		s := screen()
		if !strings.Contains(s, "Running.") || !rowRE("sink.out").MatchString(s) || rowRE("sink.out").FindStringSubmatch(s)[1] == "0" {
			return "no block with moving counters yet:\n" + s
		}
		first = s
		return ""
	})
	checkBlock := func(s string) {
		t.Helper()
		if n := strings.Count(s, `── pipeline "p" · run `); n != 1 {
			t.Fatalf("%d status block headers on the screen, want 1 (updated in place):\n%s", n, s)
		}
		if !regexp.MustCompile(`(?m)^COMPONENT\s+STATE\s+EVENTS/S\s+IN\s+OUT\s+ACKED\s+FAILED\s+RESTARTS\s+BACKLOG\s+CPU\s+MEM\s+ETA$`).MatchString(s) {
			t.Fatalf("no column header:\n%s", s)
		}
		for _, c := range []string{"source.ticks", "processor.tag", "sink.out"} {
			if n := len(rowRE(c).FindAllString(s, -1)); n != 1 {
				t.Fatalf("%d rows for %s, want 1:\n%s", n, c, s)
			}
		}
		// The block is at the bottom: the log scrolls above it.
		lines := strings.Split(strings.TrimRight(s, "\n "), "\n")
		if !strings.HasPrefix(lines[len(lines)-1], "sink.out ") {
			t.Fatalf("the block is not the last thing on the screen:\n%s", s)
		}
	}
	checkBlock(first)
	time.Sleep(time.Second)
	second := screen()
	checkBlock(second)
	// The generator knows its count: the source and the run have an ETA.
	if eta := rowRE("source.ticks").FindStringSubmatch(second)[4]; !regexp.MustCompile(`^\d+s$`).MatchString(eta) || !strings.Contains(second, " · ETA ") {
		t.Errorf("source.ticks ETA %q, want seconds, and the headline's ETA:\n%s", eta, second)
	}
	if rowRE("sink.out").FindStringSubmatch(second)[1] == rowRE("sink.out").FindStringSubmatch(first)[1] {
		t.Errorf("the counters did not move in a second:\n%s\n%s", first, second)
	}
	// Component names in relayed log lines are coloured: tmux shows the
	// escape sequences with -e.
	cpEventually(t, 20*time.Second, func() string {
		s := screen()
		if !strings.Contains(s, "EXIT=") {
			return "apply still running:\n" + s
		}
		return ""
	})
	end := screen()
	if !strings.Contains(end, "EXIT=0") || !strings.Contains(end, `Pipeline "p" completed`) {
		t.Fatalf("apply did not complete:\n%s", end)
	}
	if strings.Contains(end, "── pipeline") {
		t.Errorf("the status block stayed after the run:\n%s", end)
	}
	colored := run("capture-pane", "-p", "-e", "-t", "flowctl")
	if !regexp.MustCompile(`\x1b\[[0-9;]*m(flowctl\.)?(source\.ticks|processor\.tag|sink\.out)`).MatchString(colored) {
		t.Errorf("no coloured component name in the log:\n%q", colored)
	}
}
