package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The node tier: a containerd with its CRI plugin (Debian's containerd, the
// one docker.io brings, run as a second instance with its own socket, root
// and state here) and a kubelet on it, registered with the cluster. Images
// cannot be pulled, so they are imported with ctr, and Pods use
// imagePullPolicy Never; the sandbox image is a FROM scratch image of the
// pause command in ./pause. Pods get addresses from a bridge this node
// creates (CNI plugins from Debian's containernetworking-plugins).

// NodeName is the test node's name.
const NodeName = "flowctl-test-node"

// cniBridge is the bridge the node's Pods are attached to.
const cniBridge = "flowctl-cni0"

// podSubnet is the Pods' address range; the bridge takes its first
// address, PodGateway, which is also where Pods reach the machine (and so
// the API server: there is no kube-proxy for the kubernetes Service).
const (
	podSubnet  = "10.88.0.0/24"
	PodGateway = "10.88.0.1"
)

// NodeOptions configure StartNode.
type NodeOptions struct {
	// Images are `docker save` tarballs to import into the node.
	Images []string
	// PauseImage is the sandbox image's reference; it must be in Images.
	PauseImage string
}

// nodeTools are what the node needs from the machine, with the Debian
// package that brings each.
var nodeTools = []struct{ path, pkg string }{
	{"/usr/bin/containerd", "containerd"},
	{"/usr/bin/ctr", "containerd"},
	{"/usr/sbin/runc", "runc"},
	{"/usr/lib/cni/bridge", "containernetworking-plugins"},
	{"/usr/lib/cni/host-local", "containernetworking-plugins"},
	{"/usr/lib/cni/loopback", "containernetworking-plugins"},
	// Docker sets the FORWARD policy to DROP and has bridged traffic go
	// through iptables: without this plugin's ACCEPT rules for each Pod,
	// Pods could not reach each other (the data plane sends Pod to Pod).
	{"/usr/lib/cni/firewall", "containernetworking-plugins"},
}

// NodePrerequisites returns what is missing to run a node here, or nil.
func NodePrerequisites() error {
	var missing []string
	for _, t := range nodeTools {
		if _, err := os.Stat(t.path); err != nil {
			missing = append(missing, fmt.Sprintf("%s (Debian package %s)", t.path, t.pkg))
		}
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (a kubelet and containerd run as root)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("the test node needs %s", strings.Join(missing, ", "))
	}
	return nil
}

// StartNode starts containerd and a kubelet and waits until the node is
// Ready. Stop stops them and removes what they left (containers, mounts,
// the bridge).
func (c *Cluster) StartNode(ctx context.Context, opts NodeOptions) error {
	if err := NodePrerequisites(); err != nil {
		return err
	}
	dir := filepath.Join(c.Dir, "node")
	c.nodeDir = dir
	for _, d := range []string{"containerd", "cni", "cni-ipam", "kubelet"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	sock := filepath.Join(dir, "containerd", "containerd.sock")
	c.containerdSock = sock
	cfg := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[debug]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # Root here lacks CAP_SYS_RESOURCE, so no container may get a lower OOM
  # score adjustment than containerd's own (runc fails otherwise).
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, filepath.Join(dir, "containerd", "root"), filepath.Join(dir, "containerd", "state"), sock, sock+".debug", opts.PauseImage, filepath.Join(dir, "cni"))
	cfgPath := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	cni := fmt.Sprintf(`{"cniVersion": "0.4.0", "name": "flowctl-test", "plugins": [
  {"type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": %q, "gateway": %q}]], "dataDir": %q}},
  {"type": "firewall", "backend": "iptables"}
]}`, cniBridge, podSubnet, PodGateway, filepath.Join(dir, "cni-ipam"))
	if err := os.WriteFile(filepath.Join(dir, "cni", "10-flowctl.conflist"), []byte(cni), 0o600); err != nil {
		return err
	}
	if _, err := c.startPath("containerd", "/usr/bin/containerd", "--config", cfgPath); err != nil {
		return err
	}
	if err := waitFor(30*time.Second, "containerd", func() error {
		return exec.Command("/usr/bin/ctr", "-a", sock, "version").Run()
	}, c.proc("containerd")); err != nil {
		return err
	}
	for _, img := range opts.Images {
		if out, err := exec.CommandContext(ctx, "/usr/bin/ctr", "-a", sock, "-n", "k8s.io", "images", "import", img).CombinedOutput(); err != nil {
			return fmt.Errorf("import %s into the node: %w\n%s", img, err, out)
		}
	}
	port := freePort()
	kcfg := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://%s
port: %s
healthzPort: 0
readOnlyPort: 0
serializeImagePulls: false
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, sock, port)
	kcfgPath := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(kcfgPath, []byte(kcfg), 0o600); err != nil {
		return err
	}
	if _, err := c.start("kubelet", "--config="+kcfgPath, "--kubeconfig="+c.Kubeconfig, "--root-dir="+filepath.Join(dir, "kubelet"),
		"--cert-dir="+filepath.Join(dir, "kubelet", "pki"), "--hostname-override="+NodeName, "--v=1"); err != nil {
		return err
	}
	if err := waitFor(120*time.Second, "kubelet (node Ready)", func() error { return c.nodeReady(ctx) }, c.proc("kubelet")); err != nil {
		return err
	}
	// The kubelet registers its node with the not-ready taint; the node
	// lifecycle controller of kube-controller-manager, which this cluster
	// does not run (StartControllerManager leaves it off), lifts it once
	// the node is Ready. Do what it would.
	return c.apiRequest(ctx, http.MethodPatch, "/api/v1/nodes/"+NodeName, "application/merge-patch+json", `{"spec":{"taints":null}}`)
}

// nodeReady asks the API server whether the node is Ready.
func (c *Cluster) nodeReady(ctx context.Context) error {
	out, err := c.kubectlGet(ctx, "/api/v1/nodes/"+NodeName)
	if err != nil {
		return err
	}
	if !bytes.Contains(out, []byte(`"type":"Ready","status":"True"`)) {
		return errors.New("node not Ready yet")
	}
	return nil
}

// stopNode removes what the node leaves behind once its processes ended:
// shims and their containers, mounts under its directory, the bridge.
func (c *Cluster) stopNode() {
	if c.nodeDir == "" {
		return
	}
	// containerd's shims outlive it; they are the ones started for its
	// socket.
	if out, err := exec.Command("pgrep", "-f", "containerd-shim.*"+c.containerdSock).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/mounts"); err == nil {
		var mounts []string
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], c.nodeDir) {
				mounts = append(mounts, f[1])
			}
		}
		for i := len(mounts) - 1; i >= 0; i-- {
			_ = syscall.Unmount(mounts[i], syscall.MNT_DETACH)
		}
	}
	_ = exec.Command("ip", "link", "del", cniBridge).Run()
}
