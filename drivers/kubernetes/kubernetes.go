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
// through the Service when flowctl itself runs in the cluster, otherwise
// through a client-go port-forward to the Pod on 127.0.0.1.
//
// The Pod's restartPolicy is Never: the host's supervisor restarts plugins.
// Everything is deleted when the plugin stops or fails; objects whose host
// process is gone are deleted by the next apply (CleanStale). A cluster that
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
	// plugins through their Services instead of port-forwards.
	inCluster bool
	// where names the cluster in messages.
	where string
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
	return &cluster{cfg: cfg, cs: cs, inCluster: inCluster, where: cfg.Host}, nil
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
	meta := metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Labels: labels}
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
	var removed []string
	stale := map[string]bool{}
	for _, pod := range pods.Items {
		if drivers.OwnerGone(pod.Labels[drivers.LabelOwner]) {
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
		if drivers.OwnerGone(s.Labels[drivers.LabelOwner]) {
			stale[s.Name] = true
		}
	}
	secrets, err := cl.cs.CoreV1().Secrets(ns).List(ctx, sel)
	if err != nil {
		return removed, err
	}
	for _, s := range secrets.Items {
		if drivers.OwnerGone(s.Labels[drivers.LabelOwner]) {
			stale[s.Name] = true
		}
	}
	for name := range stale {
		p := &podInstance{cl: cl, ns: ns, name: name}
		p.delete(ctx, 0)
	}
	return removed, nil
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
