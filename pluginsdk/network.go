package pluginsdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// Network mode (wire.EnvListen set): a plugin in a container or a pod has no
// go-plugin parent to start it and read its handshake from a pipe, so Serve
// listens on that TCP address instead, with mutual TLS from certificates the
// host issued for this run, serves the same gRPC services (go-plugin's
// controller, health, broker and stdio services included, so the host
// attaches with go-plugin's reattach), and prints the go-plugin handshake
// line on its standard output, where the driver reads it (container or pod
// log). The version negotiation is go-plugin's: the host lists the protocol
// versions it speaks in wire.EnvProtocolVersions, the plugin answers with the
// highest it shares (or its own highest, which the host then refuses), and
// the magic cookie must match. The plugin exits when the host shuts it down
// (go-plugin's controller), or on SIGTERM or SIGINT, tearing its component
// down first.

// serveNetwork runs p in network mode on addr and returns the exit code.
func serveNetwork(p Plugin, addr string, log hclog.Logger, stdout io.Writer) int {
	if os.Getenv(wire.MagicCookieKey) != wire.MagicCookieValue {
		fmt.Fprintf(os.Stderr, "This binary is a plugin. These are not meant to be executed directly.\n"+
			"%s was started in network mode (%s is set) without flowctl's magic cookie.\n", p.Name, wire.EnvListen)
		return 1
	}
	tlsCfg, err := networkTLS(os.Getenv)
	if err != nil {
		log.Error("network mode needs the TLS material the host issues", "error", err)
		return 1
	}
	version := negotiateVersion(os.Getenv(wire.EnvProtocolVersions), wire.ProtocolVersions)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		log.Error("listen", "address", addr, "error", err)
		return 1
	}
	var srv *server
	// go-plugin's stdio service copies these to the host; the plugin's own
	// output goes to the container log instead, so they never yield.
	stdoutR, _ := io.Pipe()
	stderrR, _ := io.Pipe()
	gs := &plugin.GRPCServer{
		Plugins: wire.VersionedPlugins(func(s *grpc.Server) {
			srv = registerServices(s, p, log)
		})[version],
		Server: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, wire.ServerOptions()...)
			opts = append(opts, grpc.ChainUnaryInterceptor(peerGuardUnary), grpc.ChainStreamInterceptor(peerGuardStream))
			return grpc.NewServer(opts...)
		},
		TLS:    tlsCfg,
		DoneCh: make(chan struct{}),
		Stdout: stdoutR,
		Stderr: stderrR,
	}
	if err := gs.Init(); err != nil {
		log.Error("start gRPC server", "error", err)
		return 1
	}
	stopHealth := serveHealth(log, srv)
	defer stopHealth()

	fmt.Fprintf(stdout, "%d|%d|tcp|%s|%s|\n", plugin.CoreProtocolVersion, version, lis.Addr(), plugin.ProtocolGRPC)
	log.Info("serving in network mode", "address", lis.Addr().String(), "protocol", version)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		select {
		case s := <-sigs:
			log.Info("stopping on signal", "signal", s.String())
			gs.Stop()
		case <-gs.DoneCh:
		}
	}()
	gs.Serve(lis)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.teardown(ctx)
	return 0
}

// negotiateVersion picks the highest version in ours that the host's
// comma-separated list names; without one in common, our highest, which the
// host refuses with a message naming both.
func negotiateVersion(host string, ours []int) int {
	var theirs []int
	for _, s := range strings.Split(host, ",") {
		if v, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
			theirs = append(theirs, v)
		}
	}
	best := -1
	for _, v := range ours {
		if slices.Contains(theirs, v) && v > best {
			best = v
		}
	}
	if best < 0 {
		return slices.Max(ours)
	}
	return best
}

// networkTLS builds the server side of mutual TLS: the plugin presents its
// certificate and accepts only clients whose certificate the run's CA signed.
func networkTLS(getenv func(string) string) (*tls.Config, error) {
	certPEM, keyPEM, caPEM := []byte(getenv(wire.EnvTLSCert)), []byte(getenv(wire.EnvTLSKey)), []byte(getenv(wire.EnvTLSCA))
	if len(certPEM) == 0 {
		dir := getenv(wire.EnvTLSDir)
		if dir == "" {
			return nil, fmt.Errorf("neither %s nor %s is set", wire.EnvTLSCert, wire.EnvTLSDir)
		}
		var err error
		if certPEM, err = os.ReadFile(filepath.Join(dir, wire.TLSCertFile)); err != nil {
			return nil, err
		}
		if keyPEM, err = os.ReadFile(filepath.Join(dir, wire.TLSKeyFile)); err != nil {
			return nil, err
		}
		if caPEM, err = os.ReadFile(filepath.Join(dir, wire.TLSCAFile)); err != nil {
			return nil, err
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("plugin certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("the CA holds no PEM certificate")
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// serveHealth serves GET /healthz on wire.EnvHealthListen, when it is set, with
// the answer of the Health RPC.
func serveHealth(log hclog.Logger, srv *server) (stop func()) {
	addr := os.Getenv(wire.EnvHealthListen)
	if addr == "" {
		return func() {}
	}
	base := &baseService{srv: srv}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		resp, _ := base.Health(r.Context(), &flowctlv1.HealthRequest{})
		w.Header().Set("Content-Type", "application/json")
		if resp.GetStatus() != flowctlv1.HealthResponse_STATUS_SERVING {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"status": resp.GetStatus().String(), "message": resp.GetMessage()})
	})
	hs := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := hs.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("health endpoint", "address", addr, "error", err)
		}
	}()
	return func() { _ = hs.Close() }
}

// A peer certificate (wire.PeerCommonNamePrefix) lets another plugin of the
// run send batches on the Edge service, and nothing else: configuring,
// stopping or driving this plugin is the host's alone.
func peerGuardUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := peerMay(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func peerGuardStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := peerMay(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return h(srv, ss)
}

func peerMay(ctx context.Context, method string) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.PeerCertificates) == 0 {
		return nil
	}
	cn := ti.State.PeerCertificates[0].Subject.CommonName
	if strings.HasPrefix(cn, wire.PeerCommonNamePrefix) && !strings.HasPrefix(method, "/"+flowctlv1.Edge_ServiceDesc.ServiceName+"/") {
		return status.Errorf(codes.PermissionDenied, "%s may only send batches (the Edge service), not call %s", cn, method)
	}
	return nil
}
