package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// startExternalPlugin starts the generator plugin the way a program other
// than flowctl would (its own go-plugin handshake), with FLOWCTL_ENDPOINT
// pointing at a control plane (and the token its owner would give it), and
// connects to it.
func startExternalPlugin(t *testing.T, endpoint, id string) (*exec.Cmd, *grpc.ClientConn) {
	t.Helper()
	cmd := exec.Command(flowctlBin, builtinCommand, "generator")
	cmd.Env = append(os.Environ(),
		wire.MagicCookieKey+"="+wire.MagicCookieValue, "PLUGIN_PROTOCOL_VERSIONS=1",
		wire.EnvEndpoint+"="+endpoint, wire.EnvComponentID+"="+id, wire.EnvLogLevel+"=debug",
		wire.EnvToken+"="+runToken(t, endpoint))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &cpSyncBuf{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGCONT)
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("external plugin's log:\n%s", stderr.String())
		}
	})
	// go-plugin's handshake line: core|app|network|address|protocol.
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("plugin handshake: %v\n%s", err, stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	f := strings.Split(strings.TrimSpace(line), "|")
	if len(f) < 5 || f[2] != "unix" {
		t.Fatalf("unexpected handshake %q", line)
	}
	conn, err := grpc.NewClient("unix:"+f[3], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return cmd, conn
}

// readAllEvents configures the generator for n events and reads them all through
// its source stream, acking each batch, as a host would.
func readAllEvents(t *testing.T, conn *grpc.ClientConn, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := flowctlv1.NewPluginClient(conn).Configure(ctx, &flowctlv1.ConfigureRequest{
		Kind: flowctlv1.Kind_KIND_SOURCE, Component: "generator", Address: "source.external",
		ConfigJson: fmt.Appendf(nil, `{"count": %d, "rate": 0, "payload_size": 100, "type": "t", "id_prefix": "", "realtime": false}`, n),
	})
	if err != nil || len(resp.GetDiagnostics()) > 0 {
		t.Fatalf("configure: %v %v", err, resp.GetDiagnostics())
	}
	s, err := flowctlv1.NewSourceClient(conn).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Open{Open: &flowctlv1.SourceOpen{Credits: 4, MaxBatchEvents: 50}}}); err != nil {
		t.Fatal(err)
	}
	got := 0
	for {
		m, err := s.Recv()
		if err != nil {
			t.Fatalf("source stream after %d events: %v", got, err)
		}
		if m.GetEnd() != nil {
			break
		}
		b := m.GetBatch()
		got += int(b.GetBatch().GetCount())
		if err := s.Send(&flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Ack{Ack: &flowctlv1.SourceAck{Position: b.GetPosition(), Credits: 1}}}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.CloseSend()
	if got != n {
		t.Fatalf("read %d events, want %d", got, n)
	}
}

// TestExternalComponentHeartbeats: a plugin process that flowctl did not
// start registers itself with a standalone control plane, its heartbeats
// carry its metrics, and when it stops sending them (SIGSTOP) it is
// UNHEALTHY once the TTL has passed, and HEALTHY again when it resumes.
func TestExternalComponentHeartbeats(t *testing.T) {
	const ttl = 1500 * time.Millisecond
	srv := startFlowctlCP(t, t.TempDir(), nil, "server", "--port", "0", "--no-persistence",
		"--heartbeat-ttl", ttl.String(), "--janitor-interval", "100ms")
	ep := srv.waitFor(`listening on (127\.0\.0\.1:\d+)`)

	plugin, conn := startExternalPlugin(t, ep, "external.generator")
	stateOf := func() cpService {
		for _, s := range listJSON(t, ep) {
			if s.ID == "external.generator" {
				return s
			}
		}
		return cpService{}
	}
	cpEventually(t, 10*time.Second, func() string {
		if s := stateOf(); s.State != "HEALTHY" {
			return fmt.Sprintf("external component not healthy: %+v", s)
		}
		return ""
	})
	readAllEvents(t, conn, 500)
	cpEventually(t, 10*time.Second, func() string {
		if s := stateOf(); s.Metrics["events_emitted"] != 500 || s.Managed {
			return fmt.Sprintf("heartbeat metrics do not show 500 emitted events: %+v", s)
		}
		return ""
	})

	if err := plugin.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	cpEventually(t, 10*time.Second, func() string {
		if s := stateOf(); s.State != "UNHEALTHY" {
			return fmt.Sprintf("silent component is %s", s.State)
		}
		return ""
	})
	if waited := time.Since(stopped); waited < ttl-ttl/3 {
		// The last heartbeat came at most a third of the TTL before SIGSTOP.
		t.Errorf("marked UNHEALTHY %s after its heartbeats stopped, before the TTL (%s)", waited, ttl)
	}
	if s := stateOf(); !strings.HasPrefix(s.Message, "no heartbeat for ") || !strings.HasSuffix(s.Message, "(TTL 1.5s)") {
		t.Errorf("message %q does not say why", s.Message)
	}
	// The server logged the change.
	srv.waitFor(`component state changed: id=external.generator from=(HEALTHY|DEGRADED) to=UNHEALTHY`)

	if err := plugin.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	cpEventually(t, 10*time.Second, func() string {
		if s := stateOf(); s.State != "HEALTHY" {
			return fmt.Sprintf("resumed component is %s", s.State)
		}
		return ""
	})
	// Terminated by its orchestrator, it deregisters on its way out.
	if err := plugin.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	cpEventually(t, ttl/2, func() string {
		if s := stateOf(); s.State != "STOPPED" || s.Message != "plugin stopped" {
			return fmt.Sprintf("terminated component is %s (%s)", s.State, s.Message)
		}
		return ""
	})
	srv.interrupt()
}
