package kubernetes

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/flowctl/flowctl/drivers"
)

// TestOwnerReference: in the cluster, a flowctl Pod that names itself owns
// the plugin objects in its own namespace, and only there.
func TestOwnerReference(t *testing.T) {
	t.Setenv(EnvPodName, "orders-abcde")
	t.Setenv(EnvPodNamespace, "pipes")
	t.Setenv(EnvPodUID, "uid-1")
	owner, ns := selfPod()
	if owner == nil || ns != "pipes" || owner.Name != "orders-abcde" || owner.UID != "uid-1" || owner.Kind != "Pod" || owner.APIVersion != "v1" {
		t.Fatalf("selfPod() = %+v, %q", owner, ns)
	}
	a, err := drivers.NewAuthority("run1")
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{inCluster: true, owner: owner, ownerNS: ns}
	for _, tt := range []struct {
		ns    string
		owned bool
	}{{"pipes", true}, {"other", false}} {
		spec := drivers.Spec{Component: "sink.out", Pipeline: "p", RunID: "run1", Authority: a, Options: drivers.Options{Namespace: tt.ns}}
		p := &podInstance{cl: cl, ns: tt.ns, name: objectName(spec)}
		secret, svc, pod, err := p.objects(spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []metav1.ObjectMeta{secret.ObjectMeta, svc.ObjectMeta, pod.ObjectMeta} {
			if got := len(m.OwnerReferences) == 1 && m.OwnerReferences[0].UID == "uid-1"; got != tt.owned {
				t.Errorf("namespace %s: owner references %+v, want owned=%v", tt.ns, m.OwnerReferences, tt.owned)
			}
		}
	}
	t.Setenv(EnvPodUID, "")
	if owner, _ := selfPod(); owner != nil {
		t.Errorf("selfPod() without a UID = %+v, want nil", owner)
	}
}

// TestCleanStaleOwnerPod: the next flowctl in the cluster deletes the
// objects of a flowctl Pod that failed, succeeded or is gone, and keeps
// those of a running one and its own.
func TestCleanStaleOwnerPod(t *testing.T) {
	const ns = "pipes"
	flowctlPod := func(name, uid string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid)}, Status: corev1.PodStatus{Phase: phase}}
	}
	plugin := func(name, ownerName, ownerUID string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ns,
			// Another machine's owner label: only the reference can tell.
			Labels:          map[string]string{drivers.LabelRun: "r", drivers.LabelOwner: ownerName + "_1_1", drivers.LabelComponent: "sink.out"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: ownerName, UID: types.UID(ownerUID)}},
		}}
	}
	objs := []runtime.Object{
		flowctlPod("failed", "u-failed", corev1.PodFailed),
		flowctlPod("done", "u-done", corev1.PodSucceeded),
		flowctlPod("running", "u-running", corev1.PodRunning),
		flowctlPod("self", "u-self", corev1.PodRunning),
		flowctlPod("replaced", "u-new", corev1.PodRunning),
		plugin("of-failed", "failed", "u-failed"),
		plugin("of-done", "done", "u-done"),
		plugin("of-gone", "gone", "u-gone"),
		plugin("of-replaced", "replaced", "u-old"),
		plugin("of-running", "running", "u-running"),
		plugin("of-self", "self", "u-self"),
	}
	cs := fake.NewClientset(objs...)
	cl := &cluster{cs: cs, inCluster: true, owner: &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: "self", UID: "u-self"}, ownerNS: ns}
	removed, err := cleanNamespace(context.Background(), cl, ns)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 4 {
		t.Errorf("removed %q, want the four plugins of ended flowctl Pods", removed)
	}
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, p := range pods.Items {
		left = append(left, p.Name)
	}
	slices.Sort(left)
	want := []string{"done", "failed", "of-running", "of-self", "replaced", "running", "self"}
	if !slices.Equal(left, want) {
		t.Errorf("pods left %q, want %q", left, want)
	}
}
