package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/flowctl/flowctl/drivers"
	"github.com/flowctl/flowctl/host/supervisor"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// netProcess starts a built-in plugin as a local process in network mode,
// the way the docker and kubernetes drivers start it in a container: no
// go-plugin parent, a TCP port with mutual TLS, the handshake line on
// stdout, and go-plugin's reattach. It shows network mode works without
// any engine.
type netProcess struct {
	healthAddr string
	extraEnv   []string
}

func (netProcess) Name() string { return "netprocess" }

func (d netProcess) Prepare(ctx context.Context, spec drivers.Spec) (*drivers.Instance, error) {
	certPEM, keyPEM, err := spec.Authority.ServerCert(spec.Component, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(flowctlBin, spec.Args...)
	cmd.Env = append(os.Environ(), drivers.NetworkEnv()...)
	cmd.Env = append(cmd.Env, d.extraEnv...)
	cmd.Env = append(cmd.Env,
		wire.EnvListen+"=127.0.0.1:0",
		wire.EnvHealthListen+"="+d.healthAddr,
		wire.EnvTLSCert+"="+string(certPEM),
		wire.EnvTLSKey+"="+string(keyPEM),
		wire.EnvTLSCA+"="+string(spec.Authority.CAPEM()),
	)
	hs := drivers.NewHandshakeWriter(spec.Stdout, spec.Stderr)
	cmd.Stdout, cmd.Stderr = hs, spec.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	kill := func(context.Context) error { _ = cmd.Process.Kill(); return nil }
	var line string
	select {
	case line = <-hs.Line():
	case err := <-exited:
		return nil, fmt.Errorf("plugin exited before its handshake: %v", err)
	case <-time.After(10 * time.Second):
		_ = kill(ctx)
		return nil, errors.New("no handshake")
	}
	shake, err := drivers.ParseHandshake(line)
	if err != nil {
		_ = kill(ctx)
		return nil, err
	}
	done := make(chan struct{})
	go func() { <-exited; close(done) }()
	rc, err := drivers.Reattach(shake, shake.Addr, &drivers.Attached{
		Name:   fmt.Sprintf("pid %d", cmd.Process.Pid),
		WaitFn: func(context.Context) error { <-done; return nil },
		KillFn: kill,
	})
	if err != nil {
		return nil, err
	}
	return &drivers.Instance{Reattach: rc, TLS: spec.Authority.ClientTLS(), Where: fmt.Sprintf("network pid %d", cmd.Process.Pid),
		Cleanup: func(context.Context) error { _ = cmd.Process.Kill(); <-done; return nil }}, nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestNetworkModeReattach starts a plugin in network mode and drives it
// through the supervisor: reattach over mutual TLS, the negotiated
// protocol, the schema check, configure, health (gRPC and HTTP), stop.
func TestNetworkModeReattach(t *testing.T) {
	authority, err := drivers.NewAuthority("test")
	if err != nil {
		t.Fatal(err)
	}
	health := freeAddr(t)
	spec := drivers.Spec{Component: "sink.out", Args: []string{builtinCommand, "discard"}, Authority: authority}
	inst, err := supervisor.Start(t.Context(), netProcess{healthAddr: health}, spec, supervisor.Options{Logger: hclog.NewNullLogger(), StartTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if inst.Protocol != wire.ProtocolVersions[len(wire.ProtocolVersions)-1] {
		t.Errorf("negotiated protocol %d", inst.Protocol)
	}
	if !strings.HasPrefix(inst.Location(), "network pid ") {
		t.Errorf("Location() = %q", inst.Location())
	}
	schema, err := inst.Schema(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if schema.GetName() != "discard" || schema.GetVersion() != version {
		t.Errorf("schema %s %s", schema.GetName(), schema.GetVersion())
	}
	diags, err := inst.Configure(t.Context(), flowctlv1.Kind_KIND_SINK, "discard", []byte(`{}`))
	if err != nil || len(diags) > 0 {
		t.Fatalf("configure: %v %v", diags, err)
	}
	resp, err := http.Get("http://" + health + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz: %d", resp.StatusCode)
	}

	// A client whose certificate another run's CA signed is refused.
	other, _ := drivers.NewAuthority("other")
	addr := inst.RemoteAddr()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(other.ClientTLS())))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	_, err = flowctlv1.NewPluginClient(conn).GetSchema(ctx, &flowctlv1.GetSchemaRequest{})
	cancel()
	conn.Close()
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("a stranger's client reached the plugin: %v", err)
	}

	stopCtx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	inst.Stop(stopCtx)
	if !inst.Exited() {
		t.Error("the plugin did not exit after Stop")
	}
}

// TestNetworkModeNeedsCookieAndTLS: started by hand in network mode, a
// plugin explains what it is; without certificates it refuses to serve.
func TestNetworkModeNeedsCookieAndTLS(t *testing.T) {
	r := flowctlEnv(t, t.TempDir(), []string{wire.EnvListen + "=127.0.0.1:0"}, builtinCommand, "generator")
	if r.code != 1 || !strings.Contains(r.stderr, "This binary is a plugin") || !strings.Contains(r.stderr, "without flowctl's magic cookie") {
		t.Errorf("without the cookie: exit %d\n%s", r.code, r.stderr)
	}
	r = flowctlEnv(t, t.TempDir(), append(drivers.NetworkEnv(), wire.EnvListen+"=127.0.0.1:0"), builtinCommand, "generator")
	if r.code != 1 || !strings.Contains(r.stderr, "network mode needs the TLS material the host issues") ||
		!strings.Contains(r.stderr, "neither FLOWCTL_PLUGIN_TLS_CERT nor FLOWCTL_PLUGIN_TLS_DIR is set") {
		t.Errorf("without TLS: exit %d\n%s", r.code, r.stderr)
	}
}
