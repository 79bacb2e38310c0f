package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowctl/flowctl/plugins/internal/testserver"
)

// flowctlBin is built once, when acceptance tests run.
var flowctlBin string

func TestMain(m *testing.M) {
	if os.Getenv(testserver.EnvAcc) != "1" {
		os.Exit(m.Run()) // every test skips
	}
	dir, err := os.MkdirTemp("", "flowctl-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	flowctlBin = filepath.Join(dir, "flowctl")
	build := exec.Command("go", "build", "-o", flowctlBin, "github.com/flowctl/flowctl/cmd/flowctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build flowctl: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// examplesDir is the repository's examples directory.
func examplesDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "examples"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// run is a flowctl process.
type run struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (r *run) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.Write(p)
}

// output is what flowctl wrote so far (stdout and stderr).
func (r *run) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out.String()
}

// start runs flowctl with args in dir, with env added.
func start(t *testing.T, dir string, env []string, args ...string) *run {
	t.Helper()
	r := &run{t: t, done: make(chan struct{})}
	r.cmd = exec.Command(flowctlBin, args...)
	r.cmd.Dir = dir
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout, r.cmd.Stderr = r, r
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.done
	})
	return r
}

// wait returns flowctl's exit code.
func (r *run) wait(timeout time.Duration) int {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(timeout):
		r.t.Fatalf("flowctl still running after %s:\n%s", timeout, r.output())
	}
	if r.err == nil {
		return 0
	}
	if ee, ok := r.err.(*exec.ExitError); ok { //nolint:errorlint // Wait returns it unwrapped
		return ee.ExitCode()
	}
	r.t.Fatalf("wait: %v", r.err)
	return -1
}

// apply runs flowctl to the end and fails the test unless it exits with
// want.
func apply(t *testing.T, dir string, env []string, want int, args ...string) string {
	t.Helper()
	r := start(t, dir, env, args...)
	if code := r.wait(3 * time.Minute); code != want {
		t.Fatalf("flowctl %s: exit %d, want %d:\n%s", strings.Join(args, " "), code, want, r.output())
	}
	return r.output()
}

// kill sends SIGKILL to the plugin process serving the built-in plugin
// name under this flowctl.
func (r *run) kill(name string) {
	r.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for pid, args := range children(r.cmd.Process.Pid) {
			if len(args) == 3 && args[1] == "__plugin" && args[2] == name {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					r.t.Fatal(err)
				}
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("no %s plugin process under flowctl:\n%s", name, r.output())
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
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:])) // state, ppid, ...
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		out[child] = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	}
	return out
}

// eventually polls cond until it holds, failing after timeout.
func eventually(t *testing.T, r *run, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if r != nil {
			select {
			case <-r.done:
				t.Fatalf("flowctl exited before %s:\n%s", what, r.output())
			default:
			}
		}
		if time.Now().After(deadline) {
			msg := ""
			if r != nil {
				msg = r.output()
			}
			t.Fatalf("not %s after %s:\n%s", what, timeout, msg)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
