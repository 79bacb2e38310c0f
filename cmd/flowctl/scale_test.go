package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chainPipeline generates a valid pipeline of n components from six
// built-in plugins: a generator, a chain of alternating transform and cel
// processors, and a file, a discard and a stdout sink.
func chainPipeline(n int) string {
	var b strings.Builder
	b.WriteString("pipeline \"chain\" {}\n\nsource \"generator\" \"ticks\" {\n  count = 10\n}\n")
	prev := "source.ticks"
	for i := range n - 4 {
		if i%2 == 0 {
			fmt.Fprintf(&b, "\nprocessor \"transform\" \"p%d\" {\n  inputs = [%s]\n  set    = { step = \"%d\" }\n}\n", i, prev, i)
		} else {
			fmt.Fprintf(&b, "\nprocessor \"cel\" \"p%d\" {\n  inputs = [%s]\n  filter = \"id != 'x%d'\"\n}\n", i, prev, i)
		}
		prev = fmt.Sprintf("processor.p%d", i)
	}
	fmt.Fprintf(&b, "\nsink \"file\" \"out\" {\n  inputs = [%s]\n  path   = \"out.jsonl\"\n}\n", prev)
	b.WriteString("\nsink \"discard\" \"drop\" {\n  inputs = [processor.p0]\n}\n")
	b.WriteString("\nsink \"stdout\" \"show\" {\n  inputs = [processor.p1]\n}\n")
	return b.String()
}

// TestValidateLargePipeline validates a generated 3000-component pipeline
// (issue 17: 202 components started 202 plugin processes at once, printed
// over a hundred warnings and took up to 45 s; 3002 did not finish in
// 300 s). Each plugin binary is now started once for all the components it
// serves, and the process table, sampled while validate runs, never holds
// more of its plugin processes than --start-parallelism allows. The 60 s
// deadline is the bound, not a benchmark: validate takes a few
// seconds.
func TestValidateLargePipeline(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("samples the process table in /proc, which this system does not have")
	}
	const components, bound = 3000, 2
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), chainPipeline(components))

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, flowctlBin, "validate", "--start-parallelism", strconv.Itoa(bound), "pipeline.hcl")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	most, samples := 0, 0
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var err error
sample:
	for {
		select {
		case err = <-done:
			break sample
		case <-tick.C:
			most = max(most, len(childrenOf(cmd.Process.Pid)))
			samples++
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("validate of %d components did not finish within 60s\n%s", components, stderr.String())
	}
	if err != nil {
		t.Fatalf("validate: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if want := fmt.Sprintf("is valid: %d components", components); !strings.Contains(stdout.String(), want) {
		t.Errorf("stdout lacks %q: %.300s", want, stdout.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("validate printed to stderr (want no warning or log line):\n%s", stderr.String())
	}
	if most == 0 {
		t.Errorf("no plugin process seen in %d samples: the sampling does not work", samples)
	}
	if most > bound {
		t.Errorf("%d plugin processes alive at once, want at most %d (--start-parallelism)", most, bound)
	}
	t.Logf("%d components validated; at most %d plugin processes alive in %d samples", components, most, samples)
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var kids []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone since the listing
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kids = append(kids, child)
		}
	}
	return kids
}

// TestApplyUnderCPUQuota runs examples/hello with flowctl and its plugins
// confined to a tenth of one core (issue 17: under a CPU quota, describing a
// built-in timed out after a fixed 10 s and starts failed). With the default
// timeouts it must complete, and the quota must have throttled it.
func TestApplyUnderCPUQuota(t *testing.T) {
	cg := newCPUQuota(t, 10_000, 100_000) // 10 ms of CPU per 100 ms
	example, err := filepath.Abs(filepath.Join("..", "..", "examples", "hello", "pipeline.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyFile(t, example, filepath.Join(dir, "pipeline.hcl"), 0o644)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// The shell joins the group before it becomes flowctl, so flowctl and
	// every plugin it starts run inside the quota from their first
	// instruction.
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", `echo $$ > "$1" && exec "$2" apply pipeline.hcl`, "sh", cg.procs, flowctlBin)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	if err != nil {
		t.Fatalf("apply under a 10%% CPU quota: %v after %s\n%s%s", err, time.Since(start).Round(time.Millisecond), stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), `Pipeline "hello" completed`) {
		t.Errorf("no completion in the summary:\n%s", stderr.String())
	}
	if lines := readLines(t, filepath.Join(dir, "out.jsonl")); len(lines) != 1000 {
		t.Errorf("%d events written, want 1000", len(lines))
	}
	if n := cg.throttled(t); n == 0 {
		t.Errorf("the quota never throttled the run (nr_throttled 0): the test did not test what it says")
	}
	t.Logf("completed in %s under the quota, throttled %d times", time.Since(start).Round(time.Millisecond), cg.throttled(t))
}

// cpuQuota is a cgroup with a CPU quota: procs is the file a process joins
// it by.
type cpuQuota struct {
	dir, procs string
}

// newCPUQuota makes a cgroup allowing quota µs of CPU per period µs: cgroup
// v2 (cpu.max) when the cpu controller can be enabled, else v1
// (cpu.cfs_quota_us). It skips the test when neither can be made (not
// root, no cpu controller).
func newCPUQuota(t *testing.T, quota, period int) *cpuQuota {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "flowctl-test-" + hex.EncodeToString(b)
	var reasons []string
	for _, try := range []struct {
		version string
		mk      func(string, int, int) (*cpuQuota, error)
	}{{"v2", cgroupV2}, {"v1", cgroupV1}} {
		cg, err := try.mk(name, quota, period)
		if err == nil {
			t.Cleanup(func() { removeCgroup(t, cg.dir) })
			return cg
		}
		reasons = append(reasons, "cgroup "+try.version+": "+err.Error())
	}
	t.Skipf("cannot make a cgroup with a CPU quota (needs root and the cpu controller): %s", strings.Join(reasons, "; "))
	return nil
}

func cgroupV2(name string, quota, period int) (*cpuQuota, error) {
	root := "/sys/fs/cgroup"
	ctrl, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	if !strings.Contains(" "+strings.TrimSpace(string(ctrl))+" ", " cpu ") {
		return nil, errors.New("the cpu controller is not available")
	}
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte("+cpu"), 0o644); err != nil {
		return nil, fmt.Errorf("enable the cpu controller: %w", err)
	}
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "cpu.max"), fmt.Appendf(nil, "%d %d", quota, period), 0o644); err != nil {
		_ = os.Remove(dir)
		return nil, err
	}
	return &cpuQuota{dir: dir, procs: filepath.Join(dir, "cgroup.procs")}, nil
}

func cgroupV1(name string, quota, period int) (*cpuQuota, error) {
	root := "/sys/fs/cgroup/cpu"
	if _, err := os.Stat(filepath.Join(root, "cpu.cfs_quota_us")); err != nil {
		return nil, err
	}
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	for file, v := range map[string]int{"cpu.cfs_period_us": period, "cpu.cfs_quota_us": quota} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(strconv.Itoa(v)), 0o644); err != nil {
			_ = os.Remove(dir)
			return nil, err
		}
	}
	return &cpuQuota{dir: dir, procs: filepath.Join(dir, "cgroup.procs")}, nil
}

// throttled is how many periods the group ran out of quota in.
func (c *cpuQuota) throttled(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.dir, "cpu.stat"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "nr_throttled "); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// removeCgroup removes the group once its processes are gone (a plugin may
// take a moment to exit after flowctl).
func removeCgroup(t *testing.T, dir string) {
	var err error
	for range 50 {
		if err = os.Remove(dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("remove cgroup %s: %v", dir, err)
}

// TestStartTimeoutBoundsDescribe: asking a plugin binary what it is waits as
// long as --start-timeout says, like starting it (issue 17: describe had a
// fixed 10 s that the flag did not change).
func TestStartTimeoutBoundsDescribe(t *testing.T) {
	w := newWorkspace(t)
	place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "slow-describe", runtime.GOARCH))
	writeFile(t, filepath.Join(w.dir, "pipeline.hcl"), stampPipeline("1.0.0"))
	start := time.Now()
	r := w.run(t, "validate", "--start-timeout", "1500ms")
	if r.code != 1 || !strings.Contains(r.stderr, "describe: no answer within 1.5s") {
		t.Errorf("validate --start-timeout 1500ms: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("validate took %s: describe did not follow --start-timeout", d)
	}
}
