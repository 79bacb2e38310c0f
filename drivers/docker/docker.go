// Package docker runs plugins as containers on a Docker Engine, through the
// Engine API client (API version negotiated, so daemons from API 1.41, Docker
// 20.10, up work).
//
// Each component gets one container: from the driver block's image, or, with
// no image, from the plugin binary the catalog found wrapped into a FROM
// scratch image on the fly (image.go; cached by the binary's SHA-256, so the
// second run builds nothing). The plugin serves in network mode on
// drivers.PluginPort inside the container, published on 127.0.0.1 with a
// free host port; its certificate comes from the run's Authority through the
// environment. The host reads the handshake line from the container's log,
// relays the rest of its stdout and its log (stderr) under the component's
// name, and reattaches with go-plugin.
//
// Containers carry the drivers.Label* labels. They are removed when the
// plugin stops, fails or is killed; Docker's restart policy is off, because
// the host's supervisor restarts plugins (with its backoff and re-delivery).
// Containers whose host process is gone (it crashed or was SIGKILLed) are
// removed by the next apply that uses this driver (CleanStale).
package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
	"github.com/docker/go-connections/nat"
	"github.com/hashicorp/go-hclog"

	"github.com/flowctl/flowctl/drivers"
	"github.com/flowctl/flowctl/proto/wire"
)

// Name is the driver's name in pipeline files.
const Name = "docker"

// Driver starts plugins as Docker containers. The zero value is not usable;
// call New. It connects to the daemon the standard environment names
// (DOCKER_HOST, DOCKER_CERT_PATH, ...) when it is first used.
type Driver struct {
	log hclog.Logger

	mu     sync.Mutex
	cli    *client.Client
	images map[string]*imageBuild
}

var _ drivers.Remote = (*Driver)(nil)

// New returns the docker driver.
func New(log hclog.Logger) *Driver {
	return &Driver{log: log.Named("docker"), images: map[string]*imageBuild{}}
}

// Name implements drivers.Driver.
func (*Driver) Name() string { return Name }

// client connects to the daemon once and checks that it answers.
func (d *Driver) client(ctx context.Context) (*client.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cli != nil {
		return d.cli, nil
	}
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := cli.Ping(pctx); err != nil {
		_ = cli.Close()
		return nil, fmt.Errorf("the Docker daemon at %s does not answer: %w. Start Docker (or set DOCKER_HOST to a daemon that runs), or use another driver for this component", cli.DaemonHost(), err)
	}
	cli.NegotiateAPIVersion(ctx)
	d.log.Debug("connected", "daemon", cli.DaemonHost(), "api_version", cli.ClientVersion())
	d.cli = cli
	return cli, nil
}

// Close releases the connection to the daemon.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cli == nil {
		return nil
	}
	err := d.cli.Close()
	d.cli = nil
	return err
}

// Prepare implements drivers.Driver: it creates and starts the plugin's
// container, waits for its handshake line and returns how to reattach.
func (d *Driver) Prepare(ctx context.Context, spec drivers.Spec) (*drivers.Instance, error) {
	if spec.Authority == nil {
		return nil, errors.New("docker driver: no certificate authority for network mode (a bug in flowctl)")
	}
	cli, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	image := spec.Options.Image
	if image == "" {
		image, err = d.pluginImage(ctx, cli, spec)
	} else {
		err = imagePresent(ctx, cli, image)
	}
	if err != nil {
		return nil, err
	}
	cfg, hostCfg, netCfg, err := d.containerConfig(spec, image)
	if err != nil {
		return nil, err
	}
	name := containerName(spec)
	created, err := cli.ContainerCreate(ctx, cfg, hostCfg, netCfg, nil, name)
	if err != nil {
		return nil, fmt.Errorf("create container %s from image %s: %w", name, image, err)
	}
	c := &containerInstance{cli: cli, id: created.ID, name: name, log: d.log.With("container", name)}
	inst, err := c.start(ctx, spec, hostCfg.NetworkMode.IsHost())
	if err != nil {
		c.remove(context.WithoutCancel(ctx))
		return nil, err
	}
	return inst, nil
}

// containerConfig builds the container for spec from image.
func (d *Driver) containerConfig(spec drivers.Spec, image string) (*container.Config, *container.HostConfig, *network.NetworkingConfig, error) {
	certPEM, keyPEM, err := spec.Authority.ServerCert(spec.Component, "127.0.0.1", "localhost")
	if err != nil {
		return nil, nil, nil, err
	}
	env := drivers.NetworkEnv()
	env = append(env, spec.Env...)
	for k, v := range spec.Options.Env {
		env = append(env, k+"="+v)
	}
	// The key travels in the container's environment: anyone who may
	// inspect the container may also exec into it, so a mounted file would
	// hide nothing more, and the environment works with remote daemons.
	env = append(env,
		wire.EnvTLSCert+"="+string(certPEM),
		wire.EnvTLSKey+"="+string(keyPEM),
		wire.EnvTLSCA+"="+string(spec.Authority.CAPEM()),
	)
	port := nat.Port(strconv.Itoa(drivers.PluginPort) + "/tcp")
	cfg := &container.Config{
		Image:  image,
		Cmd:    spec.Args,
		Env:    env,
		Labels: labels(spec),
	}
	hostCfg := &container.HostConfig{
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyDisabled},
		Resources: container.Resources{
			NanoCPUs: int64(spec.Options.CPU * 1e9),
			Memory:   spec.Options.Memory,
		},
	}
	if spec.Options.Network == string(network.NetworkHost) {
		// No ports to publish: the plugin listens on the host's loopback,
		// on a port found free here.
		free, err := freePort()
		if err != nil {
			return nil, nil, nil, err
		}
		hostCfg.NetworkMode = container.NetworkMode(network.NetworkHost)
		cfg.Env = append(cfg.Env, fmt.Sprintf("%s=127.0.0.1:%d", wire.EnvListen, free))
	} else {
		cfg.ExposedPorts = nat.PortSet{port: {}}
		hostCfg.PortBindings = nat.PortMap{port: {{HostIP: "127.0.0.1", HostPort: ""}}}
		if spec.Options.Network != "" {
			hostCfg.NetworkMode = container.NetworkMode(spec.Options.Network)
		}
	}
	for _, m := range spec.Options.Mounts {
		mt, err := bindMount(spec.Dir, m)
		if err != nil {
			return nil, nil, nil, err
		}
		hostCfg.Mounts = append(hostCfg.Mounts, mt)
	}
	return cfg, hostCfg, nil, nil
}

func labels(spec drivers.Spec) map[string]string {
	return map[string]string{
		drivers.LabelRun:       spec.RunID,
		drivers.LabelOwner:     drivers.OwnerID(),
		drivers.LabelComponent: spec.Component,
		drivers.LabelPipeline:  spec.Pipeline,
	}
}

// bindMount reads "SOURCE:TARGET[:ro|rw]"; a relative SOURCE is relative to
// the pipeline's directory.
func bindMount(dir, s string) (mount.Mount, error) {
	parts := strings.Split(s, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return mount.Mount{}, fmt.Errorf("mount %q: want SOURCE:TARGET or SOURCE:TARGET:ro", s)
	}
	src := parts[0]
	if !filepath.IsAbs(src) {
		abs, err := filepath.Abs(filepath.Join(dir, src))
		if err != nil {
			return mount.Mount{}, err
		}
		src = abs
	}
	return mount.Mount{Type: mount.TypeBind, Source: src, Target: parts[1], ReadOnly: len(parts) == 3 && parts[2] == "ro"}, nil
}

var unsafeName = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)

// containerName is unique per start: a restart creates a new container.
func containerName(spec drivers.Spec) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return "flowctl-" + unsafeName.ReplaceAllString(spec.Pipeline+"-"+spec.Component, "-") + "-" + hex.EncodeToString(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// containerInstance is one plugin container.
type containerInstance struct {
	cli  *client.Client
	id   string
	name string
	log  hclog.Logger

	stopLogs context.CancelFunc
	logsDone chan struct{}
}

// start starts the container and waits until its plugin serves.
func (c *containerInstance) start(ctx context.Context, spec drivers.Spec, hostNet bool) (*drivers.Instance, error) {
	// Wait before starting, so an exit right after start is not missed.
	waitCtx, stopWait := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWait()
	exited, waitErr := c.cli.ContainerWait(waitCtx, c.id, container.WaitConditionNextExit)
	if err := c.cli.ContainerStart(ctx, c.id, container.StartOptions{}); err != nil {
		return nil, fmt.Errorf("start container %s: %w", c.name, err)
	}
	hs := drivers.NewHandshakeWriter(spec.Stdout, spec.Stderr)
	if err := c.followLogs(hs, spec.Stderr); err != nil {
		return nil, err
	}
	timeout := spec.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var line string
	select {
	case line = <-hs.Line():
	case res := <-exited:
		c.waitLogs(time.Second)
		return nil, fmt.Errorf("container %s exited with status %d before the plugin served%s", c.name, res.StatusCode, exitNote(res))
	case err := <-waitErr:
		return nil, fmt.Errorf("watch container %s: %w", c.name, err)
	case <-timer.C:
		return nil, fmt.Errorf("the plugin in container %s did not print its handshake within %s (--start-timeout)", c.name, timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	shake, err := drivers.ParseHandshake(line)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.name, err)
	}
	addr, network := "", "host"
	// Other containers reach the plugin where it listens on their network;
	// local processes and host-network containers at the host's loopback.
	peers := map[string]string{}
	if hostNet {
		_, port, _ := net.SplitHostPort(shake.Addr)
		addr = net.JoinHostPort("127.0.0.1", port)
	} else {
		var ip string
		if addr, network, ip, err = c.addresses(ctx); err != nil {
			return nil, err
		}
		if ip != "" {
			peers[PeerNetwork(network)] = net.JoinHostPort(ip, strconv.Itoa(drivers.PluginPort))
		}
	}
	peers[""], peers[PeerNetwork("host")] = addr, addr
	short := c.id[:12]
	rc, err := drivers.Reattach(shake, addr, &drivers.Attached{Name: c.id, WaitFn: c.wait, KillFn: c.kill})
	if err != nil {
		return nil, err
	}
	c.log.Debug("plugin serving", "address", addr, "protocol", shake.Protocol)
	return &drivers.Instance{
		Reattach: rc,
		TLS:      spec.Authority.ClientTLS(),
		Where:    "container " + short,
		Network:  PeerNetwork(network),
		Peers:    peers,
		Cleanup:  func(ctx context.Context) error { c.remove(ctx); return nil },
	}, nil
}

func exitNote(res container.WaitResponse) string {
	switch {
	case res.Error != nil && res.Error.Message != "":
		return ": " + res.Error.Message
	case res.StatusCode == 137:
		return " (killed: out of memory, or by a signal)"
	}
	return ""
}

// followLogs copies the container's stdout to stdout and stderr to stderr
// until the container is removed.
func (c *containerInstance) followLogs(stdout, stderr io.Writer) error {
	ctx, cancel := context.WithCancel(context.Background())
	rc, err := c.cli.ContainerLogs(ctx, c.id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
	if err != nil {
		cancel()
		return fmt.Errorf("follow the log of container %s: %w", c.name, err)
	}
	if stderr == nil {
		stderr = io.Discard
	}
	c.stopLogs, c.logsDone = cancel, make(chan struct{})
	go func() {
		defer close(c.logsDone)
		defer rc.Close()
		if _, err := stdcopy.StdCopy(stdout, stderr, rc); err != nil && ctx.Err() == nil {
			c.log.Debug("log stream ended", "error", err)
		}
	}()
	return nil
}

// waitLogs gives the log stream up to d to deliver what the container
// wrote before it exited.
func (c *containerInstance) waitLogs(d time.Duration) {
	if c.logsDone == nil {
		return
	}
	select {
	case <-c.logsDone:
	case <-time.After(d):
	}
}

// addresses inspects the running container: where the daemon published
// the plugin's port, the network the container is on, and its address
// there ("" when the daemon gave none).
func (c *containerInstance) addresses(ctx context.Context) (published, network, ip string, err error) {
	info, err := c.cli.ContainerInspect(ctx, c.id)
	if err != nil {
		return "", "", "", fmt.Errorf("inspect container %s: %w", c.name, err)
	}
	port := nat.Port(strconv.Itoa(drivers.PluginPort) + "/tcp")
	network = string(info.HostConfig.NetworkMode)
	if network == "" || network == "default" {
		network = "bridge"
	}
	if info.NetworkSettings != nil {
		for _, b := range info.NetworkSettings.Ports[port] {
			if b.HostPort != "" {
				published = net.JoinHostPort("127.0.0.1", b.HostPort)
			}
		}
		if ep := info.NetworkSettings.Networks[network]; ep != nil {
			ip = ep.IPAddress
		}
	}
	if published == "" {
		return "", "", "", fmt.Errorf("container %s: the daemon published no host port for %s (network %q)", c.name, port, network)
	}
	return published, network, ip, nil
}

// PeerNetwork is the drivers.Instance Network of a container on the Docker
// network named network.
func PeerNetwork(network string) string { return "docker:" + network }

// wait returns when the container is no longer running (or is gone).
func (c *containerInstance) wait(ctx context.Context) error {
	done, errs := c.cli.ContainerWait(ctx, c.id, container.WaitConditionNotRunning)
	select {
	case res := <-done:
		c.log.Debug("container exited", "status", res.StatusCode)
		return nil
	case err := <-errs:
		if cerrdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
}

// kill ends the container at once and removes it.
func (c *containerInstance) kill(ctx context.Context) error {
	c.remove(ctx)
	return nil
}

// remove force-removes the container and stops following its log; it is
// safe to call more than once.
func (c *containerInstance) remove(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	err := c.cli.ContainerRemove(rctx, c.id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	switch {
	case err == nil:
		c.log.Debug("container removed")
	case cerrdefs.IsNotFound(err), strings.Contains(err.Error(), "already in progress"):
	default:
		c.log.Warn("remove container", "error", err)
	}
	c.waitLogs(2 * time.Second)
	if c.stopLogs != nil {
		c.stopLogs()
	}
}

// CleanStale implements drivers.Remote: it removes the containers whose
// host process is gone.
func (d *Driver) CleanStale(ctx context.Context, _ []drivers.Spec) ([]string, error) {
	cli, err := d.client(ctx)
	if err != nil {
		return nil, err
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", drivers.LabelRun))})
	if err != nil {
		return nil, fmt.Errorf("list flowctl containers: %w", err)
	}
	var removed []string
	for _, c := range list {
		if !drivers.OwnerGone(c.Labels[drivers.LabelOwner]) {
			continue
		}
		if err := cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil && !cerrdefs.IsNotFound(err) {
			return removed, fmt.Errorf("remove stale container %s: %w", c.ID[:12], err)
		}
		name := c.ID[:12]
		if len(c.Names) > 0 {
			name = strings.TrimPrefix(c.Names[0], "/")
		}
		removed = append(removed, fmt.Sprintf("container %s (%s of run %s)", name, c.Labels[drivers.LabelComponent], c.Labels[drivers.LabelRun]))
	}
	return removed, nil
}
