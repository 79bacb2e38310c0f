package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestHostOffDataPath runs 2,000,000 events generator → transform → discard
// and compares the bytes the host process read and wrote (/proc/PID/io:
// sockets, pipes and its checkpoint file together) with the bytes the sink
// plugin read (the payload it received). With batches going from plugin to
// plugin the host moves only control messages, logs and checkpoints; when it
// relayed every batch it moved twice the payload per edge.
func TestHostOffDataPath(t *testing.T) {
	if _, err := os.Stat("/proc/self/io"); err != nil {
		t.Skip("needs /proc/PID/io to count the host's traffic")
	}
	const events = 2_000_000
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), fmt.Sprintf(`
pipeline "offpath" {}
source "generator" "ticks" {
  count = %d
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { env = "test" }
}
sink "discard" "out" {
  inputs = [processor.tag]
}`, events))
	cmd := exec.Command(flowctlBin, "apply", "p.hcl")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	hostIO, sinkRead := runCounted(t, cmd, &stderr, func(host int) ([]int, int) {
		return threePlugins(children(host), func(int) bool { return true })
	}, nil)
	if !strings.Contains(stderr.String(), fmt.Sprintf("%d source events", events)) {
		t.Fatalf("summary does not show %d events:\n%s", events, stderr.String())
	}
	offPath(t, hostIO, sinkRead, events)
}

// offPath fails t unless the host moved under 2% of the bytes the sink
// read.
func offPath(t *testing.T, host ioCounts, sinkRead uint64, events int) {
	t.Helper()
	t.Logf("the sink read %.0f bytes an event", float64(sinkRead)/float64(events))
	underTwoPercent(t, fmt.Sprintf("the host's reads (%d bytes) and writes (%d)", host.rchar, host.wchar), host.rchar+host.wchar, sinkRead)
}

// underTwoPercent fails t unless what carried (through, in bytes) under 2%
// of the payload the sink read.
func underTwoPercent(t *testing.T, what string, through, sinkRead uint64) {
	t.Helper()
	if sinkRead == 0 || through == 0 {
		t.Fatalf("never measured %s and the sink's reads while the plugins ran", what)
	}
	ratio := float64(through) / float64(sinkRead)
	t.Logf("%s: %d bytes; the sink read %d: %.4f of the payload", what, through, sinkRead, ratio)
	if ratio >= 0.02 {
		t.Errorf("%s carried %.1f%% of the payload's bytes; with plugins sending to each other, under 2%%", what, ratio*100)
	}
}

// runCounted runs cmd (a flowctl apply) to completion, sampling the host's
// and the sink's /proc/PID/io meanwhile; find names the plugins' pids and
// the sink's once they run (nil until then).
//
// The host's counts start when every plugin runs (what came before is
// setup: a Docker image built from the flowctl binary is 100 MB read and
// written). They are taken only while its plugins exist: reaping a child
// adds the child's counts to the parent's. The last samples miss at most one
// interval: the host's few final control messages, and payload (counted
// low, never high).
//
// onTick, when set, is called on every sample while the plugins run.
func runCounted(t *testing.T, cmd *exec.Cmd, stderr *bytes.Buffer, find func(host int) (plugins []int, sink int), onTick func(host int)) (host ioCounts, sinkRead uint64) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(5 * time.Minute)
	var plugins []int
	var base ioCounts
	sink := 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("apply: %v\n%s", err, stderr.String())
			}
			host.rchar -= min(host.rchar, base.rchar)
			host.wchar -= min(host.wchar, base.wchar)
			return host, sinkRead
		case <-timeout:
			_ = cmd.Process.Kill()
			t.Fatalf("apply did not finish in 5 minutes\n%s", stderr.String())
		case <-tick.C:
			if plugins == nil {
				if plugins, sink = find(cmd.Process.Pid); plugins != nil {
					base, _ = procIO(cmd.Process.Pid)
				}
				continue
			}
			io, ok := procIO(cmd.Process.Pid)
			for _, pid := range plugins {
				ok = ok && syscall.Kill(pid, 0) == nil
			}
			if ok {
				host = io
			}
			if io, ok := procIO(sink); ok {
				sinkRead = max(sinkRead, io.rchar)
			}
			if onTick != nil {
				onTick(cmd.Process.Pid)
			}
		}
	}
}

type ioCounts struct{ rchar, wchar uint64 }

// procIO reads a process's character I/O counts: every byte it passed to
// read and write calls, sockets included.
func procIO(pid int) (ioCounts, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "io"))
	if err != nil {
		return ioCounts{}, false
	}
	var c ioCounts
	for line := range strings.Lines(string(b)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ": ")
		n, _ := strconv.ParseUint(v, 10, 64)
		switch k {
		case "rchar":
			c.rchar = n
		case "wchar":
			c.wchar = n
		}
	}
	return c, c.rchar > 0 || c.wchar > 0
}

// threePlugins picks the built-in plugin processes among procs (pid →
// command line) that keep accepts, and the discard sink among them; nil
// until three run.
func threePlugins(procs map[int][]string, keep func(pid int) bool) (plugins []int, sink int) {
	for pid, args := range procs {
		if len(args) == 3 && args[1] == builtinCommand && keep(pid) {
			plugins = append(plugins, pid)
			if args[2] == "discard" {
				sink = pid
			}
		}
	}
	if len(plugins) < 3 {
		return nil, 0
	}
	return plugins, sink
}

// parent returns pid's parent's pid, or 0.
func parent(pid int) int {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command: state, ppid, ...
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// processes returns the command line of every process on the machine.
func processes() map[int][]string {
	out := map[int][]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(cmdline) == 0 {
			continue
		}
		out[pid] = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	return out
}
