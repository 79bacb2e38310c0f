// Package testcluster starts a real Kubernetes control plane for the
// kubernetes driver's acceptance tests: etcd, kube-apiserver and
// kube-scheduler, built from their Go modules by tools/build.sh (pinned in
// tools/go.mod, cached under $CACHE_DIR/k8s), with a kubeconfig that
// authenticates with a static token. Stop ends every process; the caller
// deletes the directory.
//
// Without a node the cluster is the API tier: objects are created, watched,
// scheduled (or not) and deleted, but no Pod runs. StartNode adds the node
// tier, a kubelet on a containerd socket. StartControllerManager adds the
// controllers a Job needs (job, garbage collector, the root CA publisher
// that in-cluster clients read ca.crt from); it is separate so that tests
// that do not need it do not pay for it.
//
// The API server listens on every address (Pods reach it at the node's
// bridge address, PodGateway: there is no kube-proxy) with a serving
// certificate from the cluster's own CA (CAFile) whose names cover that
// address, loopback and the in-cluster names of the kubernetes Service.
package testcluster

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Cluster is a running control plane.
type Cluster struct {
	// Dir holds the data, certificates, logs and Kubeconfig.
	Dir        string
	Kubeconfig string
	// Server is the API server's URL and Token the bearer token of its
	// admin user.
	Server string
	Token  string
	// Bin is the directory of the binaries.
	Bin string
	// CAFile is the CA certificate (PEM) that signed the API server's
	// serving certificate, and Port the API server's port.
	CAFile string
	Port   string

	mu    sync.Mutex
	procs []*proc
	// nodeDir and containerdSock are the node tier's, when it runs.
	nodeDir        string
	containerdSock string
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// BinDir returns the directory of the built binaries, or an error that
// says how to build them.
func BinDir() (string, error) {
	if d := os.Getenv("FLOWCTL_K8S_BIN_DIR"); d != "" {
		return d, nil
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "tools", "build.sh")
	var stderr bytes.Buffer
	cmd := exec.Command(script, "--check")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("the Kubernetes test binaries are not built (%s): run `make k8s-testcluster` (it builds etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kubelet from their Go modules into $CACHE_DIR/k8s, once)", strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Start starts etcd, kube-apiserver and kube-scheduler in dir and waits
// until the API server is ready. Call Stop when done, also after an error.
func Start(ctx context.Context, dir string) (*Cluster, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, Bin: bin, Token: randomHex(16)}
	if err := c.startEtcd(); err != nil {
		return c, err
	}
	if err := c.startAPIServer(ctx); err != nil {
		return c, err
	}
	if _, err := c.start("kube-scheduler", "--kubeconfig="+c.Kubeconfig, "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0"); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) startEtcd() error {
	client, peer := freePort(), freePort()
	_, err := c.start("etcd",
		"--name=default", "--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=http://127.0.0.1:"+client, "--advertise-client-urls=http://127.0.0.1:"+client,
		"--listen-peer-urls=http://127.0.0.1:"+peer, "--initial-advertise-peer-urls=http://127.0.0.1:"+peer,
		"--initial-cluster=default=http://127.0.0.1:"+peer, "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return err
	}
	return waitFor(30*time.Second, "etcd", func() error {
		resp, err := http.Get("http://127.0.0.1:" + client + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}, c.proc("etcd"))
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	etcd := c.proc("etcd").cmd.Args
	var etcdURL string
	for _, a := range etcd {
		if v, ok := strings.CutPrefix(a, "--advertise-client-urls="); ok {
			etcdURL = v
		}
	}
	pki := filepath.Join(c.Dir, "pki")
	if err := os.MkdirAll(pki, 0o700); err != nil {
		return err
	}
	if err := writeServiceAccountKey(pki); err != nil {
		return err
	}
	if err := writeServingCert(pki); err != nil {
		return err
	}
	c.CAFile = filepath.Join(pki, "ca.crt")
	tokens := filepath.Join(pki, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(c.Token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return err
	}
	port := freePort()
	c.Port = port
	c.Server = "https://127.0.0.1:" + port
	_, err := c.start("kube-apiserver",
		"--etcd-servers="+etcdURL,
		// Every address: Pods reach it at PodGateway, which exists only
		// once the node's bridge does.
		"--bind-address=0.0.0.0", "--advertise-address=127.0.0.1", "--secure-port="+port,
		"--tls-cert-file="+filepath.Join(pki, "apiserver.crt"), "--tls-private-key-file="+filepath.Join(pki, "apiserver.key"),
		"--token-auth-file="+tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(pki, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(pki, "sa.key"),
		"--service-cluster-ip-range=10.96.0.0/24",
		"--allow-privileged=true",
		"--endpoint-reconciler-type=none", // no kubernetes Service endpoints for a loopback address
		"--enable-priority-and-fairness=false",
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--v=0")
	if err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, []byte(kubeconfig(c.Server, c.Token, c.CAFile)), 0o600); err != nil {
		return err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second} //nolint:gosec // the test cluster's self-signed certificate on loopback
	return waitFor(90*time.Second, "kube-apiserver", func() error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		req, _ := http.NewRequest(http.MethodGet, c.Server+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
		}
		return nil
	}, c.proc("kube-apiserver"))
}

// kubeconfig authenticates with the token and verifies the server against
// the cluster's CA.
func kubeconfig(server, token, caFile string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: test
  context:
    cluster: test
    user: admin
current-context: test
`, server, caFile, token)
}

// start runs one binary of the cluster, logging to DIR/NAME.log.
func (c *Cluster) start(name string, args ...string) (*proc, error) {
	return c.startPath(name, filepath.Join(c.Bin, name), args...)
}

// startPath runs the program at path as name.
func (c *Cluster) startPath(name, path string, args ...string) (*proc, error) {
	logPath := filepath.Join(c.Dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...) //nolint:gosec // the test's own binaries
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

func (c *Cluster) proc(name string) *proc {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// Stop ends every process, last started first, and waits for them. The
// node's containers are killed between its kubelet and its containerd.
func (c *Cluster) Stop() {
	c.mu.Lock()
	procs := append([]*proc(nil), c.procs...)
	c.procs = nil
	c.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		p := procs[i]
		if p.name == "containerd" {
			c.killTasks()
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	c.stopNode()
}

// killTasks kills and deletes every container of the node's containerd.
func (c *Cluster) killTasks() {
	ctr := func(args ...string) string {
		out, _ := exec.Command("/usr/bin/ctr", append([]string{"-a", c.containerdSock, "-n", "k8s.io"}, args...)...).Output()
		return string(out)
	}
	for _, id := range strings.Fields(ctr("tasks", "ls", "-q")) {
		ctr("tasks", "kill", "-s", "SIGKILL", id)
	}
	time.Sleep(500 * time.Millisecond)
	for _, id := range strings.Fields(ctr("tasks", "ls", "-q")) {
		ctr("tasks", "delete", "-f", id)
	}
	for _, id := range strings.Fields(ctr("containers", "ls", "-q")) {
		ctr("containers", "delete", id)
	}
}

// kubectlGet GETs an API path as the admin user.
func (c *Cluster) kubectlGet(ctx context.Context, path string) ([]byte, error) {
	return c.do(ctx, http.MethodGet, path, "", "")
}

// apiRequest sends body to an API path as the admin user.
func (c *Cluster) apiRequest(ctx context.Context, method, path, contentType, body string) error {
	_, err := c.do(ctx, method, path, contentType, body)
	return err
}

func (c *Cluster) do(ctx context.Context, method, path, contentType, body string) ([]byte, error) {
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 5 * time.Second} //nolint:gosec // loopback test cluster
	req, err := http.NewRequestWithContext(ctx, method, c.Server+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, out)
	}
	return out, err
}

// LogTail returns the last lines of a process's log, for failure messages.
func (c *Cluster) LogTail(name string, lines int) string {
	b, err := os.ReadFile(filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// waitFor polls check until it succeeds, p exits, or timeout passes.
func waitFor(timeout time.Duration, what string, check func() error, p *proc) error {
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return nil
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(p.log)
			return fmt.Errorf("%s exited while starting:\n%s", what, tail(string(b), 30))
		case <-time.After(250 * time.Millisecond):
		}
	}
	b, _ := os.ReadFile(p.log)
	return fmt.Errorf("%s not ready after %s: %w\n%s", what, timeout, err, tail(string(b), 30))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func writeServiceAccountKey(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	return errors.Join(
		os.WriteFile(filepath.Join(dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600),
		os.WriteFile(filepath.Join(dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600),
	)
}

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}
