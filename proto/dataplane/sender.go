package dataplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// Dialer connects to a peer's Edge service. tlsCfg is the node's client TLS
// (nil when the host gave it none) for TCP peers.
type Dialer func(ctx context.Context, peer *flowctlv1.Peer, tlsCfg *tls.Config) (*grpc.ClientConn, error)

// dialPeer is the default Dialer: unix sockets without TLS (they sit in the
// run's private directory), anything else with mutual TLS.
func dialPeer(_ context.Context, peer *flowctlv1.Peer, tlsCfg *tls.Config) (*grpc.ClientConn, error) {
	addr := peer.GetAddress()
	opts := wire.DialOptions()
	switch {
	case strings.HasPrefix(addr, "unix:"):
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	case tlsCfg == nil:
		return nil, fmt.Errorf("peer %s is reached over TCP, and the host gave no TLS material", addr)
	default:
		cfg := tlsCfg.Clone()
		cfg.ServerName = peer.GetServerName()
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
	return grpc.NewClient(addr, opts...)
}

// sender carries one edge: it takes batches from its queue and sends them on
// an Edge stream to its peer, in order. When the stream breaks (the peer
// died) it keeps the batch and connects again, to the address of the latest
// PeerUpdate; a batch may so reach a peer twice, which the shares tolerate
// (a rewind makes the older copy void).
type sender struct {
	from   uint32
	log    hclog.Logger
	dial   Dialer
	tls    *tls.Config
	epochs *epochs

	q chan item

	mu      sync.Mutex
	peer    *flowctlv1.Peer
	moved   bool // peer changed since the stream was opened
	updated chan struct{}

	// Owned by run.
	conn   *grpc.ClientConn
	stream flowctlv1.Edge_SendClient
}

// senderQueue bounds the batches waiting for one edge.
const senderQueue = 2

func newSender(from uint32, peer *flowctlv1.Peer, dial Dialer, tlsCfg *tls.Config, ep *epochs, log hclog.Logger) *sender {
	return &sender{
		from: from, log: log.With("peer", peer.GetNode()), dial: dial, tls: tlsCfg, epochs: ep,
		q: make(chan item, senderQueue), peer: peer, updated: make(chan struct{}),
	}
}

// update points the edge at a new address.
func (s *sender) update(p *flowctlv1.Peer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.peer, s.moved = p, true
	close(s.updated)
	s.updated = make(chan struct{})
}

// push queues it for sending; it blocks while the queue is full.
func (s *sender) push(ctx context.Context, it item) error {
	select {
	case s.q <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run sends until ctx ends, then closes the edge (waiting at most
// closeWait for the peer to confirm).
func (s *sender) run(ctx context.Context) {
	defer s.close()
	for {
		select {
		case it := <-s.q:
			if err := s.send(ctx, it); err != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

// send sends one batch, connecting (again) as often as it takes; it gives
// up only when ctx ends or the batch became void.
func (s *sender) send(ctx context.Context, it item) error {
	msg := &flowctlv1.EdgeMessage{Msg: &flowctlv1.EdgeMessage_Batch{Batch: &flowctlv1.EdgeBatch{
		Ticket: it.ticket, Weight: it.weight, Batch: it.batch,
	}}}
	wait := retryMin
	var since, warned time.Time
	for {
		if s.epochs.void(it.ticket) {
			return nil
		}
		s.mu.Lock()
		moved, updated := s.moved, s.updated
		s.mu.Unlock()
		if moved {
			s.drop()
		}
		err := s.connect(ctx)
		if err == nil {
			if err = s.stream.Send(msg); err == nil {
				return nil
			}
			s.drop()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A peer that stays unreachable is a misconfigured network (a
		// firewall between containers or Pods), not a restart: say so
		// where the user sees it, now and then, while trying on.
		now := time.Now()
		if since.IsZero() {
			since = now
		}
		if now.Sub(since) >= unreachableWarn && now.Sub(warned) >= unreachableWarn {
			warned = now
			s.log.Warn("cannot reach the next plugin; retrying", "address", s.address(), "for", now.Sub(since).Round(time.Second), "error", err)
		} else {
			s.log.Debug("edge broken; sending again", "error", err, "in", wait)
		}
		select {
		case <-time.After(wait):
			wait = min(2*wait, retryMax)
		case <-updated:
			wait = retryMin
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// unreachableWarn is how long a peer may stay unreachable before the
// sender warns, and then how often it warns again.
const unreachableWarn = 10 * time.Second

// address is where the sender currently sends.
func (s *sender) address() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer.GetAddress()
}

// How long a sender waits before connecting again, doubling per failure.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 2 * time.Second
)

func (s *sender) connect(ctx context.Context) error {
	if s.stream != nil {
		return nil
	}
	s.mu.Lock()
	peer := s.peer
	s.moved = false
	s.mu.Unlock()
	if s.conn == nil {
		conn, err := s.dial(ctx, peer, s.tls)
		if err != nil {
			return err
		}
		s.conn = conn
	}
	stream, err := flowctlv1.NewEdgeClient(s.conn).Send(ctx)
	if err != nil {
		return err
	}
	hello := &flowctlv1.EdgeMessage{Msg: &flowctlv1.EdgeMessage_Hello{Hello: &flowctlv1.EdgeHello{From: s.from, To: peer.GetNode()}}}
	if err := stream.Send(hello); err != nil {
		return err
	}
	s.stream = stream
	return nil
}

// drop forgets the stream and its connection; the next send dials anew.
func (s *sender) drop() {
	if s.stream != nil {
		_ = s.stream.CloseSend()
		s.stream = nil
	}
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// closeWait bounds how long closing an edge waits for the peer.
const closeWait = 2 * time.Second

func (s *sender) close() {
	if s.stream != nil {
		done := make(chan struct{})
		go func() {
			_, _ = s.stream.CloseAndRecv()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(closeWait):
		}
	}
	s.drop()
}
