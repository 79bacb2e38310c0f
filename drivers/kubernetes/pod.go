package kubernetes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/flowctl/flowctl/drivers"
)

// podInstance is one plugin's Pod with its Service and Secret.
type podInstance struct {
	cl   *cluster
	ns   string
	name string
	log  hclog.Logger

	mu      sync.Mutex
	cancels []context.CancelFunc
}

// start creates the objects, waits for the Pod to be ready and for the
// plugin's handshake line, and reaches the plugin.
func (p *podInstance) start(ctx context.Context, spec drivers.Spec) (*drivers.Instance, error) {
	secret, svc, pod, err := p.objects(spec)
	if err != nil {
		return nil, err
	}
	core := p.cl.cs.CoreV1()
	if _, err := core.Secrets(p.ns).Create(ctx, secret, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create secret %s/%s on %s: %w", p.ns, p.name, p.cl.where, err)
	}
	if _, err := core.Services(p.ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create service %s/%s: %w", p.ns, p.name, err)
	}
	if _, err := core.Pods(p.ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create pod %s/%s: %w", p.ns, p.name, err)
	}
	timeout := spec.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	if err := p.waitReady(ctx, timeout); err != nil {
		return nil, err
	}
	shake, err := p.handshake(ctx, spec, timeout)
	if err != nil {
		return nil, err
	}
	// Other Pods of the run send batches to this one at its Pod IP; the
	// host's port-forward carries only control.
	peers := map[string]string{}
	podAddr := ""
	if got, err := p.cl.cs.CoreV1().Pods(p.ns).Get(ctx, p.name, metav1.GetOptions{}); err == nil && got.Status.PodIP != "" {
		podAddr = net.JoinHostPort(got.Status.PodIP, strconv.Itoa(drivers.PluginPort))
		peers[p.cl.network()] = podAddr
	}
	var addr string
	switch {
	case !p.cl.inCluster:
		if addr, err = p.portForward(); err != nil {
			return nil, err
		}
	case podAddr != "":
		// In the cluster the host dials the Pod IP too: it needs neither
		// cluster DNS nor kube-proxy, and the host verifies the plugin by
		// drivers.PluginServerName, whatever address it dials.
		addr = podAddr
	default:
		addr = net.JoinHostPort(p.name+"."+p.ns+".svc", strconv.Itoa(drivers.PluginPort))
	}
	rc, err := drivers.Reattach(shake, addr, &drivers.Attached{Name: p.ns + "/" + p.name, WaitFn: p.wait, KillFn: p.kill})
	if err != nil {
		return nil, err
	}
	p.log.Debug("plugin serving", "address", addr, "protocol", shake.Protocol)
	return &drivers.Instance{
		Reattach: rc,
		TLS:      spec.Authority.ClientTLS(),
		Where:    "pod " + p.ns + "/" + p.name,
		Network:  p.cl.network(),
		Peers:    peers,
		Cleanup: func(ctx context.Context) error {
			p.delete(ctx, 5)
			return nil
		},
	}, nil
}

// waitReady watches the Pod until it is ready (its readiness probe is the
// plugin's health), fails, or timeout passes.
func (p *podInstance) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pods := p.cl.cs.CoreV1().Pods(p.ns)
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", p.name).String()})
	if err != nil {
		return fmt.Errorf("watch pod %s/%s: %w", p.ns, p.name, err)
	}
	defer w.Stop()
	var last *corev1.Pod
	for {
		select {
		case <-ctx.Done():
			return p.failure(context.WithoutCancel(ctx), last, fmt.Sprintf("did not become ready within %s (--start-timeout)", timeout))
		case ev, ok := <-w.ResultChan():
			if !ok {
				// The API server ends watches now and then; look again.
				w.Stop()
				if w, err = pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", p.name).String()}); err != nil {
					return p.failure(context.WithoutCancel(ctx), last, "could not be watched: "+err.Error())
				}
				continue
			}
			if ev.Type == watch.Deleted {
				return p.failure(context.WithoutCancel(ctx), last, "was deleted before it became ready")
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			last = pod
			if ready(pod) {
				return nil
			}
			if why := failed(pod); why != "" {
				return p.failure(context.WithoutCancel(ctx), pod, why)
			}
		}
	}
}

func ready(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// failed says why pod cannot start, or "" while it still may.
func failed(pod *corev1.Pod) string {
	switch pod.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return "ended (" + string(pod.Status.Phase) + ") before it became ready"
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff":
				return fmt.Sprintf("cannot start its container: %s: %s", w.Reason, w.Message)
			}
		}
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("its container exited with status %d (%s) before the plugin served", t.ExitCode, t.Reason)
		}
	}
	return ""
}

// failure is the error for a Pod that did not start: what happened, the
// Pod's state, its events and the last lines of its log.
func (p *podInstance) failure(ctx context.Context, pod *corev1.Pod, what string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s/%s %s", p.ns, p.name, what)
	if pod != nil {
		fmt.Fprintf(&b, "\npod status: %s", pod.Status.Phase)
		for _, c := range pod.Status.Conditions {
			if c.Status != corev1.ConditionTrue && c.Message != "" {
				fmt.Fprintf(&b, "; %s: %s", c.Reason, c.Message)
			}
		}
		for _, cs := range pod.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				fmt.Fprintf(&b, "; container %s waiting: %s %s", cs.Name, w.Reason, w.Message)
			}
		}
	}
	ectx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	events, err := p.cl.cs.CoreV1().Events(p.ns).List(ectx, metav1.ListOptions{FieldSelector: fields.AndSelectors(
		fields.OneTermEqualSelector("involvedObject.kind", "Pod"),
		fields.OneTermEqualSelector("involvedObject.name", p.name),
	).String()})
	switch {
	case err != nil:
		fmt.Fprintf(&b, "\npod events could not be listed: %v", err)
	case len(events.Items) == 0:
		b.WriteString("\npod events: none (is a scheduler running, and a node that can take the pod?)")
	default:
		sort.SliceStable(events.Items, func(i, j int) bool { return eventBefore(events.Items[i], events.Items[j]) })
		b.WriteString("\npod events:")
		for _, e := range events.Items {
			fmt.Fprintf(&b, "\n  %s %s: %s", e.Type, e.Reason, strings.TrimSpace(e.Message))
		}
	}
	tail := int64(10)
	if raw, err := p.cl.cs.CoreV1().Pods(p.ns).GetLogs(p.name, &corev1.PodLogOptions{TailLines: &tail}).Do(ectx).Raw(); err == nil && len(raw) > 0 {
		b.WriteString("\npod log:\n  " + strings.ReplaceAll(strings.TrimSpace(string(raw)), "\n", "\n  "))
	}
	return errors.New(b.String())
}

// eventBefore orders events by time. Most event times have whole seconds
// only, so events of the same second are ordered by resource version, the
// order the API server stored them in.
func eventBefore(a, b corev1.Event) bool {
	ta, tb := eventTime(a).Truncate(time.Second), eventTime(b).Truncate(time.Second)
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	ra, errA := strconv.ParseUint(a.ResourceVersion, 10, 64)
	rb, errB := strconv.ParseUint(b.ResourceVersion, 10, 64)
	return errA == nil && errB == nil && ra < rb
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// handshake follows the Pod's log: the handshake line first, then stdout
// and the plugin's log, which the log API merges into one stream; hclog
// JSON lines are the log, everything else is stdout.
func (p *podInstance) handshake(ctx context.Context, spec drivers.Spec, timeout time.Duration) (drivers.Handshake, error) {
	lctx, cancel := context.WithCancel(context.Background())
	p.addCancel(cancel)
	rc, err := p.cl.cs.CoreV1().Pods(p.ns).GetLogs(p.name, &corev1.PodLogOptions{Follow: true}).Stream(lctx)
	if err != nil {
		return drivers.Handshake{}, fmt.Errorf("follow the log of pod %s/%s: %w", p.ns, p.name, err)
	}
	lines := make(chan string, 1)
	go func() {
		defer rc.Close()
		sc := bufio.NewScanner(rc)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			switch {
			case !seen && strings.Count(line, "|") >= 4:
				seen = true
				lines <- line
			case strings.HasPrefix(line, `{"@`) || !seen:
				writeLine(spec.Stderr, line)
			default:
				writeLine(spec.Stdout, line)
			}
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case line := <-lines:
		hs, err := drivers.ParseHandshake(line)
		if err != nil {
			return drivers.Handshake{}, fmt.Errorf("pod %s/%s: %w", p.ns, p.name, err)
		}
		return hs, nil
	case <-timer.C:
		return drivers.Handshake{}, fmt.Errorf("the plugin in pod %s/%s is ready but printed no handshake within %s", p.ns, p.name, timeout)
	case <-ctx.Done():
		return drivers.Handshake{}, ctx.Err()
	}
}

func writeLine(w io.Writer, line string) {
	if w != nil {
		_, _ = io.WriteString(w, line+"\n")
	}
}

// portForward forwards a free port on 127.0.0.1 to the plugin's port in
// the Pod, over WebSockets where the API server offers them and SPDY
// otherwise, as kubectl does.
func (p *podInstance) portForward() (string, error) {
	u, err := url.Parse(p.cl.cfg.Host)
	if err != nil {
		return "", err
	}
	u.Path = strings.TrimRight(u.Path, "/") + fmt.Sprintf("/api/v1/namespaces/%s/pods/%s/portforward", p.ns, p.name)
	transport, upgrader, err := spdy.RoundTripperFor(p.cl.cfg)
	if err != nil {
		return "", err
	}
	dialer := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	if ws, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, p.cl.cfg); err == nil {
		dialer = portforward.NewFallbackDialerForStreaming(ws, dialer, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	stop, readyCh := make(chan struct{}), make(chan struct{})
	var once sync.Once
	p.addCancel(func() { once.Do(func() { close(stop) }) })
	fw, err := portforward.NewOnAddressesForStreaming(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(drivers.PluginPort)}, stop, readyCh, io.Discard, &logWriter{log: p.log})
	if err != nil {
		return "", err
	}
	errCh := make(chan error, 1)
	go func() { errCh <- fw.ForwardPorts() }()
	select {
	case <-readyCh:
	case err := <-errCh:
		return "", fmt.Errorf("port-forward to pod %s/%s: %w", p.ns, p.name, err)
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("port-forward to pod %s/%s did not become ready within 30s", p.ns, p.name)
	}
	ports, err := fw.GetPorts()
	if err != nil || len(ports) == 0 {
		return "", fmt.Errorf("port-forward to pod %s/%s: no local port: %w", p.ns, p.name, err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))), nil
}

// logWriter logs what the port-forwarder reports about broken connections.
type logWriter struct{ log hclog.Logger }

func (w *logWriter) Write(b []byte) (int, error) {
	w.log.Debug("port-forward", "message", strings.TrimSpace(string(b)))
	return len(b), nil
}

// wait returns when the Pod is no longer running: it ended, or is gone.
func (p *podInstance) wait(ctx context.Context) error {
	pods := p.cl.cs.CoreV1().Pods(p.ns)
	for {
		w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", p.name).String()})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(time.Second)
			continue
		}
		for ev := range w.ResultChan() {
			if ev.Type == watch.Deleted {
				w.Stop()
				return nil
			}
			if pod, ok := ev.Object.(*corev1.Pod); ok {
				if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
					w.Stop()
					return nil
				}
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// kill deletes the Pod at once, with its Service and Secret.
func (p *podInstance) kill(ctx context.Context) error {
	p.delete(ctx, 0)
	return nil
}

func (p *podInstance) addCancel(c context.CancelFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cancels = append(p.cancels, c)
}

// delete stops following the Pod and deletes it (with grace seconds), its
// Service and its Secret; it is safe to call more than once.
func (p *podInstance) delete(ctx context.Context, grace int64) {
	p.mu.Lock()
	cancels := p.cancels
	p.cancels = nil
	p.mu.Unlock()
	for _, c := range cancels {
		c()
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	core := p.cl.cs.CoreV1()
	errs := []error{
		ignoreNotFound(core.Pods(p.ns).Delete(dctx, p.name, deleteOptions(grace))),
		ignoreNotFound(core.Services(p.ns).Delete(dctx, p.name, deleteOptions(0))),
		ignoreNotFound(core.Secrets(p.ns).Delete(dctx, p.name, deleteOptions(0))),
	}
	if err := errors.Join(errs...); err != nil && p.log != nil {
		p.log.Warn("delete plugin objects", "pod", p.ns+"/"+p.name, "error", err)
	}
}
