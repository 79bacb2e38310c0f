package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/flowctl/flowctl/drivers"
	k8sdriver "github.com/flowctl/flowctl/drivers/kubernetes"
	"github.com/flowctl/flowctl/drivers/kubernetes/testcluster"
)

// jobExample holds the manifests docs/drivers.md shows; the test applies
// these very files, so the documentation cannot drift from what runs.
var jobExample = filepath.Join("..", "..", "examples", "kubernetes-job")

// TestAccKubernetesInCluster runs flowctl itself as a Job in the test
// cluster, with the ServiceAccount, Role and Job of examples/kubernetes-job:
// its plugins are Pods it reaches at their Pod IPs (the test cluster has no
// DNS and no kube-proxy), with a processor of two instances, and the sink
// posts every event to this test. Mid-run one processor Pod is deleted (the
// host starts a new one); then flowctl's own Pod is deleted as a lost node
// would lose it (at once, no grace): the Job controller starts another,
// which resumes from the checkpoint on the state volume; then that flowctl
// is SIGKILLed in its Pod, and the third one deletes the Pods the second
// left behind and resumes. The Job succeeds, every event arrives,
// duplicates stay bounded, nothing is left.
func TestAccKubernetesInCluster(t *testing.T) {
	start := time.Now()
	c, cs := startCluster(t)
	if err := testcluster.NodePrerequisites(); err != nil {
		t.Fatalf("FLOWCTL_ACC=1 but %v", err)
	}
	ctx := t.Context()
	if err := c.StartControllerManager(ctx); err != nil {
		t.Fatalf("start kube-controller-manager: %v", err)
	}
	dir := t.TempDir()
	const image = "flowctl.test/flowctl:acc"
	images := []string{
		buildImage(t, dir, image, flowctlBin, "flowctl"),
		buildImage(t, dir, "flowctl.test/pause:acc", buildPause(t, dir), "pause"),
	}
	if err := c.StartNode(ctx, testcluster.NodeOptions{Images: images, PauseImage: "flowctl.test/pause:acc"}); err != nil {
		t.Fatalf("start the test node: %v\nkubelet log:\n%s", err, c.LogTail("kubelet", 40))
	}
	recv := receiveEvents(t)

	const n = 30000
	name := uniqueName("acc-k8s-job")
	pipeline := fmt.Sprintf(`
pipeline %q {
  driver "kubernetes" {
    namespace         = %q
    image             = %q
    image_pull_policy = "Never"
  }
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
  inputs      = [source.ticks]
  parallelism = 2
  set         = { where = "cluster" }
}
sink "http" "out" {
  inputs = [processor.tag]
  url    = "http://%s/events"
}
`, name, accNamespace, image, n, net.JoinHostPort(testcluster.PodGateway, recv.port))
	stateDir := filepath.Join(dir, "state")
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		t.Fatal(err)
	}
	job := applyJobExample(t, cs, pipeline, func(pod *corev1.PodSpec) {
		ctr := &pod.Containers[0]
		ctr.Image, ctr.ImagePullPolicy = image, corev1.PullNever
		// No kube-proxy routes the kubernetes Service here: in-cluster
		// clients reach the API server at the node's bridge address.
		ctr.Env = append(ctr.Env,
			corev1.EnvVar{Name: "KUBERNETES_SERVICE_HOST", Value: testcluster.PodGateway},
			corev1.EnvVar{Name: "KUBERNETES_SERVICE_PORT", Value: c.Port})
		// No storage provisioner either: the state is a directory of the
		// one node, which a Pod on another node would not see.
		for i, v := range pod.Volumes {
			if v.Name == "state" {
				dirOrCreate := corev1.HostPathDirectoryOrCreate
				pod.Volumes[i].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: stateDir, Type: &dirOrCreate}}
			}
		}
	})
	plugins := recordPods(t, cs)
	jobPods := metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + job}
	logs := &podLogs{}

	// (a) A processor instance's Pod is deleted: the host replaces it.
	first := waitJobPod(t, cs, jobPods)
	go logs.follow(ctx, cs, first)
	waitEvents(t, recv, n/5, logs)
	processorPods := func() int {
		added, _ := plugins.snapshot()
		k := 0
		for _, p := range added {
			if strings.HasPrefix(p.Labels[drivers.LabelComponent], "processor.tag") {
				k++
			}
		}
		return k
	}
	if k := processorPods(); k != 2 {
		t.Errorf("%d pods of processor.tag, want 2 (parallelism = 2)", k)
	}
	before := processorPods()
	killed := deletePluginPod(t, cs, name, "processor.tag")
	t.Logf("deleted plugin pod %s after %d events", killed, recv.distinctCount())
	waitFor(t, 90*time.Second, "a new processor.tag pod", logs, func() bool { return processorPods() > before })
	waitEvents(t, recv, n/2, logs)

	// (b) flowctl's own Pod is deleted at once, as a lost node loses it
	// (the kubelet still stops its container, with a second's grace).
	grace := int64(0)
	if err := cs.CoreV1().Pods(accNamespace).Delete(ctx, first, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	t.Logf("deleted flowctl pod %s after %d events", first, recv.distinctCount())
	second := waitJobPod(t, cs, jobPods, first)
	go logs.follow(ctx, cs, second)
	waitEvents(t, recv, 2*n/3, logs)

	// (c) flowctl dies in its Pod (SIGKILL, as the OOM killer would): the
	// Pod stays, Failed, and so do its plugins' Pods, which the garbage
	// collector keeps while their owner exists. The Job's next flowctl
	// deletes them as objects of a flowctl Pod that has ended.
	killFlowctl(t, second)
	t.Logf("killed flowctl in pod %s after %d events", second, recv.distinctCount())
	third := waitJobPod(t, cs, jobPods, first, second)
	go logs.follow(ctx, cs, third)
	waitFor(t, 3*time.Minute, "the Job to complete", logs, func() bool {
		j, err := cs.BatchV1().Jobs(accNamespace).Get(ctx, job, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, cond := range j.Status.Conditions {
			if cond.Status == corev1.ConditionTrue && cond.Type == batchv1.JobFailed {
				t.Fatalf("the Job failed: %s\n%s", cond.Message, logs.String())
			}
			if cond.Status == corev1.ConditionTrue && cond.Type == batchv1.JobComplete {
				return true
			}
		}
		return false
	})

	distinct, total := recv.counts()
	missing := 0
	for i := 1; i <= n; i++ {
		if recv.seen(fmt.Sprintf("%08d", i)) == 0 {
			missing++
		}
	}
	t.Logf("events: %d distinct of %d, %d delivered, %d duplicates, %d missing; elapsed %s", distinct, n, total, total-distinct, missing, time.Since(start).Round(time.Second))
	if missing > 0 || distinct != n {
		t.Errorf("%d events missing (%d distinct, want %d)\n%s", missing, distinct, n, logs.String())
	}
	// Duplicates come from what was in flight at each failure: a window of
	// batches, not a replay of the run.
	if dup := total - distinct; dup > n/5 {
		t.Errorf("%d duplicates, want at most %d", dup, n/5)
	}
	out := logs.String()
	for _, want := range []string{
		`processor\.tag\S*: restarted \(pod ` + accNamespace + `/flowctl-` + name + `-processor-tag`,
		// The second flowctl's summary: the source went on from its
		// checkpoint, so it read fewer than all events.
		`source\.ticks .* kubernetes +- +\d+ +\d+`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("flowctl's log does not match %s:\n%s", want, out)
		}
	}
	for _, pod := range []string{second, third} {
		if !strings.Contains(logs.of(pod), "source.ticks: resuming from its checkpoint") {
			t.Errorf("the flowctl of pod %s did not resume from the checkpoint:\n%s", pod, logs.of(pod))
		}
	}
	if m := regexp.MustCompile(`source\.ticks .* kubernetes +- +(\d+)`).FindStringSubmatch(logs.of(third)); m != nil {
		if read, _ := strconv.Atoi(m[1]); read >= n/2 {
			t.Errorf("the last flowctl read %d events, want fewer than %d: it did not resume from the checkpoint", read, n/2)
		} else {
			t.Logf("the last flowctl resumed: its source read %d of %d events", read, n)
		}
	}
	// The killed flowctl's source, two processor instances and sink.
	removed := regexp.MustCompile(`Removed pod `+accNamespace+`/flowctl-`+name+`-\S+ \(\S+ of run \S+\), left behind by a flowctl that is no longer running\.`).FindAllString(logs.of(third), -1)
	if len(removed) != 4 {
		t.Errorf("the last flowctl removed %d pods of the killed one, want 4:\n%s", len(removed), logs.of(third))
	}
	// Every plugin Pod is owned by the flowctl Pod that started it, so the
	// garbage collector deletes it with that Pod.
	added, _ := plugins.snapshot()
	for _, p := range added {
		if refs := p.OwnerReferences; len(refs) != 1 || refs[0].Kind != "Pod" || !slices.Contains([]string{first, second, third}, refs[0].Name) {
			t.Errorf("plugin pod %s has owner references %+v, want its flowctl Pod", p.Name, refs)
		}
	}
	// The first flowctl, stopped with a second's grace, may delete its
	// plugins' objects itself or leave them to the garbage collector: say
	// which it was.
	collected := 0
	for _, l := range strings.Split(c.LogTail("kube-controller-manager", 1<<20), "\n") {
		if strings.Contains(l, "Deleting item") && strings.Contains(l, "flowctl-"+name) {
			collected++
		}
	}
	t.Logf("the garbage collector deleted %d objects of the pipeline", collected)
	for _, l := range strings.Split(out, "\n") {
		if regexp.MustCompile(`restarted \(|resuming from|Removed pod|completed in`).MatchString(l) {
			t.Logf("flowctl: %s", strings.TrimSpace(l))
		}
	}
	nothingLeft(t, cs, name)
}

// applyJobExample creates the objects of examples/kubernetes-job in the
// test namespace, the pipeline's ConfigMap from src, and the Job with edit
// applied to its Pod; it returns the Job's name.
func applyJobExample(t *testing.T, cs kubernetes.Interface, src string, edit func(*corev1.PodSpec)) string {
	t.Helper()
	ctx := t.Context()
	var job *batchv1.Job
	for _, obj := range decodeManifests(t, "rbac.yaml", "job.yaml") {
		var err error
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			o.Namespace = accNamespace
			_, err = cs.CoreV1().ServiceAccounts(accNamespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.Role:
			o.Namespace = accNamespace
			_, err = cs.RbacV1().Roles(accNamespace).Create(ctx, o, metav1.CreateOptions{})
		case *rbacv1.RoleBinding:
			o.Namespace = accNamespace
			for i := range o.Subjects {
				o.Subjects[i].Namespace = accNamespace
			}
			_, err = cs.RbacV1().RoleBindings(accNamespace).Create(ctx, o, metav1.CreateOptions{})
		case *corev1.PersistentVolumeClaim:
			// The test cluster has no storage provisioner; edit replaces
			// the claim.
		case *batchv1.Job:
			job = o
		default:
			t.Fatalf("examples/kubernetes-job has a %T the test does not know", obj)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if job == nil {
		t.Fatal("examples/kubernetes-job/job.yaml has no Job")
	}
	spec := &job.Spec.Template.Spec
	var configMap string
	for _, v := range spec.Volumes {
		if v.Name == "pipeline" && v.ConfigMap != nil {
			configMap = v.ConfigMap.Name
		}
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: configMap, Namespace: accNamespace}, Data: map[string]string{"pipeline.hcl": src}}
	if _, err := cs.CoreV1().ConfigMaps(accNamespace).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	edit(spec)
	job.Namespace = accNamespace
	if _, err := cs.BatchV1().Jobs(accNamespace).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return job.Name
}

// decodeManifests reads YAML files of examples/kubernetes-job, each of
// several documents, into typed objects.
func decodeManifests(t *testing.T, files ...string) []runtime.Object {
	t.Helper()
	var objs []runtime.Object
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(jobExample, f))
		if err != nil {
			t.Fatal(err)
		}
		r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(b)))
		for {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(bytes.TrimSpace(doc)) == 0 {
				continue
			}
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("%s: %v\n%s", f, err, doc)
			}
			objs = append(objs, obj)
		}
	}
	return objs
}

// waitJobPod returns the name of a Job's Pod that is not one of earlier,
// once there is one.
func waitJobPod(t *testing.T, cs kubernetes.Interface, sel metav1.ListOptions, earlier ...string) string {
	t.Helper()
	var name string
	waitFor(t, 2*time.Minute, "a pod of the Job", nil, func() bool {
		pods, err := cs.CoreV1().Pods(accNamespace).List(t.Context(), sel)
		if err != nil {
			return false
		}
		for _, p := range pods.Items {
			if !slices.Contains(earlier, p.Name) && p.DeletionTimestamp == nil {
				name = p.Name
				return true
			}
		}
		return false
	})
	return name
}

// killFlowctl SIGKILLs the flowctl of the Job's Pod pod: a process of
// this machine, under the test node's containerd, that the Pod's name in
// its environment tells apart.
func killFlowctl(t *testing.T, pod string) {
	t.Helper()
	for pid, args := range processes() {
		if len(args) < 2 || args[0] != "/flowctl" || args[1] != "apply" {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil || !slices.Contains(strings.Split(string(env), "\x00"), k8sdriver.EnvPodName+"="+pod) {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no flowctl process of pod %s on this machine", pod)
}

// deletePluginPod deletes at once one Pod of pipeline whose component
// label starts with component, and returns its name.
func deletePluginPod(t *testing.T, cs kubernetes.Interface, pipeline, component string) string {
	t.Helper()
	pods, err := cs.CoreV1().Pods(accNamespace).List(t.Context(), metav1.ListOptions{LabelSelector: drivers.LabelPipeline + "=" + pipeline})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Labels[drivers.LabelComponent], component) && p.DeletionTimestamp == nil {
			grace := int64(0)
			if err := cs.CoreV1().Pods(accNamespace).Delete(t.Context(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
				t.Fatal(err)
			}
			return p.Name
		}
	}
	t.Fatalf("no pod of %s in pipeline %s", component, pipeline)
	return ""
}

func waitEvents(t *testing.T, recv *eventReceiver, k int, logs *podLogs) {
	t.Helper()
	waitFor(t, 2*time.Minute, fmt.Sprintf("%d events at the sink", k), logs, func() bool { return recv.distinctCount() >= k })
}

// waitFor polls cond every 200ms; at timeout it fails t with flowctl's log.
func waitFor(t *testing.T, timeout time.Duration, what string, logs *podLogs, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if cond() {
			return
		}
	}
	msg := ""
	if logs != nil {
		msg = logs.String()
	}
	t.Fatalf("no %s within %s; flowctl's log:\n%s", what, timeout, msg)
}

// podLogs follows the logs of flowctl's Pods, which the API server loses
// with the Pod.
type podLogs struct {
	mu   sync.Mutex
	pods []string
	logs map[string]*bytes.Buffer
}

func (l *podLogs) follow(ctx context.Context, cs kubernetes.Interface, pod string) {
	l.mu.Lock()
	if l.logs == nil {
		l.logs = map[string]*bytes.Buffer{}
	}
	buf := &bytes.Buffer{}
	l.pods = append(l.pods, pod)
	l.logs[pod] = buf
	l.mu.Unlock()
	// Until the container runs there is no log, or an empty one; once
	// something was read, the stream ends with the container.
	for read := false; !read && ctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
		rc, err := cs.CoreV1().Pods(accNamespace).GetLogs(pod, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			read = true
			l.mu.Lock()
			buf.WriteString(sc.Text() + "\n")
			l.mu.Unlock()
		}
		rc.Close()
	}
}

func (l *podLogs) of(pod string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b := l.logs[pod]; b != nil {
		return b.String()
	}
	return ""
}

func (l *podLogs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, p := range l.pods {
		fmt.Fprintf(&b, "--- pod %s\n%s", p, l.logs[p].String())
	}
	return b.String()
}

// eventReceiver is the http sink's target: it counts each event id it is
// sent. It listens on every address, for the sink's Pod reaches the
// machine at the node's bridge address.
type eventReceiver struct {
	port string
	mu   sync.Mutex
	ids  map[string]int
	n    int
}

func receiveEvents(t *testing.T) *eventReceiver {
	t.Helper()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	r := &eventReceiver{port: strconv.Itoa(l.Addr().(*net.TCPAddr).Port), ids: map[string]int{}}
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var batch []line
		if err := json.NewDecoder(req.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, e := range batch {
			r.ids[e.ID]++
			r.n++
		}
		r.mu.Unlock()
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return r
}

func (r *eventReceiver) distinctCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func (r *eventReceiver) counts() (distinct, total int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids), r.n
}

func (r *eventReceiver) seen(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}
