package pluginsdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// announcer registers the plugin with a control plane and heartbeats. Its
// methods do nothing on a nil announcer (FLOWCTL_ENDPOINT unset).
type announcer struct {
	log    hclog.Logger
	client flowctlv1.ControlPlaneClient
	conn   *grpc.ClientConn
	req    *flowctlv1.RegisterRequest
	start  time.Time

	received, emitted, acked atomic.Uint64
	streams                  atomic.Int64

	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	runID    string
	interval time.Duration
}

// announce starts self-registration when FLOWCTL_ENDPOINT is set; a
// control plane that cannot be reached is retried, never fatal.
func announce(p Plugin, log hclog.Logger) *announcer {
	endpoint := strings.TrimSpace(os.Getenv(wire.EnvEndpoint))
	if endpoint == "" {
		return nil
	}
	log = log.Named("controlplane")
	creds, err := clientCredentials()
	if err != nil {
		log.Error("not registering with the control plane", "endpoint", endpoint, "error", err)
		return nil
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if tok := os.Getenv(wire.EnvToken); tok != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerToken(tok)))
	}
	conn, err := grpc.NewClient("passthrough:///"+endpoint, opts...)
	if err != nil {
		log.Error("not registering with the control plane", "endpoint", endpoint, "error", err)
		return nil
	}
	host, _ := os.Hostname()
	id := os.Getenv(wire.EnvComponentID)
	if id == "" {
		id = fmt.Sprintf("%s@%s:%d", p.Name, host, os.Getpid())
	}
	var kinds []string
	kind := flowctlv1.Kind_KIND_UNSPECIFIED
	for i, c := range p.Components {
		kinds = append(kinds, c.kind.String()+" "+c.name)
		if i == 0 || c.kind.Proto() == kind {
			kind = c.kind.Proto()
		} else {
			kind = flowctlv1.Kind_KIND_UNSPECIFIED
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &announcer{
		log: log, client: flowctlv1.NewControlPlaneClient(conn), conn: conn, start: time.Now(),
		req: &flowctlv1.RegisterRequest{
			Id: id, Kind: kind, Plugin: p.Name, Version: p.Version,
			Metadata: map[string]string{"pid": strconv.Itoa(os.Getpid()), "hostname": host, "components": strings.Join(kinds, ", ")},
		},
		cancel: cancel, done: make(chan struct{}), interval: time.Second,
	}
	go a.loop(ctx)
	go a.deregisterOnTerm()
	return a
}

// deregisterOnTerm deregisters before a SIGTERM ends the process, so that a
// component stopped by its orchestrator shows STOPPED at once instead of
// going UNHEALTHY when its heartbeats stop. The exit status stays that of
// SIGTERM.
func (a *announcer) deregisterOnTerm() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM)
	select {
	case <-ch:
	case <-a.done:
		signal.Stop(ch)
		return
	}
	a.log.Info("terminated; deregistering from the control plane")
	a.stop()
	signal.Reset(syscall.SIGTERM)
	if self, err := os.FindProcess(os.Getpid()); err == nil {
		_ = self.Signal(syscall.SIGTERM)
	}
	os.Exit(1) // not reached where SIGTERM is deliverable
}

func clientCredentials() (credentials.TransportCredentials, error) {
	ca, cert, key := os.Getenv(wire.EnvEndpointCA), os.Getenv(wire.EnvEndpointCert), os.Getenv(wire.EnvEndpointKey)
	if ca == "" && cert == "" && key == "" {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", wire.EnvEndpointCA, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", wire.EnvEndpointCA, ca)
		}
	}
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", wire.EnvEndpointCert, wire.EnvEndpointKey, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}

type bearerToken string

func (t bearerToken) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(t)}, nil
}

func (bearerToken) RequireTransportSecurity() bool { return false }

// loop registers, then heartbeats every interval the control plane asks
// for; it registers again whenever the control plane does not know it.
func (a *announcer) loop(ctx context.Context) {
	defer close(a.done)
	registered := false
	for {
		if !registered {
			registered = a.register(ctx)
		} else if err := a.heartbeat(ctx); status.Code(err) == codes.NotFound {
			a.log.Info("the control plane no longer knows this component; registering again", "reason", status.Convert(err).Message())
			registered = a.register(ctx)
		} else if err != nil && ctx.Err() == nil {
			a.log.Debug("heartbeat failed", "error", err)
		}
		a.mu.Lock()
		wait := a.interval
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (a *announcer) register(ctx context.Context) bool {
	resp, err := a.client.Register(ctx, a.req)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("could not register with the control plane; retrying", "error", err)
		}
		return false
	}
	a.mu.Lock()
	a.runID = resp.GetRunId()
	a.interval = max(time.Duration(resp.GetHeartbeatIntervalNanos()), 50*time.Millisecond)
	a.mu.Unlock()
	a.log.Info("registered with the control plane", "id", a.req.GetId(), "run", resp.GetRunId())
	// The first heartbeat at once: the component is up. A failure here is
	// retried by the loop like any other.
	if err := a.heartbeat(ctx); err != nil && ctx.Err() == nil {
		a.log.Debug("heartbeat failed", "error", err)
	}
	return true
}

func (a *announcer) heartbeat(ctx context.Context) error {
	a.mu.Lock()
	runID := a.runID
	a.mu.Unlock()
	_, err := a.client.Heartbeat(ctx, &flowctlv1.HeartbeatRequest{
		Id: a.req.GetId(), RunId: runID, Status: flowctlv1.HeartbeatStatus_HEARTBEAT_STATUS_OK,
		Metrics: map[string]float64{
			"events_received": float64(a.received.Load()), "events_emitted": float64(a.emitted.Load()),
			"events_acked": float64(a.acked.Load()), "streams": float64(a.streams.Load()),
			"uptime_seconds": time.Since(a.start).Seconds(),
		},
	})
	return err
}

// stop deregisters (bounded by a short deadline) and ends the loop; only
// the first call does anything.
func (a *announcer) stop() {
	if a == nil {
		return
	}
	a.stopOnce.Do(a.deregister)
}

func (a *announcer) deregister() {
	a.cancel()
	<-a.done
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a.mu.Lock()
	runID := a.runID
	a.mu.Unlock()
	if runID != "" {
		if _, err := a.client.Deregister(ctx, &flowctlv1.DeregisterRequest{Id: a.req.GetId(), RunId: runID, Message: "plugin stopped"}); err != nil {
			a.log.Debug("deregister failed", "error", err)
		}
	}
	_ = a.conn.Close()
}

// grpcServer builds the plugin's gRPC server; with an announcer, a stream
// interceptor counts the events the plugin's streams carry, for the
// heartbeats' metrics.
func (a *announcer) grpcServer(opts []grpc.ServerOption) *grpc.Server {
	if a != nil {
		opts = append(opts, grpc.ChainStreamInterceptor(a.intercept))
	}
	return grpc.NewServer(opts...)
}

func (a *announcer) intercept(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	a.streams.Add(1)
	defer a.streams.Add(-1)
	return h(srv, &countingStream{ServerStream: ss, a: a, sinkBatches: map[uint64]uint32{}})
}

// countingStream counts events by the messages of the plugin streams.
type countingStream struct {
	grpc.ServerStream
	a *announcer

	mu          sync.Mutex
	sinkBatches map[uint64]uint32 // seq → events, until acked
	// counters is the last NodeCounters a protocol 2 control stream
	// reported: they count since the stream opened, so each report adds
	// its difference.
	counters *flowctlv1.NodeCounters
}

func (s *countingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	switch m := m.(type) {
	case *flowctlv1.ProcessRequest:
		s.a.received.Add(uint64(m.GetBatch().GetCount()))
	case *flowctlv1.SinkRequest:
		s.a.received.Add(uint64(m.GetBatch().GetCount()))
		s.mu.Lock()
		s.sinkBatches[m.GetSeq()] = m.GetBatch().GetCount()
		s.mu.Unlock()
	}
	return nil
}

func (s *countingStream) SendMsg(m any) error {
	if err := s.ServerStream.SendMsg(m); err != nil {
		return err
	}
	switch m := m.(type) {
	case *flowctlv1.SourceResponse:
		s.a.emitted.Add(uint64(m.GetBatch().GetBatch().GetCount()))
	case *flowctlv1.ProcessResponse:
		s.a.emitted.Add(uint64(m.GetBatch().GetCount()))
	case *flowctlv1.SinkAck:
		s.mu.Lock()
		n := s.sinkBatches[m.GetSeq()]
		delete(s.sinkBatches, m.GetSeq())
		s.mu.Unlock()
		if m.GetOk() {
			s.a.acked.Add(uint64(n))
		}
	case *flowctlv1.NodeReport:
		if c := m.GetCounters(); c != nil {
			s.mu.Lock()
			last := s.counters
			s.counters = c
			s.mu.Unlock()
			s.a.received.Add(c.GetEventsIn() - last.GetEventsIn())
			s.a.emitted.Add(c.GetEventsOut() - last.GetEventsOut())
			s.a.acked.Add(c.GetEventsAcked() - last.GetEventsAcked())
		}
	}
	return nil
}
