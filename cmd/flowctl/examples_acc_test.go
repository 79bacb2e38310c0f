package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeExample is one example whose README the test runs.
type readmeExample struct {
	name string
	// dir is where the README's commands run, relative to the checkout.
	dir string
	// onPath puts bin/flowctl on PATH: the README says to run `flowctl`.
	onPath bool
	// ports are the loopback ports the README's commands take; the test
	// fails at once, naming them, when one is busy.
	ports []int
	// needs are commands the README runs beyond bash and flowctl.
	needs []string
	// check checks what the README says the commands show and leave;
	// stdout is what they printed.
	check func(t *testing.T, dir, stdout string)
}

// TestAccExampleREADMEs runs every example's README as written: the fenced
// ```sh blocks of each section, in order, in one bash script per section
// with job control (so `cmd &` and `kill -INT %1` work as in a terminal),
// in a copy of the checkout with bin/flowctl built from it, and checks what
// the README says they show. The lines that set up the machine are the
// README's prerequisites, which the test provides as the README describes
// (readmeSetup lists each substitution); every other line runs unchanged.
// examples/hello has no README: the top-level README's quick start covers
// it.
func TestAccExampleREADMEs(t *testing.T) {
	requireAcc(t, "bash, curl, nats-server, PostgreSQL, Python's grpcio and Go, as the examples' READMEs say")
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("the READMEs' commands are bash: bash is not on PATH")
	}
	root := readmeCheckout(t)
	for _, ex := range []readmeExample{
		{name: "nats-bridge", ports: []int{4222, 9000}, check: checkNatsBridgeREADME},
		{name: "postgres-archive", ports: []int{5432}, needs: []string{"psql"}, check: checkPostgresArchiveREADME},
		{name: "python-plugin", dir: "examples/python-plugin", onPath: true, check: checkPythonPluginREADME},
		{name: "thirdparty-plugin", dir: "examples/thirdparty-plugin", onPath: true, needs: []string{"go", "tar"}, check: checkThirdpartyREADME},
		{name: "webhook-relay", ports: []int{4222, 8080}, needs: []string{"curl"}, check: checkWebhookRelayREADME},
	} {
		t.Run(ex.name, func(t *testing.T) { runREADME(t, root, ex) })
	}
}

func runREADME(t *testing.T, root string, ex readmeExample) {
	src, err := os.ReadFile(filepath.Join(root, "examples", ex.name, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	sections := readmeSections(string(src))
	if len(sections) == 0 {
		t.Fatalf("examples/%s/README.md has no ```sh block", ex.name)
	}
	setup := readmeSetup{tmp: t.TempDir()}
	for i := range sections {
		for j, l := range sections[i].lines {
			sections[i].lines[j] = setup.substitute(l)
		}
	}
	var missing []string
	for _, c := range ex.needs {
		if _, err := exec.LookPath(c); err != nil {
			missing = append(missing, c)
		}
	}
	missing = append(missing, missingPackages(setup.packages)...)
	if len(missing) > 0 {
		t.Skipf("the README needs %s (.ci/run installs them)", strings.Join(missing, ", "))
	}
	for _, p := range ex.ports {
		if portBusy(p) {
			t.Fatalf("127.0.0.1:%d, which the README's commands use, is busy on this machine: stop what listens there", p)
		}
	}
	setup.provide(t)
	t.Cleanup(func() { killMarked(t.Name()) })
	env := readmeEnv(t, root, ex.onPath, setup.env...)
	dir := filepath.Join(root, ex.dir)
	var stdout strings.Builder
	for _, s := range sections {
		out, errOut, err := runSection(t, dir, env, s)
		stdout.WriteString(out)
		if err != nil {
			if m := addrInUse.FindString(errOut); m != "" {
				t.Errorf("the README's commands could not listen where the README says (%s): something else took the address while they ran", m)
			}
			t.Fatalf("README section %q: %v\n--- script\n%s\n--- stdout\n%s\n--- stderr\n%s", s.title, err, s.script(), out, errOut)
		}
		t.Logf("README section %q ran:\n%s", s.title, out)
	}
	ex.check(t, dir, stdout.String())
}

// readmeCheckout copies the checkout's files (tracked, and new ones not
// ignored: never a developer's out.jsonl or .flowctl state) into a
// temporary directory and puts the test's flowctl binary at bin/flowctl,
// as `make build` would: the READMEs then run in a clean tree and leave the
// repository alone.
func readmeCheckout(t *testing.T) string {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ls := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	ls.Dir = repo
	list, err := ls.Output()
	if err != nil {
		t.Skipf("copying the checkout needs git (git ls-files: %v)", err)
	}
	root := t.TempDir()
	for _, rel := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		fi, err := os.Lstat(filepath.Join(repo, rel))
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the working tree, or a symlink
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		copyFile(t, filepath.Join(repo, rel), filepath.Join(root, rel), fi.Mode().Perm())
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, flowctlBin, filepath.Join(root, "bin", "flowctl"), 0o755)
	return root
}

// readmeEnv is a clean machine's environment: a new HOME, no FLOWCTL_*
// settings, the Go caches of the test's own environment (so the third-party
// plugin's build finds its modules) and a marker by which the test finds
// every process the README started.
func readmeEnv(t *testing.T, root string, onPath bool, extra ...string) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "FLOWCTL_"), k == "HOME", k == "GOWORK", strings.HasPrefix(k, "XDG_"), k == "PATH":
			continue
		}
		env = append(env, kv)
	}
	path := os.Getenv("PATH")
	if onPath {
		path = filepath.Join(root, "bin") + string(os.PathListSeparator) + path
	}
	env = append(env, "PATH="+path, "HOME="+t.TempDir(), readmeMarker+"="+t.Name())
	if out, err := exec.Command("go", "env", "GOMODCACHE", "GOCACHE").Output(); err == nil {
		if f := strings.Fields(string(out)); len(f) == 2 {
			env = append(env, "GOMODCACHE="+f[0], "GOCACHE="+f[1])
		}
	}
	return append(env, extra...)
}

// readmeMarker is set in the environment of every process a README's
// commands start, background jobs and their plugins included.
const readmeMarker = "FLOWCTL_README_TEST"

// readmeSection is one README section's ```sh blocks, in order.
type readmeSection struct {
	title string
	lines []string
}

// script is the section as one bash script: stop at the first failing
// command, trace each, and let background jobs end before the next section
// (a README that leaves one running fails on the test's timeout).
func (s readmeSection) script() string {
	return "set -e -m -x\n" + strings.Join(s.lines, "\n") + "\nwait\n"
}

// readmeSections returns the ```sh blocks of a README grouped by the
// heading they stand under.
func readmeSections(md string) []readmeSection {
	var out []readmeSection
	title, inBlock, isSh := "", false, false
	for _, l := range strings.Split(md, "\n") {
		switch {
		case !inBlock && strings.HasPrefix(l, "```"):
			inBlock, isSh = true, strings.TrimSpace(strings.TrimPrefix(l, "```")) == "sh"
			if isSh && (len(out) == 0 || out[len(out)-1].title != title) {
				out = append(out, readmeSection{title: title})
			}
		case inBlock && strings.HasPrefix(l, "```"):
			inBlock = false
		case inBlock && isSh:
			out[len(out)-1].lines = append(out[len(out)-1].lines, l)
		case !inBlock && strings.HasPrefix(l, "#"):
			title = strings.TrimSpace(strings.TrimLeft(l, "#"))
		}
	}
	return out
}

// runSection runs one section's script with bash in dir, and stops every
// process it started when it ends.
func runSection(t *testing.T, dir string, env []string, s readmeSection) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", s.script())
	cmd.Dir = dir
	cmd.Env = env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("still running after 2 minutes: %w", err)
	}
	if left := killMarked(t.Name()); len(left) > 0 && err == nil {
		err = fmt.Errorf("processes still running when the section ended (stopped now): %v", left)
	}
	return out.String(), errOut.String(), err
}

// killMarked kills the processes whose environment carries readmeMarker
// with value name, giving those that are exiting a moment first, and
// returns their command lines.
func killMarked(name string) []string {
	want := []byte(readmeMarker + "=" + name + "\x00")
	var left []string
	for i := 0; i < 30; i++ {
		left = left[:0]
		pids, _ := filepath.Glob("/proc/[0-9]*/environ")
		for _, p := range pids {
			environ, err := os.ReadFile(p)
			if err != nil || !bytes.Contains(environ, want) {
				continue
			}
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if i == 29 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			cmdline, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
			left = append(left, fmt.Sprintf("%d %s", pid, strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")))
		}
		if len(left) == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	sort.Strings(left)
	return left
}

var addrInUse = regexp.MustCompile(`listen tcp \S+: bind: address already in use`)

var wcLine = regexp.MustCompile(`(?m)^\s*(\d+) (\S+)$`)

// wcCounts reads the output of `wc -l FILE...`, in order, as "FILE=N".
func wcCounts(stdout string) []string {
	var out []string
	for _, m := range wcLine.FindAllStringSubmatch(stdout, -1) {
		if m[2] != "total" {
			out = append(out, m[2]+"="+m[1])
		}
	}
	return out
}

// checkNatsBridgeREADME: "Both files hold the 500 even orders", and after
// orders 1,001 to 2,000 the bridge's file holds 1000; each even order
// arrives once in each file.
func checkNatsBridgeREADME(t *testing.T, dir, stdout string) {
	want := []string{"examples/nats-bridge/out.jsonl=500", "examples/nats-bridge/receiver/out.jsonl=500", "examples/nats-bridge/out.jsonl=1000"}
	if got := wcCounts(stdout); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("wc -l printed %v, the README says %v", got, want)
	}
	for _, f := range []string{"examples/nats-bridge/out.jsonl", "examples/nats-bridge/receiver/out.jsonl"} {
		checkEvenOrders(t, f, readLines(t, filepath.Join(dir, f)), 2000)
	}
}

// checkEvenOrders checks that lines are the even orders 2..n, once each.
func checkEvenOrders(t *testing.T, name string, lines []line, n int) {
	t.Helper()
	seen := map[string]int{}
	for _, l := range lines {
		seen[l.ID]++
	}
	for i := 2; i <= n; i += 2 {
		if id := fmt.Sprintf("%08d", i); seen[id] != 1 {
			t.Errorf("%s: order %s %d times, want once", name, id, seen[id])
		}
	}
	if len(lines) != n/2 {
		t.Errorf("%s: %d lines, want the %d even orders", name, len(lines), n/2)
	}
}

// checkPostgresArchiveREADME: "The table holds 9,000 rows, ids 00000001 to
// 00009999 without the multiples of 10", tagged with their parity.
func checkPostgresArchiveREADME(t *testing.T, _, stdout string) {
	for _, want := range []struct{ what, re string }{
		{"count, min and max id", `(?m)^\s*9000\s*\|\s*00000001\s*\|\s*00009999\s*$`},
		{"5000 odd ids", `(?m)^\s*odd\s*\|\s*5000\s*$`},
		{"4000 even ids (the multiples of 10 dropped)", `(?m)^\s*even\s*\|\s*4000\s*$`},
		{"the first id with its type and seq", `(?m)^\s*00000001\s*\|\s*order\.created\s*\|\s*1\s*$`},
		{"the third id", `(?m)^\s*00000003\s*\|\s*order\.created\s*\|\s*3\s*$`},
	} {
		if !regexp.MustCompile(want.re).MatchString(stdout) {
			t.Errorf("psql did not show %s:\n%s", want.what, stdout)
		}
	}
}

// checkPythonPluginREADME: every line of out.jsonl is a generated event
// enriched by the Python plugin, which the lock file pins.
func checkPythonPluginREADME(t *testing.T, dir, stdout string) {
	if n := strings.Count(stdout, `"enriched_by":"python"`); n != 2 {
		t.Errorf("head -2 out.jsonl showed %d enriched events, want 2:\n%s", n, stdout)
	}
	checkEnriched(t, readLines(t, filepath.Join(dir, "out.jsonl")), 1000)
	checkLocked(t, dir, "example.com/acme/pyenrich")
}

// checkThirdpartyREADME: the pipeline ran the installed, locked plugin on
// every event.
func checkThirdpartyREADME(t *testing.T, dir, stdout string) {
	if !containsRow(stdout, "example.com/acme/upper", "1.0.0", "verified") {
		t.Errorf("flowctl plan does not show the verified plugin:\n%s", stdout)
	}
	lines := readLines(t, filepath.Join(dir, "out.jsonl"))
	if len(lines) != 100 {
		t.Errorf("%d events written, want 100", len(lines))
	}
	for _, l := range lines {
		if l.Attributes["shouted_by"] != "upper 1.0.0" || strings.ToUpper(string(l.Data)) != string(l.Data) {
			t.Fatalf("event not processed by the plugin: %+v", l)
		}
	}
	if n := strings.Count(stdout, `"shouted_by":"upper 1.0.0"`); n != 3 {
		t.Errorf("head -3 out.jsonl showed %d processed events, want 3:\n%s", n, stdout)
	}
	checkLocked(t, dir, "example.com/acme/upper")
}

func checkLocked(t *testing.T, dir, addr string) {
	t.Helper()
	lock, err := os.ReadFile(filepath.Join(dir, ".flowctl.lock.hcl"))
	if err != nil || !strings.Contains(string(lock), addr) || !strings.Contains(string(lock), "h1:") {
		t.Errorf("the lock file does not pin %s (%v):\n%s", addr, err, lock)
	}
}

// checkWebhookRelayREADME: "The answer, once both events are stored, is
// {"accepted":2}", and show prints both stored events.
func checkWebhookRelayREADME(t *testing.T, _, stdout string) {
	if !strings.Contains(stdout, `{"accepted":2}`) {
		t.Errorf(`curl's answer is not {"accepted":2}:\n%s`, stdout)
	}
	for _, id := range []string{"order-1", "order-2"} {
		if strings.Count(stdout, `"id":"`+id+`"`) != 1 {
			t.Errorf("show does not print the stored event %s once:\n%s", id, stdout)
		}
	}
}
