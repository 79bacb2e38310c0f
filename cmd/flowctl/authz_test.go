package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flowctl/flowctl/drivers"
	"github.com/flowctl/flowctl/host/controlplane"
	"github.com/flowctl/flowctl/proto/wire"
)

// The control plane's security tests: who may do what, seen from a real
// plugin the host started and from another user of the machine.

// runToken is the write token of the control plane at endpoint, from its
// run file, as a component its owner starts would be given it.
func runToken(t *testing.T, endpoint string) string {
	t.Helper()
	rf, err := controlplane.FindRun(endpoint, "")
	if err != nil {
		t.Fatalf("run file of %s: %v", endpoint, err)
	}
	return rf.Token
}

type probeResult struct {
	Call    string `json:"call"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// TestPluginCredentialConfined runs a real plugin (stamp, mode probe) in a
// pipeline: with what the host put in its environment it tries to list,
// watch, heartbeat, deregister and forge another component, and register,
// heartbeat and deregister itself. Only the last three work, and the
// flowctl token of the environment never reaches it.
func TestPluginCredentialConfined(t *testing.T) {
	w := newWorkspace(t)
	place(t, w.tree, "1.0.0", thisPlatform(), stampBinary(t, "1.0.0", "probe", runtime.GOARCH))
	writeFile(t, filepath.Join(w.dir, "p.hcl"), fmt.Sprintf(`flowctl {
  required_plugins {
    stamp = { source = %q, version = "1.0.0" }
  }
}
source "generator" "ticks" {
  rate = 50
}
processor "stamp" "probe" {
  inputs       = [source.ticks]
  probe_victim = "source.ticks"
}
sink "file" "out" {
  inputs = [processor.probe]
  path   = "out.jsonl"
}
`, stampAddr))
	if r := w.run(t, "plugins", "lock", "p.hcl"); r.code != 0 {
		t.Fatalf("plugins lock: exit %d\n%s", r.code, r.stderr)
	}
	// An operator's token in flowctl's environment is the run's write
	// token; the plugin must get its own credential instead.
	env := append(append([]string{}, w.env...), "FLOWCTL_TOKEN=operator-secret-token")
	p := startFlowctlCP(t, w.dir, env, "apply", "p.hcl")
	ep := p.waitFor(controlPlaneRE)
	var got struct {
		Endpoint       string        `json:"endpoint"`
		Component      string        `json:"component"`
		CredentialForm bool          `json:"credential_form"`
		Results        []probeResult `json:"results"`
	}
	cpEventually(t, 30*time.Second, func() string {
		b, err := os.ReadFile(filepath.Join(w.dir, "probe.json"))
		if err != nil {
			return "no probe.json yet: " + err.Error()
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		return ""
	})
	if got.Endpoint != ep || got.Component != "processor.probe" || !got.CredentialForm {
		t.Errorf("the plugin was given endpoint %q, component %q, a plugin credential: %v; want %s, processor.probe, true",
			got.Endpoint, got.Component, got.CredentialForm, ep)
	}
	want := map[string]string{
		"list": "PermissionDenied", "watch": "PermissionDenied",
		"heartbeat other": "PermissionDenied", "deregister other": "PermissionDenied",
		"register other": "PermissionDenied", "register new": "PermissionDenied",
		"register self": "OK", "heartbeat self": "OK", "deregister self": "OK",
	}
	if len(got.Results) != len(want) {
		t.Fatalf("probe made %d calls, want %d: %+v", len(got.Results), len(want), got.Results)
	}
	for _, r := range got.Results {
		if r.Code != want[r.Call] {
			t.Errorf("plugin's %s: %s %q, want %s", r.Call, r.Code, r.Message, want[r.Call])
		}
		if r.Code == "PermissionDenied" && !strings.Contains(r.Message, "plugin credential of processor.probe may") {
			t.Errorf("plugin's %s refused with %q, which does not say why", r.Call, r.Message)
		}
	}
	// The victim is untouched, the plugin's own calls took effect, and the
	// operator's token in flowctl's environment is the run's write token.
	cpEventually(t, 10*time.Second, func() string {
		svcs := listJSONToken(t, ep, "operator-secret-token")
		states := map[string]string{}
		for _, s := range svcs {
			states[s.ID] = s.State + " " + s.Message
		}
		if !strings.HasPrefix(states["source.ticks"], "HEALTHY") || states["processor.probe"] != "STOPPED probe done" {
			return fmt.Sprintf("want source.ticks HEALTHY and processor.probe STOPPED by itself: %v", states)
		}
		if _, forged := states["forged.new"]; forged {
			t.Fatalf("the plugin registered forged.new")
		}
		return ""
	})
	if code := p.interrupt(); code != exitInterrupted {
		t.Fatalf("apply exited %d:\n%s", code, p.stderr.String())
	}
}

func listJSONToken(t *testing.T, endpoint, token string) []cpService {
	t.Helper()
	r := flowctl(t, ".", "list", "--endpoint", endpoint, "--token", token, "-o", "json")
	if r.code != 0 {
		t.Fatalf("list exited %d: %s", r.code, r.stderr)
	}
	var out struct {
		Services []cpService `json:"services"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, r.stdout)
	}
	return out.Services
}

// asNobody runs bin as uid/gid 65534 with setpriv, in /, with the test's
// environment minus any flowctl token; it skips the test when the machine
// cannot.
func asNobody(t *testing.T, bin string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--", bin}, args...)...)
	cmd.Dir = "/"
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, wire.EnvToken+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output()
	r := result{stdout: string(out)}
	if ee, ok := err.(*exec.ExitError); ok { //nolint:errorlint // Output returns it unwrapped
		r.code, r.stderr = ee.ExitCode(), string(ee.Stderr)
	} else if err != nil {
		t.Fatalf("setpriv %s: %v", bin, err)
	}
	return r
}

// publicCopy copies bin where another user can run it.
func publicCopy(t *testing.T, dir, bin string) string {
	t.Helper()
	dst := filepath.Join(dir, filepath.Base(bin))
	copyFile(t, bin, dst, 0o755)
	return dst
}

// TestControlPlaneRefusesOtherUser: another user of the machine, on
// loopback, can neither read the run's token nor list, deregister, forge
// or heartbeat for its components, with the CLI or with raw gRPC.
func TestControlPlaneRefusesOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run a client as another user (uid 65534) with setpriv")
	}
	if err := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", "true").Run(); err != nil {
		t.Skipf("cannot run a process as uid 65534 with setpriv: %v", err)
	}
	pub, err := os.MkdirTemp("", "flowctl-authz-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	flowctlPub := publicCopy(t, pub, flowctlBin)
	probePub := publicCopy(t, pub, stampBinary(t, "1.0.0", "probe", runtime.GOARCH))

	// The pipeline's directory is open to all; the state directory (and
	// the run file in it) is what protects the token.
	dir := filepath.Join(pub, "work")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "p.hcl"), `
source "generator" "ticks" {
  rate = 100
}
sink "file" "out" {
  inputs = [source.ticks]
  path   = "out.jsonl"
}`)
	p := startFlowctlCP(t, dir, nil, "apply", "p.hcl")
	ep := p.waitFor(controlPlaneRE)
	healthy := func() string {
		svcs := listJSON(t, ep) // as root: the token comes from the run file
		if len(svcs) != 2 || svcs[0].State != "HEALTHY" || svcs[1].State != "HEALTHY" {
			return fmt.Sprintf("want source.ticks and sink.out HEALTHY: %+v", svcs)
		}
		return ""
	}
	cpEventually(t, 30*time.Second, healthy)

	stateDir := filepath.Join(dir, ".flowctl", "state", "p")
	runFile := filepath.Join(stateDir, controlplane.RunFileName)
	for path, want := range map[string]os.FileMode{stateDir: 0o700 | os.ModeDir, runFile: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v, %v; want mode %s", path, fi.Mode(), err, want)
		}
	}

	r := asNobody(t, flowctlPub, "list", "--endpoint", ep)
	if r.code != 1 || !strings.Contains(r.stderr, "refused the call: this control plane requires a bearer token") {
		t.Errorf("list as another user exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = asNobody(t, flowctlPub, "status", "--state-dir", stateDir)
	if r.code == 0 || !strings.Contains(r.stderr, "permission denied") || strings.Contains(r.stdout, "source.ticks") {
		t.Errorf("status --state-dir as another user exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = asNobody(t, probePub, "probe", ep, "source.ticks")
	var res []probeResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || len(res) != 6 {
		t.Fatalf("probe as another user: %v, %d results:\n%s%s", err, len(res), r.stdout, r.stderr)
	}
	for _, c := range res {
		if c.Code != "Unauthenticated" {
			t.Errorf("another user's %s: %s %q, want Unauthenticated", c.Call, c.Code, c.Message)
		}
	}
	// Nothing changed: both components are still HEALTHY, none forged.
	if why := healthy(); why != "" {
		t.Error(why)
	}
	if code := p.interrupt(); code != exitInterrupted {
		t.Fatalf("apply exited %d:\n%s", code, p.stderr.String())
	}
	if _, err := os.Stat(runFile); !os.IsNotExist(err) {
		t.Errorf("the run file outlived its run: %v", err)
	}
}

// TestServerBeyondLoopbackNeedsClientAuth: TLS alone is not enough beyond
// loopback: without tokens and without client certificates the server
// does not start; with a token (the default) it does.
func TestServerBeyondLoopbackNeedsClientAuth(t *testing.T) {
	dir := t.TempDir()
	auth, err := drivers.NewAuthority("authz-test")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := auth.ServerCert("controlplane", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeFile(t, cert, string(certPEM))
	writeFile(t, key, string(keyPEM))
	r := flowctl(t, dir, "server", "--address", "0.0.0.0", "--no-persistence", "--state-dir", dir,
		"--tls-cert", cert, "--tls-key", key, "--no-token")
	if r.code != exitUsage || !strings.Contains(r.stderr, "Error: refusing to serve a control plane that authenticates no caller: 0.0.0.0:0 would accept any caller") {
		t.Errorf("TLS-only server beyond loopback exited %d:\n%s", r.code, r.stderr)
	}
	srv := startFlowctlCP(t, dir, nil, "server", "--address", "0.0.0.0", "--no-persistence", "--state-dir", dir, "--tls-cert", cert, "--tls-key", key)
	srv.waitFor(`listening on (\S+:\d+) \(run`)
	if !strings.Contains(srv.stderr.String(), "Tokens (write and read) are in "+filepath.Join(dir, controlplane.RunFileName)) {
		t.Errorf("the server does not say where its tokens are:\n%s", srv.stderr.String())
	}
	srv.interrupt()
}

// TestMetricsBeyondLoopback: /metrics and /healthz, which have no
// authentication, are served beyond loopback only when asked, with a
// warning.
func TestMetricsBeyondLoopback(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), idleAfter(1))
	r := flowctl(t, dir, "apply", "--metrics-address", "0.0.0.0:0", "p.hcl")
	if r.code != exitUsage || !strings.Contains(r.stderr, "refusing to serve /metrics and /healthz on 0.0.0.0:0, beyond loopback") {
		t.Errorf("metrics on 0.0.0.0 exited %d:\n%s", r.code, r.stderr)
	}
	p := startFlowctlCP(t, dir, nil, "apply", "--metrics-address", "0.0.0.0:0", "--metrics-allow-remote", "p.hcl")
	p.waitFor(`Metrics: http://(\S+)/metrics`)
	if !strings.Contains(p.stderr.String(), "[WARN]  flowctl: /metrics and /healthz are served beyond loopback without authentication (--metrics-allow-remote)") {
		t.Errorf("no warning for remote metrics:\n%s", p.stderr.String())
	}
	p.interrupt()
}

// TestStatusFindsRun: with no --endpoint, status and list find the run's
// control plane (any free port) and token through its run file.
func TestStatusFindsRun(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), idleAfter(10))
	p := startFlowctlCP(t, dir, nil, "apply", "p.hcl")
	ep := p.waitFor(controlPlaneRE)
	cpEventually(t, 30*time.Second, func() string {
		r := flowctl(t, dir, "status")
		if r.code != 0 || !strings.Contains(r.stdout, `pipeline "p"`) || !strings.Contains(r.stdout, "sink.out") {
			return fmt.Sprintf("status in the pipeline's directory exited %d:\n%s%s", r.code, r.stdout, r.stderr)
		}
		return ""
	})
	state := filepath.Join(dir, ".flowctl", "state", "p")
	if r := flowctl(t, ".", "list", "--state-dir", state); r.code != 0 || !strings.Contains(r.stdout, "source.fast") {
		t.Errorf("list --state-dir exited %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The read token it uses cannot change anything; the write token can.
	rf, err := controlplane.FindRun(ep, "")
	if err != nil || rf.Token == "" || rf.ReadToken == "" || rf.Token == rf.ReadToken {
		t.Fatalf("run file: %+v, %v", rf, err)
	}
	p.interrupt()
	if r := flowctl(t, dir, "status"); r.code != 1 || !strings.Contains(r.stderr, "no running flowctl control plane found") {
		t.Errorf("status after the run exited %d:\n%s", r.code, r.stderr)
	}
}

// TestDefaultPortLeavesUserServicesAlone (issue 17): apply's control plane
// takes a free port, so a pipeline whose http source wants 127.0.0.1:8080
// (examples/webhook-relay's default) gets it.
func TestDefaultPortLeavesUserServicesAlone(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:8080")
	if err != nil {
		t.Skipf("127.0.0.1:8080 is taken on this machine: %v", err)
	}
	l.Close()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "p.hcl"), `
source "http" "in" {
  address = "127.0.0.1:8080"
  path    = "/events"
}
sink "file" "out" {
  inputs = [source.in]
  path   = "out.jsonl"
}`)
	p := startFlowctlCP(t, dir, nil, "apply", "p.hcl")
	ep := p.waitFor(controlPlaneRE)
	if ep == "127.0.0.1:8080" {
		t.Fatalf("the control plane took 127.0.0.1:8080")
	}
	var resp *http.Response
	cpEventually(t, 30*time.Second, func() string {
		resp, err = http.Post("http://127.0.0.1:8080/events", "application/json", strings.NewReader(`{"id":"e1","type":"t"}`))
		if err != nil {
			return err.Error()
		}
		return ""
	})
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST to the http source: %s", resp.Status)
	}
	p.interrupt()
	if b, err := os.ReadFile(filepath.Join(dir, "out.jsonl")); err != nil || !strings.Contains(string(b), `"e1"`) {
		t.Errorf("out.jsonl: %q, %v", b, err)
	}
}
