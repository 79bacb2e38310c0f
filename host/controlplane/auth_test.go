package controlplane

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/host/health"
	"github.com/flowctl/flowctl/host/registry"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// TestRoles checks, over real gRPC, what each kind of caller may do: no
// token nothing, the read token only read, a plugin credential only its
// own registration, and that nothing refused changed the registry.
func TestRoles(t *testing.T) {
	s := serve(t, Options{}, health.Policy{TTL: time.Minute})
	if s.Token() == "" || s.ReadToken() == "" || s.Token() == s.ReadToken() {
		t.Fatalf("tokens not generated: write %q read %q", s.Token(), s.ReadToken())
	}
	ctx := ctxT(t)
	admin := dial(t, ClientOptions{Endpoint: s.Addr(), Token: s.Token()})
	for _, id := range []string{"source.a", "sink.b"} {
		if _, err := admin.Register(ctx, &flowctlv1.RegisterRequest{Id: id}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: id}); err != nil {
			t.Fatal(err)
		}
	}
	// sink.b goes silent and is marked UNHEALTHY; nobody but a writer or
	// sink.b itself may make it HEALTHY again.
	if _, err := admin.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: "sink.b", Status: flowctlv1.HeartbeatStatus_HEARTBEAT_STATUS_FAILING, Message: "dead"}); err != nil {
		t.Fatal(err)
	}

	type call struct {
		name string
		do   func(c *Client) error
	}
	calls := []call{
		{"list", func(c *Client) error { _, err := c.ListServices(ctx, &flowctlv1.ListServicesRequest{}); return err }},
		{"status", func(c *Client) error {
			_, err := c.GetServiceStatus(ctx, &flowctlv1.GetServiceStatusRequest{Id: "sink.b"})
			return err
		}},
		{"runs", func(c *Client) error { _, err := c.ListRuns(ctx, &flowctlv1.ListRunsRequest{}); return err }},
		{"run", func(c *Client) error { _, err := c.GetRun(ctx, &flowctlv1.GetRunRequest{}); return err }},
		{"watch", func(c *Client) error {
			w, err := c.WatchServices(ctx, &flowctlv1.WatchServicesRequest{})
			if err == nil {
				_, err = w.Recv()
			}
			return err
		}},
		{"heartbeat sink.b", func(c *Client) error {
			_, err := c.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: "sink.b"})
			return err
		}},
		{"deregister sink.b", func(c *Client) error {
			_, err := c.Deregister(ctx, &flowctlv1.DeregisterRequest{Id: "sink.b"})
			return err
		}},
		{"register sink.b (forge)", func(c *Client) error {
			_, err := c.Register(ctx, &flowctlv1.RegisterRequest{Id: "sink.b", Plugin: "forged"})
			return err
		}},
		{"register new", func(c *Client) error {
			_, err := c.Register(ctx, &flowctlv1.RegisterRequest{Id: "forged.new"})
			return err
		}},
	}
	otherKey := []byte("a key of another run, 32 bytes..")
	callers := []struct {
		name  string
		token string
		// allowed lists the calls that succeed; every other is refused
		// with code.
		allowed map[string]bool
		code    codes.Code
		msg     string
	}{
		{"no token", "", nil, codes.Unauthenticated, "requires a bearer token"},
		{"wrong token", "guess", nil, codes.Unauthenticated, "invalid bearer token"},
		{"credential of another run", wire.PluginCredential(otherKey, "sink.b"), nil, codes.Unauthenticated, "plugin credential of another run"},
		{"read token", s.ReadToken(), map[string]bool{"list": true, "status": true, "runs": true, "run": true, "watch": true}, codes.PermissionDenied, "needs the write token"},
		{"plugin credential of source.a", s.PluginCredential("source.a"), nil, codes.PermissionDenied, "plugin credential of source.a may"},
	}
	for _, cl := range callers {
		t.Run(cl.name, func(t *testing.T) {
			c := dial(t, ClientOptions{Endpoint: s.Addr(), Token: cl.token})
			for _, k := range calls {
				err := k.do(c)
				if cl.allowed[k.name] {
					if err != nil {
						t.Errorf("%s: %v, want it allowed", k.name, err)
					}
					continue
				}
				if status.Code(err) != cl.code || !strings.Contains(err.Error(), cl.msg) {
					t.Errorf("%s: %v, want %s saying %q", k.name, err, cl.code, cl.msg)
				}
			}
		})
	}
	// Nothing refused left a trace.
	list, err := admin.ListServices(ctx, &flowctlv1.ListServicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetServices()) != 2 {
		t.Fatalf("registry holds %d services, want source.a and sink.b: %v", len(list.GetServices()), list.GetServices())
	}
	for _, svc := range list.GetServices() {
		want := flowctlv1.ServiceState_SERVICE_STATE_HEALTHY
		if svc.GetId() == "sink.b" {
			want = flowctlv1.ServiceState_SERVICE_STATE_UNHEALTHY
		}
		if svc.GetState() != want || svc.GetPlugin() == "forged" {
			t.Errorf("%s is %s (plugin %q), want %s, untouched", svc.GetId(), svc.GetState(), svc.GetPlugin(), want)
		}
	}

	// A plugin's own registration works, end to end.
	self := dial(t, ClientOptions{Endpoint: s.Addr(), Token: s.PluginCredential("source.a")})
	reg, err := self.Register(ctx, &flowctlv1.RegisterRequest{Id: "source.a", Plugin: "gen", Metadata: map[string]string{"pid": "7"}})
	if err != nil {
		t.Fatal(self.Explain(err))
	}
	hb, err := self.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: "source.a", RunId: reg.GetRunId(), Metrics: map[string]float64{"lag": 1}})
	if err != nil || hb.GetState() != flowctlv1.ServiceState_SERVICE_STATE_HEALTHY {
		t.Fatalf("own heartbeat = %v, %v; want HEALTHY", hb.GetState(), err)
	}
	if _, err := self.Deregister(ctx, &flowctlv1.DeregisterRequest{Id: "source.a", RunId: reg.GetRunId()}); err != nil {
		t.Fatal(err)
	}
	svc, err := admin.GetServiceStatus(ctx, &flowctlv1.GetServiceStatusRequest{Id: "source.a"})
	if err != nil || svc.GetState() != flowctlv1.ServiceState_SERVICE_STATE_STOPPED || svc.GetMetadata()["pid"] != "7" {
		t.Fatalf("source.a after its own register, heartbeat, deregister: %v, %v", svc, err)
	}
}

// TestCertificateAuth: with a client CA and no token, a verified client
// certificate is the credential, and there is no other.
func TestCertificateAuth(t *testing.T) {
	ca := newTestCA(t, "flowctl-test")
	srvCert, srvKey := ca.issue("server", true)
	cliCert, cliKey := ca.issue("client", false)
	s := serve(t, Options{Address: "127.0.0.1:0", NoToken: true, TLS: TLSFiles{Cert: srvCert, Key: srvKey, ClientCA: ca.CertFile}}, health.Policy{})
	if s.Token() != "" {
		t.Fatalf("NoToken generated a token")
	}
	c := dial(t, ClientOptions{Endpoint: s.Addr(), TLS: TLSFiles{CA: ca.CertFile, Cert: cliCert, Key: cliKey}})
	if _, err := c.Register(ctxT(t), &flowctlv1.RegisterRequest{Id: "ext"}); err != nil {
		t.Fatalf("a verified client certificate is refused: %v", c.Explain(err))
	}
}

// TestListenRefusesNoClientAuth: a control plane that could not tell one
// caller from another does not start, beyond loopback (TLS alone is not
// enough) or on it.
func TestListenRefusesNoClientAuth(t *testing.T) {
	ca := newTestCA(t, "flowctl-test")
	srvCert, srvKey := ca.issue("server", true)
	reg, err := registry.Open(registry.NewMemory(), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range []Options{
		{Address: "0.0.0.0:0", NoToken: true, TLS: TLSFiles{Cert: srvCert, Key: srvKey}},
		{Address: "127.0.0.1:0", NoToken: true},
	} {
		s, err := Listen(reg, opts)
		if err == nil {
			s.Shutdown(t.Context())
		}
		if !errors.Is(err, ErrNoClientAuth) || !strings.Contains(err.Error(), opts.Address+" would accept any caller; drop --no-token") {
			t.Errorf("Listen(%s, TLS %v, no token, no client CA) = %v, want ErrNoClientAuth", opts.Address, opts.TLS.Cert != "", err)
		}
	}
	if _, err := Listen(reg, Options{Address: "127.0.0.1:0", NoToken: true, Token: "x"}); err == nil || !strings.Contains(err.Error(), "--no-token contradicts --token") {
		t.Errorf("NoToken with a token: %v", err)
	}
	if _, err := Listen(reg, Options{Address: "127.0.0.1:0", Token: "same", ReadToken: "same"}); err == nil || !strings.Contains(err.Error(), "must differ") {
		t.Errorf("read token equal to the write token: %v", err)
	}
}

// TestLimits: registrations are bounded in number and size, with errors
// that say which bound and what to do.
func TestLimits(t *testing.T) {
	s := serve(t, Options{Limits: Limits{Registrations: 3}}, health.Policy{})
	c := dial(t, ClientOptions{Endpoint: s.Addr(), Token: s.Token()})
	ctx := ctxT(t)
	for _, id := range []string{"a", "b", "c"} {
		if _, err := c.Register(ctx, &flowctlv1.RegisterRequest{Id: id}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.Register(ctx, &flowctlv1.RegisterRequest{Id: "d"})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "3 components registered themselves") {
		t.Errorf("a 4th registration: %v, want ResourceExhausted naming the limit", err)
	}
	if _, err := c.Register(ctx, &flowctlv1.RegisterRequest{Id: "a", Version: "2"}); err != nil {
		t.Errorf("registering a known id again at the limit: %v", err)
	}
	if _, err := c.Deregister(ctx, &flowctlv1.DeregisterRequest{Id: "b"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Register(ctx, &flowctlv1.RegisterRequest{Id: "d"}); err != nil {
		t.Errorf("registering after a deregistration freed a place: %v", err)
	}
	// The host's own registrations of its plugins are not bounded here.
	if _, err := s.Registry().Register(&flowctlv1.RegisterRequest{Id: "source.x"}, true); err != nil {
		t.Errorf("managed registration at the limit: %v", err)
	}

	big := map[string]string{"blob": strings.Repeat("x", 100<<10)}
	many := map[string]string{}
	for i := range DefaultMaxMetadataEntries + 1 {
		many[string(rune('A'+i%26))+strings.Repeat("k", i)] = "v"
	}
	tests := []struct {
		name string
		req  *flowctlv1.RegisterRequest
		want string
	}{
		{"100 KB of metadata", &flowctlv1.RegisterRequest{Id: "a", Metadata: big}, `registration of "a" has 102404 bytes of metadata, more than the 16384`},
		{"too many metadata entries", &flowctlv1.RegisterRequest{Id: "a", Metadata: many}, "65 metadata entries, more than the 64"},
		{"long id", &flowctlv1.RegisterRequest{Id: strings.Repeat("i", 2000)}, "id is 2000 bytes, more than the 1024"},
	}
	for _, tt := range tests {
		_, err := c.Register(ctx, tt.req)
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want InvalidArgument saying %q", tt.name, err, tt.want)
		}
	}
	metrics := map[string]float64{}
	for i := range DefaultMaxMetrics + 1 {
		metrics[strings.Repeat("m", i+1)] = 1
	}
	if _, err := c.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{Id: "a", Metrics: metrics}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "129 metrics") {
		t.Errorf("heartbeat with too many metrics: %v", err)
	}
	// A request past the message bound never reaches the service.
	huge := map[string]string{"blob": strings.Repeat("x", maxMessageBytes)}
	if _, err := c.Register(ctx, &flowctlv1.RegisterRequest{Id: "a", Metadata: huge}); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("oversized request: %v, want ResourceExhausted", err)
	}
}

// TestRunFile: the run file is private, found by state directory and by
// address, and removed by its writer.
func TestRunFile(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	state := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	remove, err := WriteRunFile(state, RunFile{Endpoint: "127.0.0.1:4321", RunID: "r1", Token: "w", ReadToken: "r"})
	if err != nil {
		t.Fatal(err)
	}
	runs, _ := RunsDir()
	for _, p := range []string{state, filepath.Join(state, RunFileName), runs, filepath.Join(runs, "127.0.0.1_4321.run")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if fi.IsDir() {
			want = 0o700 | os.ModeDir
		}
		if fi.Mode() != want {
			t.Errorf("%s has mode %s, want %s", p, fi.Mode(), want)
		}
	}
	for _, find := range [][2]string{{"", state}, {"127.0.0.1:4321", ""}} {
		rf, err := FindRun(find[0], find[1])
		if err != nil || rf.Endpoint != "127.0.0.1:4321" || rf.ReadToken != "r" || rf.Pid != os.Getpid() {
			t.Errorf("FindRun(%q, %q) = %+v, %v", find[0], find[1], rf, err)
		}
	}
	if _, err := FindRun("127.0.0.1:9", ""); !errors.Is(err, ErrNoRun) {
		t.Errorf("FindRun of another address: %v, want ErrNoRun", err)
	}
	remove()
	if _, err := FindRun("", state); !errors.Is(err, ErrNoRun) {
		t.Errorf("after remove: %v, want ErrNoRun", err)
	}
}

// TestFindRunPrefersThisDirectory: without --endpoint or --state-dir, the
// run of the pipeline in the current directory wins over runs found only in
// the per-user directory; two there are a choice to make.
func TestFindRunPrefersThisDirectory(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	t.Chdir(t.TempDir())
	other := filepath.Join(t.TempDir(), "state")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	removeOther, err := WriteRunFile(other, RunFile{Endpoint: "127.0.0.1:4001", RunID: "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	defer removeOther()
	if rf, err := FindRun("", ""); err != nil || rf.RunID != "elsewhere" {
		t.Fatalf("with one run elsewhere: %+v, %v", rf, err)
	}
	local := filepath.Join(".flowctl", "state", "p")
	if err := os.MkdirAll(local, 0o700); err != nil {
		t.Fatal(err)
	}
	removeLocal, err := WriteRunFile(local, RunFile{Endpoint: "127.0.0.1:4002", RunID: "here"})
	if err != nil {
		t.Fatal(err)
	}
	defer removeLocal()
	if rf, err := FindRun("", ""); err != nil || rf.RunID != "here" {
		t.Fatalf("with a run here and one elsewhere: %+v, %v", rf, err)
	}
	second := filepath.Join(".flowctl", "state", "q")
	if err := os.MkdirAll(second, 0o700); err != nil {
		t.Fatal(err)
	}
	removeSecond, err := WriteRunFile(second, RunFile{Endpoint: "127.0.0.1:4003", RunID: "here too"})
	if err != nil {
		t.Fatal(err)
	}
	defer removeSecond()
	if _, err := FindRun("", ""); err == nil || !strings.Contains(err.Error(), "several flowctl control planes are running") {
		t.Fatalf("with two runs here: %v", err)
	}
}
