package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/flowctl/flowctl/host/health"
	"github.com/flowctl/flowctl/host/registry"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
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
	// Token is the write token and ReadToken the read token (see Role).
	// With neither, no NoToken and no TLS.ClientCA, Listen generates both
	// (Server.Token and Server.ReadToken tell them).
	Token     string
	ReadToken string
	// NoToken serves without tokens: only with TLS.ClientCA, whose
	// verified client certificates then authenticate with the write role.
	NoToken bool
	// CredentialKey signs and verifies plugin credentials
	// (wire.PluginCredential); nil generates one for the server's life.
	CredentialKey []byte
	// Limits bound what callers can make the server keep.
	Limits Limits
	// Insecure allows listening beyond loopback without TLS.
	Insecure bool
}

// Refusals of Listen.
var (
	// ErrInsecure: a non-loopback address without TLS and without Insecure.
	ErrInsecure = errors.New("refusing to serve the control plane beyond loopback without TLS")
	// ErrNoClientAuth: no token and no client certificates: nothing would
	// tell one caller from another.
	ErrNoClientAuth = errors.New("refusing to serve a control plane that authenticates no caller")
)

// Server is a listening control plane.
type Server struct {
	reg  *registry.Registry
	log  hclog.Logger
	lis  net.Listener
	grpc *grpc.Server
	tls  bool
	auth *authorizer
	// token and readToken are the tokens in force.
	token, readToken string

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
	if !tlsOn && opts.TLS.ClientCA != "" {
		return nil, errors.New("--tls-client-ca needs --tls-cert and --tls-key: mutual TLS is TLS first")
	}
	if opts.NoToken && (opts.Token != "" || opts.ReadToken != "") {
		return nil, errors.New("--no-token contradicts --token and --read-token")
	}
	if opts.Token == "" && opts.ReadToken == "" && opts.TLS.ClientCA == "" {
		if opts.NoToken {
			return nil, errNoAuth(opts.Address)
		}
		opts.Token, opts.ReadToken = NewToken(), NewToken()
	}
	if opts.Token != "" && opts.Token == opts.ReadToken {
		return nil, errors.New("the read token must differ from the write token")
	}
	if opts.CredentialKey == nil {
		opts.CredentialKey = newCredentialKey()
	}
	auth := &authorizer{write: []byte(opts.Token), read: []byte(opts.ReadToken), key: opts.CredentialKey,
		certs: opts.Token == "" && opts.ReadToken == "" && opts.TLS.ClientCA != ""}
	sopts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(auth.unary), grpc.ChainStreamInterceptor(auth.stream),
		grpc.MaxRecvMsgSize(maxMessageBytes),
	}
	if tlsOn {
		cfg, err := serverTLS(opts.TLS)
		if err != nil {
			return nil, err
		}
		sopts = append(sopts, grpc.Creds(credentials.NewTLS(cfg)))
	}
	limits := opts.Limits.WithDefaults()
	reg.SetMaxServices(limits.Registrations)
	lis, err := net.Listen("tcp", opts.Address)
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	s := &Server{reg: reg, log: opts.Logger.Named("controlplane"), lis: lis, grpc: grpc.NewServer(sopts...), tls: tlsOn, Warning: warning,
		auth: auth, token: opts.Token, readToken: opts.ReadToken}
	s.svc = &service{reg: reg, limits: limits, closing: make(chan struct{})}
	flowctlv1.RegisterControlPlaneServer(s.grpc, s.svc)
	if err := reg.SetEndpoint(s.Addr()); err != nil {
		lis.Close()
		return nil, err
	}
	return s, nil
}

// Token is the write token ("" when client certificates authenticate).
func (s *Server) Token() string { return s.token }

// ReadToken is the read token.
func (s *Server) ReadToken() string { return s.readToken }

// PluginCredential returns the credential that lets component id register,
// heartbeat and deregister itself with this server, and do nothing else.
func (s *Server) PluginCredential(id string) string { return wire.PluginCredential(s.auth.key, id) }

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
