package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	host := cmd.Process.Pid

	// The sink's reads are sampled while it runs: the last sample misses
	// at most one interval, so the payload is counted low, never high.
	var sinkRead uint64
	exited := make(chan unix.Siginfo, 1)
	go func() {
		var info unix.Siginfo
		// WNOWAIT leaves the host a zombie whose /proc/PID/io still holds
		// its totals.
		_ = unix.Waitid(unix.P_PID, host, &info, unix.WEXITED|unix.WNOWAIT, nil)
		exited <- info
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	sinkPid := 0
wait:
	for {
		select {
		case <-exited:
			break wait
		case <-tick.C:
			if sinkPid == 0 {
				for pid, args := range children(host) {
					if len(args) == 3 && args[1] == builtinCommand && args[2] == "discard" {
						sinkPid = pid
					}
				}
			}
			if sinkPid != 0 {
				if io, ok := procIO(sinkPid); ok {
					sinkRead = max(sinkRead, io.rchar)
				}
			}
		case <-time.After(5 * time.Minute):
			_ = cmd.Process.Kill()
			t.Fatalf("apply did not finish in 5 minutes\n%s", stderr.String())
		}
	}
	hostIO, ok := procIO(host)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("apply: %v\n%s", err, stderr.String())
	}
	if !ok {
		t.Fatal("could not read the exited host's /proc/PID/io")
	}
	if !strings.Contains(stdout.String(), fmt.Sprintf("%d source events", events)) {
		t.Fatalf("summary does not show %d events:\n%s", events, stdout.String())
	}
	if sinkRead == 0 {
		t.Fatal("never read the sink plugin's /proc/PID/io")
	}
	hostBytes := hostIO.rchar + hostIO.wchar
	ratio := float64(hostBytes) / float64(sinkRead)
	t.Logf("host read %d and wrote %d bytes; the sink read %d (%.0f bytes an event): host/payload = %.4f",
		hostIO.rchar, hostIO.wchar, sinkRead, float64(sinkRead)/events, ratio)
	if ratio >= 0.02 {
		t.Errorf("the host moved %.1f%% of the payload's bytes; off the data path it moves under 2%%", ratio*100)
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
