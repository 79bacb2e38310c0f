// Package kubernetes runs plugins as Pods on a Kubernetes cluster, through
// client-go.
//
// Each component gets a Pod (one container, the plugin in network mode), a
// ClusterIP Service in front of it and a Secret with its TLS material
// (mounted at /etc/flowctl/tls), all in the driver block's namespace and
// labelled with drivers.Label* and the block's labels. The Pod's readiness
// probe is the plugin's health (pluginsdk's plain HTTP /healthz, which
// answers what the Health RPC would); the driver watches the Pod until it is
// ready, then reads the handshake line from its log and reaches the plugin:
// at its Pod IP when flowctl itself runs in the cluster (no cluster DNS or
// kube-proxy needed; the Service's name when the Pod has no IP yet),
// otherwise through a client-go port-forward to the Pod on 127.0.0.1.
//
// The Pod's restartPolicy is Never: the host's supervisor restarts plugins.
// Everything is deleted when the plugin stops or fails; objects whose host
// process is gone are deleted by the next apply (CleanStale). In the
// cluster, when the flowctl Pod names itself through the downward API
// (EnvPodName, EnvPodNamespace, EnvPodUID), the objects in its namespace
// are owned by it: the garbage collector deletes them with the Pod, and
// CleanStale deletes those of a flowctl Pod that has ended. A cluster that
// does not answer, and a Pod that does not start, are errors that say why,
// the latter with the Pod's status and events.
package kubernetes

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flowctl/flowctl/drivers"
	"github.com/flowctl/flowctl/proto/wire"
)

// Name is the driver's name in pipeline files.
const Name = "kubernetes"

// LabelInstance selects one plugin's Pod for its Service.
const LabelInstance = "flowctl.io/instance"

// tlsMount is where the plugin's Secret is mounted.
const tlsMount = "/etc/flowctl/tls"

// The flowctl Pod's name, namespace and UID, set from the downward API in
// its manifest (docs/drivers.md). An owner reference needs the UID, and
// guessing the rest (the hostname is not always the Pod's name) could make
// the garbage collector delete the plugins of a running flowctl.
const (
	EnvPodName      = "FLOWCTL_POD_NAME"
	EnvPodNamespace = "FLOWCTL_POD_NAMESPACE"
	EnvPodUID       = "FLOWCTL_POD_UID"
)

// Driver starts plugins as Pods. Call New.
type Driver struct {
	log hclog.Logger

	mu       sync.Mutex
	clusters map[string]*cluster
}

var _ drivers.Remote = (*Driver)(nil)

// New returns the kubernetes driver.
func New(log hclog.Logger) *Driver {
	return &Driver{log: log.Named("kubernetes"), clusters: map[string]*cluster{}}
}

// Name implements drivers.Driver.
func (*Driver) Name() string { return Name }

// cluster is a connection to one API server.
type cluster struct {
	cfg *rest.Config
	cs  kubernetes.Interface
	// inCluster: flowctl runs in a Pod of this cluster, so it reaches
	// plugins at their Pod IPs instead of through port-forwards.
	inCluster bool
	// owner is flowctl's own Pod, in the cluster when its manifest names
	// it; ownerNS its namespace.
	owner   *metav1.OwnerReference
	ownerNS string
	// where names the cluster in messages.
	where string
}

// ownerIn is the owner reference for objects in ns: flowctl's Pod, when it
// runs in this cluster and in ns (an owner must be in its dependents'
// namespace; the garbage collector deletes a dependent whose owner it
// cannot find there), else nil.
func (c *cluster) ownerIn(ns string) []metav1.OwnerReference {
	if c.owner == nil || c.ownerNS != ns {
		return nil
	}
	return []metav1.OwnerReference{*c.owner}
}

// selfPod reads the flowctl Pod's identity from the environment.
func selfPod() (*metav1.OwnerReference, string) {
	name, ns, uid := os.Getenv(EnvPodName), os.Getenv(EnvPodNamespace), os.Getenv(EnvPodUID)
	if name == "" || ns == "" || uid == "" {
		return nil, ""
	}
	return &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: types.UID(uid)}, ns
}

// cluster returns the connection for a kubeconfig path ("" for the default
// rules: $KUBECONFIG, ~/.kube/config, else the in-cluster configuration),
// checking once that the API server answers.
func (d *Driver) cluster(ctx context.Context, kubeconfig string) (*cluster, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.clusters[kubeconfig]; ok {
		return c, nil
	}
	c, err := connect(kubeconfig)
	if err != nil {
		return nil, err
	}
	vctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := c.cs.Discovery().RESTClient().Get().AbsPath("/version").Do(vctx).Raw()
	if err != nil {
		return nil, fmt.Errorf("the Kubernetes cluster at %s is unreachable: %w. Check the kubeconfig (driver block's kubeconfig, $KUBECONFIG or ~/.kube/config) and that the cluster runs", c.where, err)
	}
	d.log.Debug("connected", "cluster", c.where, "version", string(v))
	d.clusters[kubeconfig] = c
	return c, nil
}

func connect(kubeconfig string) (*cluster, error) {
	var cfg *rest.Config
	var err error
	inCluster := false
	switch {
	case kubeconfig != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
	case os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "" || fileExists(clientcmd.RecommendedHomeFile):
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: %w", err)
		}
	default:
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no kubeconfig (set kubeconfig in the driver block, or $KUBECONFIG) and not running in a cluster: %w", err)
		}
		inCluster = true
	}
	cfg.UserAgent = "flowctl"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	c := &cluster{cfg: cfg, cs: cs, inCluster: inCluster, where: cfg.Host}
	if inCluster {
		c.owner, c.ownerNS = selfPod()
	}
	return c, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Prepare implements drivers.Driver: it creates the plugin's Secret,
// Service and Pod, waits until the Pod is ready and returns how to
// reattach to the plugin.
func (d *Driver) Prepare(ctx context.Context, spec drivers.Spec) (*drivers.Instance, error) {
	if spec.Authority == nil {
		return nil, errors.New("kubernetes driver: no certificate authority for network mode (a bug in flowctl)")
	}
	cl, err := d.cluster(ctx, spec.Options.Kubeconfig)
	if err != nil {
		return nil, err
	}
	p := &podInstance{cl: cl, ns: namespace(spec), name: objectName(spec), log: d.log}
	p.log = d.log.With("pod", p.ns+"/"+p.name)
	inst, err := p.start(ctx, spec)
	if err != nil {
		p.delete(context.WithoutCancel(ctx), 0)
		return nil, err
	}
	return inst, nil
}

func namespace(spec drivers.Spec) string {
	if spec.Options.Namespace != "" {
		return spec.Options.Namespace
	}
	return corev1.NamespaceDefault
}

var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

// objectName is a DNS label unique per start: a restart makes new objects.
func objectName(spec drivers.Spec) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	base := unsafeName.ReplaceAllString(strings.ToLower(spec.Pipeline+"-"+spec.Component), "-")
	if len(base) > 45 {
		base = base[:45]
	}
	return "flowctl-" + strings.Trim(base, "-") + "-" + hex.EncodeToString(b)
}

// labelValue fits s to a label value: 63 characters of [A-Za-z0-9._-],
// starting and ending with an alphanumeric.
func labelValue(s string) string {
	s = regexp.MustCompile(`[^A-Za-z0-9._-]+`).ReplaceAllString(s, "-")
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.Trim(s, "-._")
}

func (p *podInstance) labels(spec drivers.Spec) map[string]string {
	l := map[string]string{}
	for k, v := range spec.Options.Labels {
		l[k] = v
	}
	l[drivers.LabelRun] = labelValue(spec.RunID)
	l[drivers.LabelOwner] = labelValue(drivers.OwnerID())
	l[drivers.LabelComponent] = labelValue(spec.Component)
	l[drivers.LabelPipeline] = labelValue(spec.Pipeline)
	l[LabelInstance] = p.name
	return l
}

// objects builds the Secret, Service and Pod of spec.
func (p *podInstance) objects(spec drivers.Spec) (*corev1.Secret, *corev1.Service, *corev1.Pod, error) {
	svcDNS := p.name + "." + p.ns + ".svc"
	certPEM, keyPEM, err := spec.Authority.ServerCert(spec.Component, "127.0.0.1", "localhost", p.name, p.name+"."+p.ns, svcDNS, svcDNS+".cluster.local")
	if err != nil {
		return nil, nil, nil, err
	}
	labels := p.labels(spec)
	meta := metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Labels: labels, OwnerReferences: p.cl.ownerIn(p.ns)}
	secret := &corev1.Secret{
		ObjectMeta: meta,
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			wire.TLSCertFile: certPEM,
			wire.TLSKeyFile:  keyPEM,
			wire.TLSCAFile:   spec.Authority.CAPEM(),
		},
	}
	svc := &corev1.Service{
		ObjectMeta: meta,
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{LabelInstance: p.name},
			Ports:    []corev1.ServicePort{{Name: "plugin", Port: drivers.PluginPort, TargetPort: intstr.FromInt32(drivers.PluginPort)}},
		},
	}
	var env []corev1.EnvVar
	for _, kv := range append(drivers.NetworkEnv(), spec.Env...) {
		k, v, _ := strings.Cut(kv, "=")
		env = append(env, corev1.EnvVar{Name: k, Value: v})
	}
	for k, v := range spec.Options.Env {
		env = append(env, corev1.EnvVar{Name: k, Value: v})
	}
	env = append(env, corev1.EnvVar{Name: wire.EnvTLSDir, Value: tlsMount})
	env = lastWins(env)
	res, err := resources(spec.Options.Resources)
	if err != nil {
		return nil, nil, nil, err
	}
	automount := spec.Options.ServiceAccount != ""
	grace := int64(10)
	pod := &corev1.Pod{
		ObjectMeta: meta,
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			ServiceAccountName:            spec.Options.ServiceAccount,
			AutomountServiceAccountToken:  &automount,
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{
				Name:            "plugin",
				Image:           spec.Options.Image,
				ImagePullPolicy: corev1.PullPolicy(spec.Options.PullPolicy),
				Args:            spec.Args,
				Env:             env,
				Ports: []corev1.ContainerPort{
					{Name: "plugin", ContainerPort: drivers.PluginPort},
					{Name: "health", ContainerPort: drivers.HealthPort},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(drivers.HealthPort)}},
					PeriodSeconds:    2,
					FailureThreshold: 3,
				},
				Resources:    res,
				VolumeMounts: []corev1.VolumeMount{{Name: "tls", MountPath: tlsMount, ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: p.name}}}},
		},
	}
	return secret, svc, pod, nil
}

// lastWins drops every variable that a later one of the same name
// overrides. The host's list relies on that order (its own settings come
// last); the kubelet would apply it too, but the API server warns about
// each duplicate, and client-go prints the warning into flowctl's log.
func lastWins(env []corev1.EnvVar) []corev1.EnvVar {
	last := map[string]int{}
	for i, e := range env {
		last[e.Name] = i
	}
	out := make([]corev1.EnvVar, 0, len(last))
	for i, e := range env {
		if last[e.Name] == i {
			out = append(out, e)
		}
	}
	return out
}

// resources sets each given quantity as both request and limit.
func resources(m map[string]string) (corev1.ResourceRequirements, error) {
	if len(m) == 0 {
		return corev1.ResourceRequirements{}, nil
	}
	rl := corev1.ResourceList{}
	for k, v := range m {
		q, err := resource.ParseQuantity(v)
		if err != nil {
			return corev1.ResourceRequirements{}, fmt.Errorf("resources.%s %q: %w", k, v, err)
		}
		rl[corev1.ResourceName(k)] = q
	}
	return corev1.ResourceRequirements{Requests: rl, Limits: rl.DeepCopy()}, nil
}

// CleanStale implements drivers.Remote: in each namespace the specs use, it
// deletes the Pods, Services and Secrets whose host process is gone.
func (d *Driver) CleanStale(ctx context.Context, specs []drivers.Spec) ([]string, error) {
	type key struct{ kubeconfig, ns string }
	seen := map[key]bool{}
	var removed []string
	var errs []error
	for _, s := range specs {
		k := key{s.Options.Kubeconfig, namespace(s)}
		if seen[k] {
			continue
		}
		seen[k] = true
		cl, err := d.cluster(ctx, k.kubeconfig)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r, err := cleanNamespace(ctx, cl, k.ns)
		removed = append(removed, r...)
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}

func cleanNamespace(ctx context.Context, cl *cluster, ns string) ([]string, error) {
	sel := metav1.ListOptions{LabelSelector: drivers.LabelRun}
	pods, err := cl.cs.CoreV1().Pods(ns).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("list flowctl pods in %s: %w", ns, err)
	}
	gone := ownerCheck{cl: cl, ns: ns, ended: map[types.UID]bool{}}
	var removed []string
	stale := map[string]bool{}
	for _, pod := range pods.Items {
		if gone.of(ctx, pod.ObjectMeta) {
			stale[pod.Name] = true
			removed = append(removed, fmt.Sprintf("pod %s/%s (%s of run %s)", ns, pod.Name, pod.Labels[drivers.LabelComponent], pod.Labels[drivers.LabelRun]))
		}
	}
	// Services and Secrets go with their Pod, or alone when the host died
	// before it created the Pod.
	svcs, err := cl.cs.CoreV1().Services(ns).List(ctx, sel)
	if err != nil {
		return removed, err
	}
	for _, s := range svcs.Items {
		if gone.of(ctx, s.ObjectMeta) {
			stale[s.Name] = true
		}
	}
	secrets, err := cl.cs.CoreV1().Secrets(ns).List(ctx, sel)
	if err != nil {
		return removed, err
	}
	for _, s := range secrets.Items {
		if gone.of(ctx, s.ObjectMeta) {
			stale[s.Name] = true
		}
	}
	for name := range stale {
		p := &podInstance{cl: cl, ns: ns, name: name}
		p.delete(ctx, 0)
	}
	return removed, nil
}

// ownerCheck tells whether the flowctl that made an object has ended: its
// process on this machine (the owner label), or its Pod in the cluster (the
// owner reference). A flowctl Pod that ended stays, Failed or Succeeded,
// until its Job goes, so the garbage collector does not delete what it
// owned; the next flowctl does.
type ownerCheck struct {
	cl    *cluster
	ns    string
	ended map[types.UID]bool
}

func (o *ownerCheck) of(ctx context.Context, meta metav1.ObjectMeta) bool {
	if drivers.OwnerGone(meta.Labels[drivers.LabelOwner]) {
		return true
	}
	for _, ref := range meta.OwnerReferences {
		if ref.APIVersion != "v1" || ref.Kind != "Pod" {
			continue
		}
		if o.cl.owner != nil && ref.UID == o.cl.owner.UID {
			return false // this flowctl's own
		}
		ended, ok := o.ended[ref.UID]
		if !ok {
			ended = o.podEnded(ctx, ref)
			o.ended[ref.UID] = ended
		}
		return ended
	}
	return false
}

// podEnded: the Pod is gone (or replaced by another of its name) or has
// ended. An error that leaves it unknown counts as not ended.
func (o *ownerCheck) podEnded(ctx context.Context, ref metav1.OwnerReference) bool {
	pod, err := o.cl.cs.CoreV1().Pods(o.ns).Get(ctx, ref.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return true
	case err != nil:
		return false
	}
	return pod.UID != ref.UID || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded
}

// deleteOptions deletes at once (grace 0) or with grace seconds.
func deleteOptions(grace int64) metav1.DeleteOptions {
	bg := metav1.DeletePropagationBackground
	return metav1.DeleteOptions{GracePeriodSeconds: &grace, PropagationPolicy: &bg}
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// network is the drivers.Instance Network of this cluster's Pods: Pod IPs
// reach each other within one cluster.
func (c *cluster) network() string { return "kubernetes:" + c.where }
