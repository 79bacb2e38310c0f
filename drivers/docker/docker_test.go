package docker

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/hashicorp/go-hclog"

	"github.com/flowctl/flowctl/drivers"
	"github.com/flowctl/flowctl/proto/wire"
)

func testSpec(t *testing.T) drivers.Spec {
	t.Helper()
	a, err := drivers.NewAuthority("run1")
	if err != nil {
		t.Fatal(err)
	}
	return drivers.Spec{
		Component: "sink.out", Pipeline: "orders", RunID: "run1", Dir: "/pipelines/orders",
		Args: []string{"__plugin", "file"}, Env: []string{"FLOWCTL_LOG_LEVEL=debug"}, Authority: a,
		Options: drivers.Options{Mounts: []string{"./out:/out", "/etc/hosts:/etc/hosts:ro"}, CPU: 1.5, Memory: 64 << 20, Env: map[string]string{"A": "b"}},
	}
}

// TestContainerConfig: the container a component gets, as documented:
// labels, the plugin port published on loopback only, Docker's restart
// policy off, limits, mounts relative to the pipeline, network mode
// environment with the run's certificates.
func TestContainerConfig(t *testing.T) {
	d := New(hclog.NewNullLogger())
	spec := testSpec(t)
	cfg, host, _, err := d.containerConfig(spec, "img:1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Image != "img:1" || !slices.Equal(cfg.Cmd, []string{"__plugin", "file"}) {
		t.Errorf("image %q cmd %q", cfg.Image, cfg.Cmd)
	}
	for k, v := range map[string]string{drivers.LabelRun: "run1", drivers.LabelComponent: "sink.out", drivers.LabelPipeline: "orders", drivers.LabelOwner: drivers.OwnerID()} {
		if cfg.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], v)
		}
	}
	b := host.PortBindings["7777/tcp"]
	if len(b) != 1 || b[0].HostIP != "127.0.0.1" || b[0].HostPort != "" {
		t.Errorf("port bindings %+v, want 7777 on 127.0.0.1, any free port", host.PortBindings)
	}
	if host.RestartPolicy.Name != container.RestartPolicyDisabled {
		t.Errorf("restart policy %q", host.RestartPolicy.Name)
	}
	if host.NanoCPUs != 1_500_000_000 || host.Memory != 64<<20 {
		t.Errorf("limits %d %d", host.NanoCPUs, host.Memory)
	}
	want := []mount.Mount{
		{Type: mount.TypeBind, Source: "/pipelines/orders/out", Target: "/out"},
		{Type: mount.TypeBind, Source: "/etc/hosts", Target: "/etc/hosts", ReadOnly: true},
	}
	if !slices.Equal(host.Mounts, want) {
		t.Errorf("mounts %+v, want %+v", host.Mounts, want)
	}
	env := strings.Join(cfg.Env, "\n")
	for _, kv := range append(drivers.NetworkEnv(), "A=b", "FLOWCTL_LOG_LEVEL=debug", wire.EnvTLSCert+"=-----BEGIN CERTIFICATE", wire.EnvTLSKey+"=-----BEGIN EC PRIVATE KEY", wire.EnvTLSCA+"=-----BEGIN CERTIFICATE") {
		if !strings.Contains(env, kv) {
			t.Errorf("environment lacks %q", kv)
		}
	}

	spec.Options.Network = "host"
	cfg, host, _, err = d.containerConfig(spec, "img:1")
	if err != nil {
		t.Fatal(err)
	}
	if !host.NetworkMode.IsHost() || len(host.PortBindings) != 0 || !strings.Contains(strings.Join(cfg.Env, "\n"), wire.EnvListen+"=127.0.0.1:") {
		t.Errorf("host network: mode %q bindings %v", host.NetworkMode, host.PortBindings)
	}
}

func TestContainerNameIsUniqueAndValid(t *testing.T) {
	spec := drivers.Spec{Pipeline: "my pipeline", Component: "sink.out"}
	a, b := containerName(spec), containerName(spec)
	if a == b || !strings.HasPrefix(a, "flowctl-my-pipeline-sink.out-") || unsafeName.MatchString(a) {
		t.Errorf("names %q %q", a, b)
	}
}

// TestWrapRefusesWhatCannotRunAlone: a dynamically linked binary and a
// file that is not an executable are refused with what to do.
func TestWrapRefusesWhatCannotRunAlone(t *testing.T) {
	dyn := "/bin/sh"
	if err := checkStatic(dyn); err == nil || !strings.Contains(err.Error(), "is dynamically linked, so it cannot run alone in an empty image: build it static (CGO_ENABLED=0 go build)") {
		t.Errorf("%s: %v", dyn, err)
	}
	script := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := checkStatic(script); err == nil || !strings.Contains(err.Error(), "is not a Linux executable") {
		t.Errorf("%s: %v", script, err)
	}
}

func TestBuildContext(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "p")
	if err := os.WriteFile(bin, []byte("\x7fELF..."), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := buildContext(bin)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	got := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(b)
		if h.Name == "plugin" && h.Mode != 0o755 {
			t.Errorf("plugin mode %o", h.Mode)
		}
	}
	if got["Dockerfile"] != wrapDockerfile || got["plugin"] != "\x7fELF..." {
		t.Errorf("context %q", got)
	}
}

func TestBuildResult(t *testing.T) {
	ok := `{"stream":"Step 1/3 : FROM scratch"}` + "\n" + `{"aux":{"ID":"sha256:1"}}` + "\n"
	if err := buildResult(strings.NewReader(ok), "t"); err != nil {
		t.Error(err)
	}
	bad := `{"stream":"Step 1/3"}` + "\n" + `{"errorDetail":{"message":"no space left"},"error":"no space left"}` + "\n"
	if err := buildResult(strings.NewReader(bad), "t"); err == nil || err.Error() != "build image t: no space left" {
		t.Errorf("error %v", err)
	}
}
