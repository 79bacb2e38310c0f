package kubernetes

import (
	"regexp"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/flowctl/flowctl/drivers"
	"github.com/flowctl/flowctl/proto/wire"
)

// TestObjects: the Pod, Service and Secret a component gets, as documented.
func TestObjects(t *testing.T) {
	a, err := drivers.NewAuthority("run1")
	if err != nil {
		t.Fatal(err)
	}
	spec := drivers.Spec{
		Component: "sink.out", Pipeline: "Orders EU", RunID: "run1", Args: []string{"__plugin", "file"}, Authority: a,
		Options: drivers.Options{Namespace: "pipes", Image: "img:1", PullPolicy: "Never", ServiceAccount: "runner",
			Resources: map[string]string{"cpu": "250m", "memory": "64Mi"}, Labels: map[string]string{"team": "data"}, Env: map[string]string{"A": "b"}},
	}
	p := &podInstance{cl: &cluster{}, ns: namespace(spec), name: objectName(spec)}
	if !regexp.MustCompile(`^flowctl-orders-eu-sink-out-[0-9a-f]{6}$`).MatchString(p.name) {
		t.Errorf("name %q is not the documented DNS label", p.name)
	}
	secret, svc, pod, err := p.objects(spec)
	if err != nil {
		t.Fatal(err)
	}
	for _, labels := range []map[string]string{secret.Labels, svc.Labels, pod.Labels} {
		for k, v := range map[string]string{drivers.LabelRun: "run1", drivers.LabelComponent: "sink.out", drivers.LabelPipeline: "Orders-EU", "team": "data", LabelInstance: p.name} {
			if labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, labels[k], v)
			}
		}
	}
	if secret.Type != corev1.SecretTypeTLS || len(secret.Data[wire.TLSCertFile]) == 0 || len(secret.Data[wire.TLSKeyFile]) == 0 || len(secret.Data[wire.TLSCAFile]) == 0 {
		t.Errorf("secret %s %v", secret.Type, secret.Data)
	}
	if svc.Spec.Selector[LabelInstance] != p.name || svc.Spec.Ports[0].Port != drivers.PluginPort {
		t.Errorf("service %+v", svc.Spec)
	}
	c := pod.Spec.Containers[0]
	if pod.Namespace != "pipes" || c.Image != "img:1" || c.ImagePullPolicy != corev1.PullNever || pod.Spec.ServiceAccountName != "runner" || !*pod.Spec.AutomountServiceAccountToken {
		t.Errorf("pod %+v", pod.Spec)
	}
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("restart policy %q: the supervisor restarts plugins", pod.Spec.RestartPolicy)
	}
	if q := c.Resources.Requests[corev1.ResourceCPU]; q.String() != "250m" {
		t.Errorf("cpu request %s", q.String())
	}
	if q := c.Resources.Limits[corev1.ResourceMemory]; q.String() != "64Mi" {
		t.Errorf("memory limit %s", q.String())
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env[wire.EnvTLSDir] != tlsMount || env["A"] != "b" || env[wire.MagicCookieKey] != wire.MagicCookieValue || env[wire.EnvListen] != ":7777" {
		t.Errorf("env %v", env)
	}
	if c.VolumeMounts[0].MountPath != tlsMount || pod.Spec.Volumes[0].Secret.SecretName != p.name {
		t.Errorf("tls volume %+v %+v", c.VolumeMounts, pod.Spec.Volumes)
	}
}

// TestEnvLastWins: a variable given twice (the host overrides what a
// component's env set) reaches the Pod once, with the later value.
func TestEnvLastWins(t *testing.T) {
	a, err := drivers.NewAuthority("run1")
	if err != nil {
		t.Fatal(err)
	}
	spec := drivers.Spec{Component: "sink.out", Pipeline: "p", RunID: "run1", Authority: a,
		Env: []string{"FLOWCTL_TOKEN=", "A=1", "FLOWCTL_TOKEN=plugin-credential"}}
	p := &podInstance{cl: &cluster{}, ns: "default", name: objectName(spec)}
	_, _, pod, err := p.objects(spec)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range pod.Spec.Containers[0].Env {
		seen[e.Name]++
		if e.Name == "FLOWCTL_TOKEN" && e.Value != "plugin-credential" {
			t.Errorf("FLOWCTL_TOKEN = %q, want the later value", e.Value)
		}
	}
	for name, n := range seen {
		if n > 1 {
			t.Errorf("%s set %d times", name, n)
		}
	}
	if seen["A"] != 1 || seen["FLOWCTL_TOKEN"] != 1 {
		t.Errorf("env %v", pod.Spec.Containers[0].Env)
	}
}

func TestFailedReasons(t *testing.T) {
	waiting := func(reason string) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "msg"}},
		}}}}
	}
	tests := []struct {
		pod  *corev1.Pod
		want string
	}{
		{waiting("ErrImageNeverPull"), "cannot start its container: ErrImageNeverPull: msg"},
		{waiting("ContainerCreating"), ""},
		{&corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, "ended (Failed) before it became ready"},
		{&corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, ""},
	}
	for _, tt := range tests {
		if got := failed(tt.pod); got != tt.want {
			t.Errorf("failed() = %q, want %q", got, tt.want)
		}
	}
}

func TestLabelValue(t *testing.T) {
	long := strings.Repeat("a", 70)
	for in, want := range map[string]string{"sink.out": "sink.out", "my pipeline!": "my-pipeline", long: long[:63], "-x-": "x"} {
		if got := labelValue(in); got != want {
			t.Errorf("labelValue(%q) = %q, want %q", in, got, want)
		}
	}
}
