package controlplane

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/host/health"
	"github.com/flowctl/flowctl/host/registry"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// TLSFiles name PEM files. Cert and Key together enable TLS; ClientCA
// (server side) requires client certificates it signed; CA (client side)
// is what the server's certificate must chain to.
type TLSFiles struct {
	Cert     string
	Key      string
	ClientCA string
	CA       string
}

// Options configure a Server.
type Options struct {
	Logger hclog.Logger
	// Address is host:port; port 0 picks a free port.
	Address string
	TLS     TLSFiles
	// Token, when set, must be sent as a bearer token on every call.
	Token string
	// Insecure allows listening beyond loopback without TLS.
	Insecure bool
}

// ErrInsecure is returned by Listen for a non-loopback address without TLS
// and without Insecure.
var ErrInsecure = errors.New("refusing to serve the control plane beyond loopback without TLS")

// Server is a listening control plane.
type Server struct {
	reg  *registry.Registry
	log  hclog.Logger
	lis  net.Listener
	grpc *grpc.Server
	tls  bool

	svc           *service
	closeOnce     sync.Once
	janitorCancel context.CancelFunc
	wg            sync.WaitGroup
	// Warning is set when the server listens beyond loopback without TLS.
	Warning string
}

// Listen binds opts.Address, checks the security settings and returns a
// server that has not started serving yet.
func Listen(reg *registry.Registry, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	host, _, err := net.SplitHostPort(opts.Address)
	if err != nil {
		return nil, fmt.Errorf("control plane address %q: want host:port: %w", opts.Address, err)
	}
	tlsOn := opts.TLS.Cert != "" || opts.TLS.Key != ""
	var warning string
	if !tlsOn && !isLoopback(host) {
		if !opts.Insecure {
			return nil, fmt.Errorf("%w: %s is reachable from other machines; give --tls-cert and --tls-key (and --tls-client-ca for mutual TLS), or --insecure to serve plaintext anyway", ErrInsecure, opts.Address)
		}
		warning = fmt.Sprintf("WARNING: the control plane on %s serves plaintext gRPC beyond loopback (--insecure): anyone who can reach it can read and change the registry", opts.Address)
	}
	var sopts []grpc.ServerOption
	if tlsOn {
		cfg, err := serverTLS(opts.TLS)
		if err != nil {
			return nil, err
		}
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(cfg)))
	} else if opts.TLS.ClientCA != "" {
		return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
	}
	if opts.Token != "" {
		a := tokenAuth(opts.Token)
		sopts = append(sopts, grpc.ChainUnaryInterceptor(a.unary), grpc.ChainStreamInterceptor(a.stream))
	}
	lis, err := net.Listen("tcp", opts.Address)
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	s := &Server{reg: reg, log: opts.Logger.Named("controlplane"), lis: lis, grpc: grpc.NewServer(sopts...), tls: tlsOn, Warning: warning}
	s.svc = &service{reg: reg, closing: make(chan struct{})}
	flowctlv1.RegisterControlPlaneServer(s.grpc, s.svc)
	if err := reg.SetEndpoint(s.Addr()); err != nil {
		lis.Close()
		return nil, err
	}
	return s, nil
}

// Addr is the address the server listens on, with the port it got.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// TLS reports whether the server serves TLS.
func (s *Server) TLS() bool { return s.tls }

// Registry is the registry the server serves.
func (s *Server) Registry() *registry.Registry { return s.reg }

// Start serves in the background and runs the health janitor, both until
// Shutdown; the janitor also stops when ctx ends.
func (s *Server) Start(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	s.janitorCancel = cancel
	s.wg.Go(func() { health.Janitor(ctx, s.reg.Policy(), s.reg.Sweep) })
	s.wg.Go(func() {
		if err := s.grpc.Serve(s.lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("control plane stopped serving", "error", err)
		}
	})
	s.log.Debug("control plane listening", "address", s.Addr(), "tls", s.tls, "run", s.reg.RunID())
}

// Shutdown stops accepting calls, ends watches, lets calls in progress
// finish until ctx ends (or a short grace passes), and stops the janitor.
func (s *Server) Shutdown(ctx context.Context) {
	s.closeOnce.Do(func() { close(s.svc.closing) })
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	ctx, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
	}
	if s.janitorCancel != nil {
		s.janitorCancel()
	}
	s.wg.Wait()
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func serverTLS(f TLSFiles) (*tls.Config, error) {
	if f.Cert == "" || f.Key == "" {
		return nil, errors.New("TLS needs both --tls-cert and --tls-key")
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", f.Cert, f.Key, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if f.ClientCA != "" {
		pool, err := loadPool(f.ClientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func loadPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// tokenAuth checks the bearer token of every call.
type tokenAuth string

func (a tokenAuth) check(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return status.Error(codes.Unauthenticated, "this control plane requires a bearer token: set --token or FLOWCTL_TOKEN")
	}
	got, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a)) != 1 {
		return status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	return nil
}

func (a tokenAuth) unary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := a.check(ctx); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (a tokenAuth) stream(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if err := a.check(ss.Context()); err != nil {
		return err
	}
	return h(srv, ss)
}
