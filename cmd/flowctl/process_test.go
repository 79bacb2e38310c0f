package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHelloExample runs the README's example as a user would, with the
// variables the README shows.
func TestHelloExample(t *testing.T) {
	out := filepath.Join(t.TempDir(), "x.jsonl")
	r := flowctl(t, ".", "apply", "--state-dir", t.TempDir(), "-var", "count=5000", "-var", "output="+out, "../../examples/hello/pipeline.hcl")
	if r.code != 0 {
		t.Fatalf("apply exited %d\n%s", r.code, r.stderr)
	}
	lines := readLines(t, out)
	sameSeq(t, "hello output", idsOf(lines), ids("", 1, 5000))
	for _, l := range lines {
		if l.Type == "" || l.Time == "" || l.Attributes["env"] != "dev" || len(l.Data) == 0 {
			t.Fatalf("line lacks id/type/time/attributes/data: %+v", l)
		}
	}
}

// TestPluginsAreSeparateProcesses watches a running apply: every component
// is its own child process of flowctl, and none is left when it exits.
func TestPluginsAreSeparateProcesses(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc to inspect processes")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), `
source "generator" "ticks" {
  count = 300
  rate  = 200
}
processor "transform" "tag" {
  inputs = [source.ticks]
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "out.jsonl"
}`)
	cmd := exec.Command(flowctlBin, "apply", "p.hcl")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	seen := map[int]string{} // pid → plugin name
	deadline := time.Now().Add(20 * time.Second)
	for len(seen) < 3 && time.Now().Before(deadline) {
		for pid, args := range children(cmd.Process.Pid) {
			if len(args) == 3 && args[1] == builtinCommand { // not `describe` runs
				seen[pid] = args[2]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("apply: %v\n%s", err, stderr.String())
	}
	names := map[string]bool{}
	for _, n := range seen {
		names[n] = true
	}
	if len(seen) != 3 || !names["generator"] || !names["transform"] || !names["file"] {
		t.Fatalf("plugin processes seen while running: %v; want generator, transform and file, each its own process", seen)
	}
	for pid, name := range seen {
		if alive(pid) {
			t.Errorf("plugin %s (pid %d) outlived flowctl", name, pid)
		}
	}
}

// children returns the command lines of pid's child processes.
func children(pid int) map[int][]string {
	out := map[int][]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state, ppid, ...
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		f := strings.Fields(rest)
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out[child] = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	return out
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
	f := strings.Fields(rest)
	return len(f) > 0 && f[0] != "Z"
}
