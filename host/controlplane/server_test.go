package controlplane

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/host/health"
	"github.com/flowctl/flowctl/host/registry"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve starts a control plane on a free loopback port; it stops with the
// test.
func serve(t *testing.T, opts Options, policy health.Policy) *Server {
	t.Helper()
	reg, err := registry.Open(registry.NewMemory(), registry.Options{Policy: policy, Pipeline: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Address == "" {
		opts.Address = "127.0.0.1:0"
	}
	s, err := Listen(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(t.Context())
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func dial(t *testing.T, opts ClientOptions) *Client {
	t.Helper()
	c, err := Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestAPI drives every call of the service over real gRPC, in each
// security setting, and checks what a client sees.
func TestAPI(t *testing.T) {
	ca := newTestCA(t, "flowctl-test")
	srvCert, srvKey := ca.issue("server", true)
	cliCert, cliKey := ca.issue("client", false)
	tests := []struct {
		name   string
		server Options
		client ClientOptions
	}{
		{"plaintext", Options{}, ClientOptions{}},
		{"token", Options{Token: "s3cret"}, ClientOptions{Token: "s3cret"}},
		{"TLS", Options{TLS: TLSFiles{Cert: srvCert, Key: srvKey}}, ClientOptions{TLS: TLSFiles{CA: ca.CertFile}}},
		{"mutual TLS and token", Options{TLS: TLSFiles{Cert: srvCert, Key: srvKey, ClientCA: ca.CertFile}, Token: "s3cret"},
			ClientOptions{Token: "s3cret", TLS: TLSFiles{CA: ca.CertFile, Cert: cliCert, Key: cliKey}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := serve(t, tt.server, health.Policy{TTL: time.Minute})
			tt.client.Endpoint = s.Addr()
			if tt.client.Token == "" {
				tt.client.Token = s.Token() // generated: every control plane has one
			}
			exerciseAPI(t, dial(t, tt.client), s.Registry().RunID())
		})
	}
}

func exerciseAPI(t *testing.T, c *Client, runID string) {
	ctx := ctxT(t)
	watch, err := c.WatchServices(ctx, &flowctlv1.WatchServicesRequest{})
	if err != nil {
		t.Fatal(c.Explain(err))
	}
	if _, err := watch.Header(); err != nil {
		t.Fatal(c.Explain(err))
	}
	reg, err := c.Register(ctx, &flowctlv1.RegisterRequest{
		Id: "ext.kafka", Kind: flowctlv1.Kind_KIND_SOURCE, Plugin: "acme/kafka", Version: "1.4.0",
		Endpoint: "10.0.0.7:9000", Metadata: map[string]string{"zone": "a"},
	})
	if err != nil {
		t.Fatal(c.Explain(err))
	}
	if reg.GetRunId() != runID || reg.GetService().GetState() != flowctlv1.ServiceState_SERVICE_STATE_STARTING {
		t.Fatalf("Register = run %s state %s, want run %s STARTING", reg.GetRunId(), reg.GetService().GetState(), runID)
	}
	if got := time.Duration(reg.GetHeartbeatIntervalNanos()); got != 20*time.Second {
		t.Errorf("heartbeat interval %s, want 20s (a third of the TTL)", got)
	}
	hb, err := c.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: "ext.kafka", RunId: runID, Metrics: map[string]float64{"lag": 12}})
	if err != nil || hb.GetState() != flowctlv1.ServiceState_SERVICE_STATE_HEALTHY {
		t.Fatalf("Heartbeat = %v, %v; want HEALTHY", hb.GetState(), err)
	}
	hb, err = c.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: "ext.kafka", RunId: runID, Status: flowctlv1.HeartbeatStatus_HEARTBEAT_STATUS_DEGRADED, Message: "rebalancing"})
	if err != nil || hb.GetState() != flowctlv1.ServiceState_SERVICE_STATE_DEGRADED {
		t.Fatalf("degraded Heartbeat = %v, %v; want DEGRADED", hb.GetState(), err)
	}
	_, err = c.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: "nobody", RunId: runID})
	if status.Code(err) != codes.NotFound {
		t.Errorf("heartbeat of an unknown id: %v, want NotFound", err)
	}
	_, err = c.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: "ext.kafka", RunId: "20200101T000000Z-000000"})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "run 20200101T000000Z-000000 is over") {
		t.Errorf("heartbeat naming an old run: %v, want NotFound saying the run is over", err)
	}

	svc, err := c.GetServiceStatus(ctx, &flowctlv1.GetServiceStatusRequest{Id: "ext.kafka"})
	if err != nil {
		t.Fatal(err)
	}
	if svc.GetState() != flowctlv1.ServiceState_SERVICE_STATE_DEGRADED || svc.GetMessage() != "reported degraded: rebalancing" ||
		svc.GetMetrics()["lag"] != 12 || svc.GetMetadata()["zone"] != "a" || svc.GetEndpoint() != "10.0.0.7:9000" || svc.GetManaged() {
		t.Errorf("GetServiceStatus = %v", svc)
	}
	list, err := c.ListServices(ctx, &flowctlv1.ListServicesRequest{})
	if err != nil || len(list.GetServices()) != 1 || list.GetServices()[0].GetId() != "ext.kafka" {
		t.Fatalf("ListServices = %v, %v", list, err)
	}
	if _, err := c.Deregister(ctx, &flowctlv1.DeregisterRequest{Id: "ext.kafka", RunId: runID}); err != nil {
		t.Fatal(err)
	}
	svc, err = c.GetServiceStatus(ctx, &flowctlv1.GetServiceStatusRequest{Id: "ext.kafka"})
	if err != nil || svc.GetState() != flowctlv1.ServiceState_SERVICE_STATE_STOPPED {
		t.Fatalf("after Deregister: %v, %v; want STOPPED", svc.GetState(), err)
	}
	if _, err := c.Register(ctx, &flowctlv1.RegisterRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Register without an id: %v, want InvalidArgument", err)
	}

	// The watch saw it all, in order.
	want := []string{"TYPE_REGISTERED STARTING", "TYPE_STATE HEALTHY", "TYPE_STATE DEGRADED", "TYPE_STATE STOPPED", "TYPE_DEREGISTERED STOPPED"}
	for i, w := range want {
		ev, err := watch.Recv()
		if err != nil {
			t.Fatalf("watch event %d: %v", i, err)
		}
		got := ev.GetType().String() + " " + health.FromProto(ev.GetService().GetState()).String()
		if got != w {
			t.Errorf("watch event %d = %s, want %s", i, got, w)
		}
	}

	runs, err := c.ListRuns(ctx, &flowctlv1.ListRunsRequest{})
	if err != nil || len(runs.GetRuns()) != 1 || runs.GetCurrentRunId() != runID || runs.GetRuns()[0].GetPipeline() != "test" {
		t.Fatalf("ListRuns = %v, %v", runs, err)
	}
	run, err := c.GetRun(ctx, &flowctlv1.GetRunRequest{})
	if err != nil || run.GetId() != runID || run.GetState() != flowctlv1.RunState_RUN_STATE_RUNNING {
		t.Fatalf("GetRun = %v, %v", run, err)
	}
	if _, err := c.GetRun(ctx, &flowctlv1.GetRunRequest{Id: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetRun of an unknown run: %v, want NotFound", err)
	}
}

// TestRefused checks that a wrong token or certificate gets nothing, and
// what the person sees.
func TestRefused(t *testing.T) {
	ca := newTestCA(t, "flowctl-test")
	other := newTestCA(t, "someone-else")
	srvCert, srvKey := ca.issue("server", true)
	cliCert, cliKey := ca.issue("client", false)
	strangerCert, strangerKey := other.issue("stranger", false)

	tokenSrv := serve(t, Options{Token: "s3cret"}, health.Policy{})
	mtlsSrv := serve(t, Options{TLS: TLSFiles{Cert: srvCert, Key: srvKey, ClientCA: ca.CertFile}}, health.Policy{})
	tests := []struct {
		name   string
		client ClientOptions
		want   string
	}{
		{"no token", ClientOptions{Endpoint: tokenSrv.Addr()}, "refused the call: this control plane requires a bearer token: set --token or FLOWCTL_TOKEN"},
		{"wrong token", ClientOptions{Endpoint: tokenSrv.Addr(), Token: "guess"}, "refused the call: invalid bearer token"},
		{"plaintext to TLS", ClientOptions{Endpoint: mtlsSrv.Addr()}, "closed the connection"},
		{"no client certificate", ClientOptions{Endpoint: mtlsSrv.Addr(), TLS: TLSFiles{CA: ca.CertFile}}, "certificate"},
		{"certificate from another CA", ClientOptions{Endpoint: mtlsSrv.Addr(), TLS: TLSFiles{CA: ca.CertFile, Cert: strangerCert, Key: strangerKey}}, "certificate"},
		{"server not trusted", ClientOptions{Endpoint: mtlsSrv.Addr(), TLS: TLSFiles{CA: other.CertFile, Cert: cliCert, Key: cliKey}}, "TLS with the control plane at " + mtlsSrv.Addr() + " failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, tt.client)
			_, err := c.ListServices(ctxT(t), &flowctlv1.ListServicesRequest{})
			if err == nil {
				t.Fatal("call succeeded, want it refused")
			}
			if msg := c.Explain(err).Error(); !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not contain %q", msg, tt.want)
			}
			if n := len(mustList(t, mtlsSrv, ca, cliCert, cliKey)); n != 0 {
				t.Errorf("%d services registered", n)
			}
		})
	}
	// The watch stream is guarded too.
	c := dial(t, ClientOptions{Endpoint: tokenSrv.Addr(), Token: "guess"})
	w, err := c.WatchServices(ctxT(t), &flowctlv1.WatchServicesRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("watch with a wrong token: %v, want Unauthenticated", err)
	}
}

func mustList(t *testing.T, s *Server, ca *testCA, cert, key string) []*flowctlv1.Service {
	t.Helper()
	c := dial(t, ClientOptions{Endpoint: s.Addr(), TLS: TLSFiles{CA: ca.CertFile, Cert: cert, Key: key}})
	resp, err := c.ListServices(ctxT(t), &flowctlv1.ListServicesRequest{})
	if err != nil {
		t.Fatalf("the right certificate is refused: %v", c.Explain(err))
	}
	return resp.GetServices()
}

func TestListenSecurity(t *testing.T) {
	reg, err := registry.Open(registry.NewMemory(), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = Listen(reg, Options{Address: "0.0.0.0:0"})
	if !errors.Is(err, ErrInsecure) || !strings.Contains(err.Error(), "0.0.0.0:0 is reachable from other machines; give --tls-cert and --tls-key") {
		t.Errorf("plaintext on 0.0.0.0: %v, want ErrInsecure", err)
	}
	s, err := Listen(reg, Options{Address: "0.0.0.0:0", Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(s.Warning, "WARNING: the control plane on 0.0.0.0:0 serves plaintext gRPC beyond loopback (--insecure)") {
		t.Errorf("warning = %q", s.Warning)
	}
	s.Shutdown(t.Context())
	if _, err := Listen(reg, Options{Address: "127.0.0.1:0", TLS: TLSFiles{ClientCA: "ca.pem"}}); err == nil || !strings.Contains(err.Error(), "--tls-client-ca needs --tls-cert and --tls-key") {
		t.Errorf("client CA without TLS: %v", err)
	}
}

func TestNothingListening(t *testing.T) {
	s := serve(t, Options{}, health.Policy{})
	addr := s.Addr()
	s.Shutdown(t.Context())
	c := dial(t, ClientOptions{Endpoint: addr})
	_, err := c.ListServices(ctxT(t), &flowctlv1.ListServicesRequest{})
	want := "no flowctl control plane is running at " + addr + " (connection refused): start `flowctl apply`"
	if err == nil || !strings.Contains(c.Explain(err).Error(), want) {
		t.Errorf("error = %v, want it to contain %q", c.Explain(err), want)
	}
}

// TestWatchEndsWithServer: a watch in progress ends when the server stops.
func TestWatchEndsWithServer(t *testing.T) {
	s := serve(t, Options{}, health.Policy{})
	c := dial(t, ClientOptions{Endpoint: s.Addr(), Token: s.Token()})
	w, err := c.WatchServices(ctxT(t), &flowctlv1.WatchServicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctxT(t), &flowctlv1.RegisterRequest{Id: "a"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	s.Shutdown(t.Context())
	if _, err := w.Recv(); err != io.EOF { //nolint:errorlint // the stream returns io.EOF itself
		t.Fatalf("watch after shutdown: %v, want the stream's end (io.EOF)", err)
	}
}
