package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"

	"github.com/flowctl/flowctl/drivers"
	dockerdriver "github.com/flowctl/flowctl/drivers/docker"
)

// requireAcc skips t unless FLOWCTL_ACC=1 asks for acceptance tests.
func requireAcc(t *testing.T, needs string) {
	t.Helper()
	if os.Getenv("FLOWCTL_ACC") != "1" {
		t.Skipf("acceptance test: needs %s; run with FLOWCTL_ACC=1 (make testacc)", needs)
	}
}

// dockerClient connects to the machine's daemon; under FLOWCTL_ACC=1 a
// daemon that does not answer fails the test.
func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	requireAcc(t, "a running Docker daemon")
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		t.Fatalf("FLOWCTL_ACC=1 but the Docker daemon does not answer (%v): start dockerd, or set DOCKER_HOST", err)
	}
	return cli
}

// pipelineContainers lists the containers, running or not, of pipeline.
func pipelineContainers(t *testing.T, cli *client.Client, pipeline string) []container.Summary {
	t.Helper()
	list, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", drivers.LabelPipeline+"="+pipeline))})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// noContainersLeft fails t when any container of pipeline remains.
func noContainersLeft(t *testing.T, cli *client.Client, pipeline string) {
	t.Helper()
	if left := pipelineContainers(t, cli, pipeline); len(left) > 0 {
		var names []string
		for _, c := range left {
			names = append(names, strings.Join(c.Names, ",")+" "+c.State)
		}
		t.Errorf("containers left behind: %s", strings.Join(names, "; "))
	}
}

// removeWrappedImages removes the images the driver built from the test's
// flowctl binary, so test runs do not pile them up on the daemon.
func removeWrappedImages(t *testing.T, cli *client.Client) {
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		sum := binarySHA256(t, flowctlBin)
		imgs, err := cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", dockerdriver.LabelBinary+"="+sum))})
		if err != nil {
			t.Log(err)
			return
		}
		for _, img := range imgs {
			if _, err := cli.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true}); err != nil {
				t.Log(err)
			}
		}
	})
}

func binarySHA256(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

// dockerPipeline runs every plugin in a container; the file sink writes
// through a bind mount of the test's directory.
func dockerPipeline(name string, count, rate int) string {
	return fmt.Sprintf(`
pipeline %q {
  driver "docker" {
    mounts = ["./out:/out"]
  }
  restart {
    attempts = 3
    delay    = "200ms"
  }
}
source "generator" "ticks" {
  count = %d
  rate  = %d
  batch {
    size   = 100
    linger = "5ms"
  }
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { env = "docker" }
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "/out/out.jsonl"
}
`, name, count, rate)
}

// uniqueName makes pipeline names (and so container labels) distinct per
// test run.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
}

// TestAccDockerPipeline runs a source, a processor and a sink, each in a
// container wrapped from the flowctl binary on the fly, and counts the
// output exactly; the second run reuses the wrapped image; nothing is left.
func TestAccDockerPipeline(t *testing.T) {
	cli := dockerClient(t)
	removeWrappedImages(t, cli)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o777); err != nil {
		t.Fatal(err)
	}
	name := uniqueName("acc-docker")
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), dockerPipeline(name, 5000, 0))

	// validate checks the configuration in the plugins, here containers in
	// network mode: it needs the run's certificates as apply does.
	if r := flowctl(t, dir, "validate", "pipeline.hcl"); r.code != 0 {
		t.Fatalf("validate exit %d:\n%s", r.code, r.stderr)
	}
	r := flowctl(t, dir, "apply", "--log-level", "info", "--reset", "pipeline.hcl")
	if r.code != 0 {
		t.Fatalf("apply exit %d:\n%s", r.code, r.stderr)
	}
	lines := readLines(t, filepath.Join(dir, "out", "out.jsonl"))
	sameSeq(t, "out", idsOf(lines), ids("", 1, 5000))
	for _, l := range lines {
		if l.Attributes["env"] != "docker" {
			t.Fatalf("event %s was not transformed: %+v", l.ID, l)
		}
	}
	for _, row := range []string{
		`source\.ticks +flowctl/generator .* docker +- +5000 +5000`,
		`processor\.tag +flowctl/transform .* docker +5000 +5000`,
		`sink\.out +flowctl/file .* docker +5000 +- +5000`,
	} {
		if !regexp.MustCompile(row).MatchString(r.stderr) {
			t.Errorf("summary has no row %q:\n%s", row, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, "serving in network mode") {
		t.Errorf("the plugins' logs were not relayed:\n%s", r.stderr)
	}
	noContainersLeft(t, cli, name)

	// The image is cached by the binary's hash: nothing is built again.
	if err := os.Remove(filepath.Join(dir, "out", "out.jsonl")); err != nil {
		t.Fatal(err)
	}
	r = flowctl(t, dir, "apply", "--log-level", "info", "--reset", "pipeline.hcl")
	if r.code != 0 {
		t.Fatalf("second apply exit %d:\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "wrapping plugin binary") {
		t.Errorf("the second run built the image again:\n%s", r.stderr)
	}
	sameSeq(t, "second run", idsOf(readLines(t, filepath.Join(dir, "out", "out.jsonl"))), ids("", 1, 5000))
	noContainersLeft(t, cli, name)
}

// TestAccDockerKillRecovered kills the processor's container mid-run: the
// supervisor restarts it (a new container) and every event arrives.
func TestAccDockerKillRecovered(t *testing.T) {
	cli := dockerClient(t)
	removeWrappedImages(t, cli)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o777); err != nil {
		t.Fatal(err)
	}
	name := uniqueName("acc-docker-kill")
	const n = 12000
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), dockerPipeline(name, n, 2000))

	cmd := exec.CommandContext(t.Context(), flowctlBin, "apply", "--reset", "pipeline.hcl")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := ""
	deadline := time.Now().Add(60 * time.Second)
	for killed == "" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		if countLines(filepath.Join(dir, "out", "out.jsonl")) < 1000 {
			continue
		}
		for _, c := range pipelineContainers(t, cli, name) {
			if c.Labels[drivers.LabelComponent] == "processor.tag" && c.State == "running" {
				if err := cli.ContainerKill(t.Context(), c.ID, "KILL"); err != nil {
					t.Fatal(err)
				}
				killed = c.ID
			}
		}
	}
	if killed == "" {
		_ = cmd.Process.Kill()
		t.Fatalf("never saw the processor's container with output flowing:\n%s", stderr.String())
	}
	err := cmd.Wait()
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, stderr.String())
	}
	got := idsOf(readLines(t, filepath.Join(dir, "out", "out.jsonl")))
	distinct := map[string]bool{}
	for _, id := range got {
		distinct[id] = true
	}
	if len(distinct) != n {
		t.Fatalf("%d distinct events arrived, want %d (%d lines)\n%s", len(distinct), n, len(got), stderr.String())
	}
	for _, want := range []string{"processor.tag: plugin failed", "processor.tag: restarted (container "} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if !regexp.MustCompile(`processor\.tag .* docker .* 1 +\n`).MatchString(stderr.String()) {
		t.Errorf("summary does not count one restart of processor.tag:\n%s", stderr.String())
	}
	noContainersLeft(t, cli, name)
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

// TestAccDockerMixed runs the source and the sink as local processes and
// only the processor in Docker; the summary names each one's driver.
func TestAccDockerMixed(t *testing.T) {
	cli := dockerClient(t)
	removeWrappedImages(t, cli)
	dir := t.TempDir()
	name := uniqueName("acc-mixed")
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), fmt.Sprintf(`
pipeline %q {}
source "generator" "ticks" {
  count = 2000
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { where = "container" }
  driver "docker" {
    memory = "64MiB"
    cpu    = 0.5
    env    = { FLOWCTL_EXTRA = "1" }
  }
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "out.jsonl"
}
`, name))
	r := flowctl(t, dir, "apply", "pipeline.hcl")
	if r.code != 0 {
		t.Fatalf("apply exit %d:\n%s", r.code, r.stderr)
	}
	lines := readLines(t, filepath.Join(dir, "out.jsonl"))
	sameSeq(t, "out", idsOf(lines), ids("", 1, 2000))
	if lines[0].Attributes["where"] != "container" {
		t.Errorf("not transformed: %+v", lines[0])
	}
	for _, row := range []string{`source\.ticks +\S+ \S+ \(built-in\) +process `, `processor\.tag +\S+ \S+ \(built-in\) +docker `, `sink\.out +\S+ \S+ \(built-in\) +process `} {
		if !regexp.MustCompile(row).MatchString(r.stderr) {
			t.Errorf("summary has no row %q:\n%s", row, r.stderr)
		}
	}
	r = flowctl(t, dir, "plan", "pipeline.hcl")
	if !regexp.MustCompile(`processor\.tag +transform +docker `).MatchString(r.stdout + r.stderr) {
		t.Errorf("plan does not name the processor's driver:\n%s%s", r.stdout, r.stderr)
	}
	noContainersLeft(t, cli, name)

	// The same with an image of flowctl given by name: the container's
	// command is the built-in plugin's arguments.
	image := "flowctl.test/flowctl:docker-acc"
	buildImage(t, dir, image, flowctlBin, "flowctl")
	writeFile(t, filepath.Join(dir, "image.hcl"), fmt.Sprintf(`
pipeline %q {}
source "generator" "ticks" {
  count = 500
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { where = "image" }
  driver "docker" {
    image = %q
  }
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "image.jsonl"
}
`, name, image))
	r = flowctl(t, dir, "apply", "--reset", "image.hcl")
	if r.code != 0 {
		t.Fatalf("apply with an image: exit %d:\n%s", r.code, r.stderr)
	}
	lines = readLines(t, filepath.Join(dir, "image.jsonl"))
	sameSeq(t, "image", idsOf(lines), ids("", 1, 500))
	if lines[0].Attributes["where"] != "image" {
		t.Errorf("not transformed: %+v", lines[0])
	}
	noContainersLeft(t, cli, name)
}

// TestAccDockerErrors: a daemon that is not there and an image that is not
// on the daemon each get an error that says so, and leave nothing behind.
func TestAccDockerErrors(t *testing.T) {
	cli := dockerClient(t)
	dir := t.TempDir()
	name := uniqueName("acc-docker-errors")
	pipeline := func(driver string) string {
		return fmt.Sprintf(`
pipeline %q {}
source "generator" "ticks" {
  count = 10
}
sink "discard" "out" {
  inputs = [source.ticks]
  %s
}
`, name, driver)
	}
	writeFile(t, filepath.Join(dir, "absent.hcl"), pipeline(`driver "docker" {}`))
	r := flowctlEnv(t, dir, []string{"DOCKER_HOST=unix://" + filepath.Join(dir, "no-docker.sock")}, "apply", "absent.hcl")
	want := "Error: plugin failed to start: sink.out: the Docker daemon at unix://" + filepath.Join(dir, "no-docker.sock") + " does not answer: "
	if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "Start Docker (or set DOCKER_HOST to a daemon that runs), or use another driver for this component") {
		t.Errorf("exit %d, stderr:\n%s\nwant it to contain %q", r.code, r.stderr, want)
	}

	writeFile(t, filepath.Join(dir, "missing.hcl"), pipeline(`driver "docker" { image = "flowctl-test/missing:0.0.0" }`))
	r = flowctl(t, dir, "apply", "missing.hcl")
	want = `Error: plugin failed to start: sink.out: image "flowctl-test/missing:0.0.0" is not on the Docker daemon at ` + cli.DaemonHost() + `: flowctl does not pull images; ` + "`docker pull` or `docker build` it first"
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant it to contain %q", r.code, r.stderr, want)
	}
	noContainersLeft(t, cli, name)
}

// TestAccDockerStaleCleanup SIGKILLs the host mid-run: its containers
// outlive it, and the next apply removes them (their owner label names a
// process that is gone) before it starts its own.
func TestAccDockerStaleCleanup(t *testing.T) {
	cli := dockerClient(t)
	removeWrappedImages(t, cli)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "out"), 0o777); err != nil {
		t.Fatal(err)
	}
	name := uniqueName("acc-docker-stale")
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), dockerPipeline(name, 4000, 500))

	cmd := exec.CommandContext(t.Context(), flowctlBin, "apply", "--reset", "pipeline.hcl")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for countLines(filepath.Join(dir, "out", "out.jsonl")) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	left := pipelineContainers(t, cli, name)
	if len(left) != 3 {
		t.Fatalf("after SIGKILL of the host, %d containers remain, want its 3 plugins'\n%s", len(left), stderr.String())
	}

	r := flowctl(t, dir, "apply", "pipeline.hcl")
	if r.code != 0 {
		t.Fatalf("apply after the crash: exit %d\n%s", r.code, r.stderr)
	}
	removed := regexp.MustCompile(`Removed container flowctl-\S+ \((source\.ticks|processor\.tag|sink\.out) of run \S+\), left behind by a flowctl that is no longer running\.`).FindAllString(r.stderr, -1)
	if len(removed) != 3 {
		t.Errorf("the next apply removed %d stale containers, want 3:\n%s", len(removed), r.stderr)
	}
	// It resumed from the checkpoint: together the runs wrote every event.
	distinct := map[string]bool{}
	for _, id := range idsOf(readLines(t, filepath.Join(dir, "out", "out.jsonl"))) {
		distinct[id] = true
	}
	if len(distinct) != 4000 {
		t.Errorf("%d distinct events after the crash and the resumed run, want 4000", len(distinct))
	}
	noContainersLeft(t, cli, name)
}

// TestAccDockerDirectDataPath moves 1,000,000 events from container to
// container on Docker's bridge network: every event arrives, and the host's
// TCP connections (to the containers' published ports: the plugins' control
// streams) carry under 2% of the payload's bytes; batches go container to
// container.
func TestAccDockerDirectDataPath(t *testing.T) {
	cli := dockerClient(t)
	removeWrappedImages(t, cli)
	const events = 1_000_000
	dir := t.TempDir()
	name := uniqueName("acc-direct")
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), fmt.Sprintf(`
pipeline %q {
  driver "docker" {}
}
source "generator" "ticks" {
  count = %d
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { env = "docker" }
}
sink "discard" "out" {
  inputs = [processor.tag]
}
`, name, events))
	cmd := exec.Command(flowctlBin, "apply", "--log-level", "info", "pipeline.hcl")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var sockets tcpTraffic
	hostIO, sinkRead := runCounted(t, cmd, &stderr, func(int) (plugins []int, sink int) {
		for _, c := range pipelineContainers(t, cli, name) {
			info, err := cli.ContainerInspect(t.Context(), c.ID)
			if err != nil || info.State == nil || info.State.Pid == 0 {
				return nil, 0
			}
			plugins = append(plugins, info.State.Pid)
			if c.Labels[drivers.LabelComponent] == "sink.out" {
				sink = info.State.Pid
			}
		}
		if len(plugins) < 3 {
			return nil, 0
		}
		return plugins, sink
	}, sockets.sampleOwned)
	out := stderr.String()
	if strings.Contains(out, "batches relay through the host") {
		t.Fatalf("the batches went through the host:\n%s", out)
	}
	for _, row := range []string{
		fmt.Sprintf(`source\.ticks +flowctl/generator .* docker +- +%d +%d`, events, events),
		fmt.Sprintf(`processor\.tag +flowctl/transform .* docker +%d +%d`, events, events),
		fmt.Sprintf(`sink\.out +flowctl/discard .* docker +%d +- +%d`, events, events),
	} {
		if !regexp.MustCompile(row).MatchString(out) {
			t.Errorf("summary has no row %q:\n%s", row, out)
		}
	}
	// The host's whole I/O (checkpoints, logs) is logged beside it.
	t.Logf("host I/O while the plugins ran: read %d, wrote %d bytes", hostIO.rchar, hostIO.wchar)
	underTwoPercent(t, "the host's TCP connections", sockets.total(), sinkRead)
	noContainersLeft(t, cli, name)
}
