package main

import (
	"bytes"
	"fmt"
	"net"
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

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flowctl/flowctl/drivers"
	"github.com/flowctl/flowctl/drivers/kubernetes/testcluster"
)

const accNamespace = "flowctl-acc"

// startCluster starts etcd, kube-apiserver and kube-scheduler for t, with
// the namespace the tests use (and its default ServiceAccount, which a
// controller manager would create).
func startCluster(t *testing.T) (*testcluster.Cluster, kubernetes.Interface) {
	t.Helper()
	requireAcc(t, "etcd, kube-apiserver and kube-scheduler built by `make k8s-testcluster`")
	if _, err := testcluster.BinDir(); err != nil {
		t.Fatalf("FLOWCTL_ACC=1 but %v", err)
	}
	dir, err := os.MkdirTemp("", "flowctl-k8s-")
	if err != nil {
		t.Fatal(err)
	}
	c, err := testcluster.Start(t.Context(), dir)
	t.Cleanup(func() {
		if c != nil {
			c.Stop()
		}
		_ = os.RemoveAll(dir)
	})
	if err != nil {
		t.Fatalf("start the test cluster: %v", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: accNamespace}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ServiceAccounts(accNamespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c, cs
}

// podRecorder records the pod events of a namespace.
type podRecorder struct {
	mu      sync.Mutex
	added   []*corev1.Pod
	deleted []string
}

func recordPods(t *testing.T, cs kubernetes.Interface) *podRecorder {
	t.Helper()
	w, err := cs.CoreV1().Pods(accNamespace).Watch(t.Context(), metav1.ListOptions{LabelSelector: drivers.LabelRun})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	r := &podRecorder{}
	go func() {
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			r.mu.Lock()
			switch ev.Type {
			case watch.Added:
				r.added = append(r.added, pod)
			case watch.Deleted:
				r.deleted = append(r.deleted, pod.Name)
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *podRecorder) snapshot() ([]*corev1.Pod, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*corev1.Pod(nil), r.added...), append([]string(nil), r.deleted...)
}

// nothingLeft fails t when a pod, service or secret of pipeline remains.
func nothingLeft(t *testing.T, cs kubernetes.Interface, pipeline string) {
	t.Helper()
	sel := metav1.ListOptions{LabelSelector: drivers.LabelPipeline + "=" + pipeline}
	ctx := t.Context()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pods, err1 := cs.CoreV1().Pods(accNamespace).List(ctx, sel)
		svcs, err2 := cs.CoreV1().Services(accNamespace).List(ctx, sel)
		secrets, err3 := cs.CoreV1().Secrets(accNamespace).List(ctx, sel)
		if err1 != nil || err2 != nil || err3 != nil {
			t.Fatal(err1, err2, err3)
		}
		n := len(pods.Items) + len(svcs.Items) + len(secrets.Items)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("left behind: %d pods, %d services, %d secrets", len(pods.Items), len(svcs.Items), len(secrets.Items))
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func kubernetesPipeline(name, kubeconfig string) string {
	return fmt.Sprintf(`
pipeline %q {}
source "generator" "ticks" {
  count = 100
}
sink "discard" "out" {
  inputs = [source.ticks]
  driver "kubernetes" {
    kubeconfig        = %q
    namespace         = %q
    image             = "flowctl-plugin/flowctl:acc"
    image_pull_policy = "Never"
    resources         = { cpu = "100m", memory = "64Mi" }
    labels            = { team = "acc" }
  }
}
`, name, kubeconfig, accNamespace)
}

// TestAccKubernetesAPI is the API tier: against a real kube-apiserver and
// scheduler with no node, the driver creates the plugin's Pod, Service and
// Secret, labelled and shaped as documented, watches the Pod, reports that
// it cannot start with the scheduler's events, and deletes everything.
func TestAccKubernetesAPI(t *testing.T) {
	c, cs := startCluster(t)
	rec := recordPods(t, cs)
	dir := t.TempDir()
	name := uniqueName("acc-k8s")
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), kubernetesPipeline(name, c.Kubeconfig))

	r := flowctl(t, dir, "apply", "--start-timeout", "15s", "pipeline.hcl")
	if r.code != 1 {
		t.Fatalf("apply exit %d, want 1 (no node can run the pod):\n%s", r.code, r.stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Error: plugin failed to start: sink\.out: pod flowctl-acc/flowctl-acc-k8s-\d+-sink-out-[0-9a-f]{6} did not become ready within 15s \(--start-timeout\)`),
		regexp.MustCompile(`pod status: Pending; Unschedulable: .*no nodes available to schedule pods`),
		regexp.MustCompile(`pod events:\n  Warning FailedScheduling: .*no nodes available to schedule pods`),
	} {
		if !want.MatchString(r.stderr) {
			t.Errorf("stderr does not match %s:\n%s", want, r.stderr)
		}
	}

	added, deleted := rec.snapshot()
	if len(added) != 1 {
		t.Fatalf("the driver created %d pods, want 1", len(added))
	}
	pod := added[0]
	for k, want := range map[string]string{drivers.LabelComponent: "sink.out", drivers.LabelPipeline: name, "team": "acc"} {
		if got := pod.Labels[k]; got != want {
			t.Errorf("pod label %s = %q, want %q", k, got, want)
		}
	}
	if pod.Labels[drivers.LabelRun] == "" || pod.Labels[drivers.LabelOwner] == "" {
		t.Errorf("pod has no run or owner label: %v", pod.Labels)
	}
	ctr := pod.Spec.Containers[0]
	if ctr.Image != "flowctl-plugin/flowctl:acc" || ctr.ImagePullPolicy != corev1.PullNever || pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("pod image %q pull %q restart %q", ctr.Image, ctr.ImagePullPolicy, pod.Spec.RestartPolicy)
	}
	if !slicesEqual(ctr.Args, []string{"__plugin", "discard"}) {
		t.Errorf("container args %q, want the built-in plugin's", ctr.Args)
	}
	if p := ctr.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.IntValue() != drivers.HealthPort {
		t.Errorf("readiness probe %+v, want GET /healthz on the health port", ctr.ReadinessProbe)
	}
	if q := ctr.Resources.Limits[corev1.ResourceMemory]; q.String() != "64Mi" {
		t.Errorf("memory limit %s, want 64Mi", q.String())
	}
	if len(deleted) == 0 || deleted[0] != pod.Name {
		// Deletion may still be on its way to the watch.
		time.Sleep(time.Second)
		if _, deleted = rec.snapshot(); len(deleted) == 0 || deleted[0] != pod.Name {
			t.Errorf("the pod %s was not deleted (deleted: %v)", pod.Name, deleted)
		}
	}
	nothingLeft(t, cs, name)
}

func slicesEqual(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// TestAccKubernetesStaleCleanup SIGKILLs the host while its pod waits to be
// scheduled: the objects outlive it, and the next apply deletes them.
func TestAccKubernetesStaleCleanup(t *testing.T) {
	c, cs := startCluster(t)
	dir := t.TempDir()
	name := uniqueName("acc-k8s-stale")
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), kubernetesPipeline(name, c.Kubeconfig))

	cmd := exec.CommandContext(t.Context(), flowctlBin, "apply", "--start-timeout", "2m", "pipeline.hcl")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sel := metav1.ListOptions{LabelSelector: drivers.LabelPipeline + "=" + name}
	var stale string
	for deadline := time.Now().Add(30 * time.Second); stale == "" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		pods, err := cs.CoreV1().Pods(accNamespace).List(t.Context(), sel)
		if err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) > 0 {
			stale = pods.Items[0].Name
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if stale == "" {
		t.Fatalf("no pod appeared:\n%s", stderr.String())
	}
	if _, err := cs.CoreV1().Pods(accNamespace).Get(t.Context(), stale, metav1.GetOptions{}); err != nil {
		t.Fatalf("the pod did not outlive its host: %v", err)
	}

	r := flowctl(t, dir, "apply", "--start-timeout", "3s", "pipeline.hcl")
	want := fmt.Sprintf("Removed pod %s/%s (sink.out of run ", accNamespace, stale)
	if !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "left behind by a flowctl that is no longer running.") {
		t.Errorf("the next apply did not remove the stale pod; stderr:\n%s\nwant %q", r.stderr, want)
	}
	nothingLeft(t, cs, name)
}

// TestKubernetesUnreachable: a kubeconfig whose API server does not answer
// is an error that names it, before anything is created.
func TestKubernetesUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	writeFile(t, kubeconfig, strings.ReplaceAll(`apiVersion: v1
kind: Config
clusters:
- name: gone
  cluster:
    server: https://ADDR
users:
- name: u
  user:
    token: x
contexts:
- name: gone
  context:
    cluster: gone
    user: u
current-context: gone
`, "ADDR", addr))
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), kubernetesPipeline("unreachable", kubeconfig))
	r := flowctl(t, dir, "apply", "pipeline.hcl")
	want := "Error: plugin failed to start: sink.out: the Kubernetes cluster at https://" + addr + " is unreachable: "
	if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "connection refused. Check the kubeconfig") {
		t.Errorf("exit %d, stderr:\n%s\nwant it to contain %q", r.code, r.stderr, want)
	}
}

// TestAccKubernetesNode is the node tier: a kubelet on containerd joins the
// test cluster, images are imported with ctr, and a pipeline's plugins run
// as Pods (imagePullPolicy Never), reached through port-forwards; the
// stdout sink's output comes back through its Pod's log and is counted.
func TestAccKubernetesNode(t *testing.T) {
	c, cs := startCluster(t)
	if err := testcluster.NodePrerequisites(); err != nil {
		t.Fatalf("FLOWCTL_ACC=1 but %v", err)
	}
	dir := t.TempDir()
	images := []string{
		buildImage(t, dir, "flowctl.test/flowctl:acc", flowctlBin, "flowctl"),
		buildImage(t, dir, "flowctl.test/pause:acc", buildPause(t, dir), "pause"),
	}
	if err := c.StartNode(t.Context(), testcluster.NodeOptions{Images: images, PauseImage: "flowctl.test/pause:acc"}); err != nil {
		t.Fatalf("start the test node: %v\nkubelet log:\n%s\ncontainerd log:\n%s", err, c.LogTail("kubelet", 40), c.LogTail("containerd", 20))
	}
	name := uniqueName("acc-k8s-node")
	driver := fmt.Sprintf(`driver "kubernetes" {
    kubeconfig        = %q
    namespace         = %q
    image             = "flowctl.test/flowctl:acc"
    image_pull_policy = "Never"
  }`, c.Kubeconfig, accNamespace)
	writeFile(t, filepath.Join(dir, "pipeline.hcl"), fmt.Sprintf(`
pipeline %q {
  %s
}
source "generator" "ticks" {
  count = 3000
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { where = "pod" }
}
sink "stdout" "out" {
  inputs = [processor.tag]
}
`, name, driver))
	r := flowctl(t, dir, "apply", "--start-timeout", "2m", "pipeline.hcl")
	if r.code != 0 {
		t.Fatalf("apply exit %d:\n%s\ncontainerd log:\n%s", r.code, r.stderr, c.LogTail("containerd", 30))
	}
	t.Run("pod deleted mid-run", func(t *testing.T) { testPodDeletedMidRun(t, c, cs, dir, driver) })
	t.Run("pod to pod", func(t *testing.T) { testPodToPod(t, cs, dir, driver) })
	t.Run("image not on the node", func(t *testing.T) {
		name := uniqueName("acc-k8s-noimage")
		writeFile(t, filepath.Join(dir, "noimage.hcl"), fmt.Sprintf(`
pipeline %q {}
source "generator" "ticks" {
  count = 10
}
sink "discard" "out" {
  inputs = [source.ticks]
  %s
}
`, name, strings.Replace(driver, "flowctl.test/flowctl:acc", "flowctl.test/missing:0", 1)))
		r := flowctl(t, dir, "apply", "--start-timeout", "1m", "noimage.hcl")
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`Error: plugin failed to start: sink\.out: pod flowctl-acc/\S+ cannot start its container: ErrImageNeverPull: `),
			regexp.MustCompile(`pod events:\n(  .*\n)*  Normal Scheduled: Successfully assigned flowctl-acc/\S+ to flowctl-test-node\n(  .*\n)*  Warning ErrImageNeverPull: Container image "flowctl.test/missing:0" is not present with pull policy of Never`),
		} {
			if r.code != 1 || !want.MatchString(r.stderr) {
				t.Errorf("exit %d, stderr does not match %s:\n%s", r.code, want, r.stderr)
			}
		}
		nothingLeft(t, cs, name)
	})
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if strings.Contains(l, `"where":"pod"`) {
			got = append(got, l)
		}
	}
	if len(got) != 3000 {
		t.Errorf("stdout has %d transformed events, want 3000:\n%.2000s", len(got), r.stdout)
	}
	for _, row := range []string{`source\.ticks .* kubernetes +- +3000 +3000`, `processor\.tag .* kubernetes +3000 +3000`, `sink\.out .* kubernetes +3000 +- +3000`} {
		if !regexp.MustCompile(row).MatchString(r.stderr) {
			t.Errorf("summary has no row %q:\n%s", row, r.stderr)
		}
	}
	nothingLeft(t, cs, name)
}

// testPodToPod moves 1,000,000 events Pod to Pod: every event arrives, and
// the host, whose port-forwards carry the plugins' control streams, moves
// under 2% of the payload's bytes.
func testPodToPod(t *testing.T, cs kubernetes.Interface, dir, driver string) {
	const events = 1_000_000
	name := uniqueName("acc-k8s-direct")
	writeFile(t, filepath.Join(dir, "direct.hcl"), fmt.Sprintf(`
pipeline %q {
  %s
}
source "generator" "ticks" {
  count = %d
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { where = "pod" }
}
sink "discard" "out" {
  inputs = [processor.tag]
}
`, name, driver, events))
	cmd := exec.CommandContext(t.Context(), flowctlBin, "apply", "--log-level", "info", "--start-timeout", "2m", "direct.hcl")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var forwarded tcpTraffic
	// The Pods' processes run on this machine, started by the node's
	// containerd (a shim in its k8s.io namespace), not by the host; other
	// packages' tests may run plugins meanwhile.
	hostIO, sinkRead := runCounted(t, cmd, &stderr, func(int) ([]int, int) {
		procs := processes()
		return threePlugins(procs, func(pid int) bool {
			shim := strings.Join(procs[parent(pid)], " ")
			return strings.Contains(shim, "containerd-shim") && strings.Contains(shim, "k8s.io")
		})
	}, forwarded.sample)
	out := stderr.String()
	if strings.Contains(out, "batches relay through the host") {
		t.Fatalf("the batches went through the host:\n%s", out)
	}
	for _, row := range []string{
		fmt.Sprintf(`source\.ticks .* kubernetes +- +%d +%d`, events, events),
		fmt.Sprintf(`processor\.tag .* kubernetes +%d +%d`, events, events),
		fmt.Sprintf(`sink\.out .* kubernetes +%d +- +%d`, events, events),
	} {
		if !regexp.MustCompile(row).MatchString(out) {
			t.Errorf("summary has no row %q:\n%s", row, out)
		}
	}
	// What crosses the port-forwards (the plugins' control streams) is the
	// measure; the host's own I/O, checkpoints included, is logged too.
	t.Logf("host I/O while the plugins ran: read %d, wrote %d bytes", hostIO.rchar, hostIO.wchar)
	underTwoPercent(t, "the port-forwards", forwarded.total(), sinkRead)
	nothingLeft(t, cs, name)
}

// tcpTraffic follows TCP connections with the kernel's byte counts for each
// (ss -i): those into the loopback ports a host process listens on (its
// port-forwards and control plane: sample), or every one the process owns
// (sampleOwned).
type tcpTraffic struct {
	bytes map[string]uint64 // connection → bytes sent and received, last seen
}

func (tr *tcpTraffic) sample(host int) {
	out, err := exec.Command("ss", "-tlnpH").Output()
	if err != nil {
		return
	}
	var ports []string
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) >= 4 && strings.Contains(line, fmt.Sprintf("pid=%d,", host)) {
			ports = append(ports, "sport = :"+f[3][strings.LastIndexByte(f[3], ':')+1:])
		}
	}
	if len(ports) == 0 {
		return
	}
	out, err = exec.Command("ss", "-tinH", "state", "established", "( "+strings.Join(ports, " or ")+" )").Output()
	if err == nil {
		tr.add(string(out), "")
	}
}

func (tr *tcpTraffic) sampleOwned(host int) {
	out, err := exec.Command("ss", "-tinpH", "state", "established").Output()
	if err == nil {
		tr.add(string(out), fmt.Sprintf("pid=%d,", host))
	}
}

// add reads ss -i output: a line per connection, then an indented line of
// its counters. owner, when set, keeps only connections whose line names it.
func (tr *tcpTraffic) add(out, owner string) {
	if tr.bytes == nil {
		tr.bytes = map[string]uint64{}
	}
	conn, keep := "", false
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			f := strings.Fields(line)
			keep = len(f) >= 4 && (owner == "" || strings.Contains(line, owner))
			if keep {
				conn = strings.Join(f[2:4], " ")
			}
			continue
		}
		if !keep {
			continue
		}
		var n uint64
		for _, f := range strings.Fields(line) {
			for _, key := range []string{"bytes_sent:", "bytes_received:"} {
				if v, ok := strings.CutPrefix(f, key); ok {
					b, _ := strconv.ParseUint(v, 10, 64)
					n += b
				}
			}
		}
		tr.bytes[conn] = max(tr.bytes[conn], n)
	}
}

func (tr *tcpTraffic) total() uint64 {
	var sum uint64
	for _, n := range tr.bytes {
		sum += n
	}
	return sum
}

// testPodDeletedMidRun deletes the processor's Pod while events flow: the
// supervisor starts a new Pod and every event arrives.
func testPodDeletedMidRun(t *testing.T, c *testcluster.Cluster, cs kubernetes.Interface, dir, driver string) {
	name := uniqueName("acc-k8s-kill")
	const n = 8000
	writeFile(t, filepath.Join(dir, "kill.hcl"), fmt.Sprintf(`
pipeline %q {
  restart {
    attempts = 3
    delay    = "200ms"
  }
}
source "generator" "ticks" {
  count = %d
  rate  = 1000
  batch {
    size = 50
  }
}
processor "transform" "tag" {
  inputs = [source.ticks]
  set    = { where = "pod" }
  %s
}
sink "file" "out" {
  inputs = [processor.tag]
  path   = "kill.jsonl"
}
`, name, n, driver))
	cmd := exec.CommandContext(t.Context(), flowctlBin, "apply", "--start-timeout", "2m", "kill.hcl")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deleted := ""
	for deadline := time.Now().Add(90 * time.Second); deleted == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if countLines(filepath.Join(dir, "kill.jsonl")) < 1000 {
			continue
		}
		pods, err := cs.CoreV1().Pods(accNamespace).List(t.Context(), metav1.ListOptions{LabelSelector: drivers.LabelPipeline + "=" + name})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods.Items {
			if p.Labels[drivers.LabelComponent] == "processor.tag" {
				grace := int64(0)
				if err := cs.CoreV1().Pods(accNamespace).Delete(t.Context(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
					t.Fatal(err)
				}
				deleted = p.Name
			}
		}
	}
	if deleted == "" {
		_ = cmd.Process.Kill()
		t.Fatalf("never saw the processor's pod with output flowing:\n%s", stderr.String())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("apply: %v\n%s\nkubelet log:\n%s", err, stderr.String(), c.LogTail("kubelet", 20))
	}
	distinct := map[string]bool{}
	for _, id := range idsOf(readLines(t, filepath.Join(dir, "kill.jsonl"))) {
		distinct[id] = true
	}
	if len(distinct) != n {
		t.Errorf("%d distinct events arrived, want %d\n%s", len(distinct), n, stderr.String())
	}
	if !regexp.MustCompile(`processor\.tag: restarted \(pod flowctl-acc/flowctl-acc-k8s-kill-\d+-processor-tag-[0-9a-f]{6}\)`).MatchString(stderr.String()) {
		t.Errorf("no restart of processor.tag in a new pod:\n%s", stderr.String())
	}
	nothingLeft(t, cs, name)
}

// buildImage wraps the static binary bin into a FROM scratch image with
// the docker CLI and saves it to a tarball for ctr.
func buildImage(t *testing.T, dir, ref, bin, name string) string {
	t.Helper()
	ctx := filepath.Join(dir, "image-"+name)
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, name), data, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ctx, "Dockerfile"), fmt.Sprintf("FROM scratch\nCOPY %s /%s\nENTRYPOINT [\"/%s\"]\n", name, name, name))
	if out, err := exec.Command("docker", "build", "-q", "-t", ref, ctx).CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", ref, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", ref).Run() })
	tarball := filepath.Join(dir, name+".tar")
	if out, err := exec.Command("docker", "save", "-o", tarball, ref).CombinedOutput(); err != nil {
		t.Fatalf("docker save %s: %v\n%s", ref, err, out)
	}
	return tarball
}

func buildPause(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "pause-bin")
	cmd := exec.Command("go", "build", "-o", out, "github.com/flowctl/flowctl/drivers/kubernetes/testcluster/pause")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build pause: %v\n%s", err, b)
	}
	return out
}
