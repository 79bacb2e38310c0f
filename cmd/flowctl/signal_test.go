package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const endless = `
source "generator" "ticks" {
  rate = 5000
}
sink "file" "out" {
  inputs = [source.ticks]
  path   = "out.jsonl"
}`

// startApply starts `flowctl apply` on pipeline and waits until its plugins
// run and output appears.
func startApply(t *testing.T, pipeline string) (*exec.Cmd, *bytes.Buffer, string) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), pipeline)
	cmd := exec.Command(flowctlBin, "apply", "p.hcl")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	out := filepath.Join(dir, "out.jsonl")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(out); err == nil && fi.Size() > 0 {
			return cmd, &stderr, out
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no output after 20s:\n%s", stderr.String())
	return nil, nil, ""
}

// TestInterruptDrains: Ctrl-C stops the source, drains what is in flight,
// prints the summary and exits 130; the output is complete and in order.
func TestInterruptDrains(t *testing.T) {
	cmd, stderr, out := startApply(t, endless)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
		t.Fatalf("apply after SIGINT: %v, want exit %d\n%s", err, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("summary does not say the run was interrupted:\n%s", stderr.String())
	}
	lines := readLines(t, out)
	sameSeq(t, "drained output", idsOf(lines), ids("", 1, len(lines)))
	row := summaryRows(stderr.String())["sink.out"]
	if len(row) != 7 || row[2] != strconv.Itoa(len(lines)) {
		t.Errorf("summary says sink acked %v, file has %d lines\n%s", row, len(lines), stderr.String())
	}
}

// TestNoOrphansAfterHostKill: plugins of a SIGKILLed host exit by
// themselves.
func TestNoOrphansAfterHostKill(t *testing.T) {
	cmd, _, _ := startApply(t, endless)
	var plugins []int
	for pid, args := range children(cmd.Process.Pid) {
		if len(args) == 3 && args[1] == builtinCommand {
			plugins = append(plugins, pid)
		}
	}
	if len(plugins) != 2 {
		t.Fatalf("want 2 plugin processes, found %v", plugins)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range plugins {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("plugin pid %d still alive 5s after its host was killed", pid)
		}
	}
}
