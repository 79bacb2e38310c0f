package dataplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/go-hclog"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// Control is a node's end of its Node.Run stream; the generated
// flowctlv1.Node_RunServer satisfies it. Run calls Send from one goroutine
// and Recv from another.
type Control interface {
	Send(*flowctlv1.NodeReport) error
	Recv() (*flowctlv1.NodeRequest, error)
	Context() context.Context
}

var _ Control = (flowctlv1.Node_RunServer)(nil)

// Options tune Run.
type Options struct {
	// Logger is named after the component; nil logs nothing.
	Logger hclog.Logger
	// Component is the component's address ("processor.tag"), for the
	// dead-letter attribute and messages.
	Component string
	// Dial connects to peers; nil dials unix sockets in the clear and TCP
	// with the TLS material NodeOpen carries.
	Dial Dialer
}

// ErrProtocol is the host breaking the protocol (a message out of place).
var ErrProtocol = errors.New("protocol violation")

// Run serves one component on the direct data plane: it reads NodeOpen from
// ctrl, opens h (a SourceHandler, ProcessorHandler or SinkHandler, matching
// the kind NodeOpen names), takes the node's edges from mux, sends its
// batches to its peers and reports to the host, until the host says Finish
// (nil) or something fails. The caller tears h's component down afterwards.
func Run(ctrl Control, mux *Mux, h any, opts Options) error {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Dial == nil {
		opts.Dial = dialPeer
	}
	first, err := ctrl.Recv()
	if err != nil {
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return fmt.Errorf("%w: the first node message must be open", ErrProtocol)
	}
	ctx, cancel := context.WithCancelCause(ctrl.Context())
	defer cancel(nil)
	n, err := newNode(ctx, open, opts)
	if err != nil {
		return err
	}
	n.counters.queued = func() uint64 { return uint64(len(n.in.ch)) } // a source's stays empty
	gap := reportGap
	if wire.KindFromProto(open.GetKind()) == wire.KindSource {
		gap = sourceReportGap
	}
	n.rep = newReporter(ctrl.Send, &n.counters, gap)
	repCtx, stopReports := context.WithCancel(context.WithoutCancel(ctx))
	go n.rep.run(repCtx)

	var main func(context.Context) error
	switch kind := wire.KindFromProto(open.GetKind()); {
	case kind == wire.KindSource:
		sh, ok := h.(SourceHandler)
		if !ok {
			stopReports()
			return fmt.Errorf("%w: opened as a source, but the component is not one", ErrProtocol)
		}
		main = func(ctx context.Context) error { return n.runSource(ctx, sh, open) }
	case kind == wire.KindProcessor || kind == wire.KindSink:
		c, err := newConsumer(n, kind, h)
		if err != nil {
			stopReports()
			return err
		}
		mux.attach(n.id, n.in)
		defer mux.detach(n.id, n.in)
		main = c.run
	default:
		stopReports()
		return fmt.Errorf("%w: open for kind %v", ErrProtocol, open.GetKind())
	}

	var wg sync.WaitGroup
	sendCtx, stopSenders := context.WithCancel(ctx)
	for _, s := range n.senders() {
		wg.Go(func() { s.run(sendCtx) })
	}
	ctrlDone := make(chan error, 1)
	go func() { ctrlDone <- n.control(ctx, ctrl) }()

	mainDone := make(chan error, 1)
	go func() { mainDone <- main(ctx) }()
	for waiting := true; waiting; {
		select {
		case err = <-mainDone:
			waiting = false
		case <-n.rep.stopped:
			err, waiting = fmt.Errorf("report: %w", n.rep.err), false
		case err = <-ctrlDone:
			// The host half-closed (finish): the main loop ends next.
			ctrlDone, waiting = nil, err == nil
		}
	}
	close(n.in.done)
	stopSenders()
	wg.Wait()
	if err == nil {
		// Finished: the last report carries the final counters.
		stopReports()
		<-n.rep.stopped
		if n.rep.err != nil {
			err = fmt.Errorf("report: %w", n.rep.err)
		}
	}
	cancel(err)
	stopReports()
	if err == nil {
		return nil
	}
	// The main loop may still be in the component (a Process call); the
	// caller's teardown waits for it.
	return err
}

// node is what every kind of node shares.
type node struct {
	id        uint32
	component string
	log       hclog.Logger
	epochs    *epochs
	outs      []*output
	dlq       *output
	in        *inbox // consumers; sources have one only to satisfy Run's shutdown
	rep       *reporter
	counters  counters

	// Messages the control loop hands to the main loop.
	finish    chan struct{}
	finishOne sync.Once
	rewinds   chan uint32
	drains    chan struct{}
	decisions chan *flowctlv1.Decision
	notices   chan *flowctlv1.EpochNotice

	// Sources: what the control loop does with acks (set before control
	// starts).
	onAck func(ctx context.Context, ack *flowctlv1.SourceAck) error
}

func newNode(_ context.Context, open *flowctlv1.NodeOpen, opts Options) (*node, error) {
	n := &node{
		id:        open.GetNode(),
		component: opts.Component,
		log:       opts.Logger,
		epochs:    newEpochs(open.GetEpochs()),
		in:        newInbox(),
		finish:    make(chan struct{}),
		rewinds:   make(chan uint32, 1),
		drains:    make(chan struct{}, 1),
		decisions: make(chan *flowctlv1.Decision, 64),
		notices:   make(chan *flowctlv1.EpochNotice, 16),
	}
	var tlsCfg *tls.Config
	if len(open.GetTlsCert()) > 0 {
		cert, err := tls.X509KeyPair(open.GetTlsCert(), open.GetTlsKey())
		if err != nil {
			return nil, fmt.Errorf("node TLS certificate: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(open.GetTlsCa()) {
			return nil, errors.New("node TLS: the CA holds no PEM certificate")
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}
	}
	mk := func(p *flowctlv1.Peer) *sender {
		return newSender(n.id, p, opts.Dial, tlsCfg, n.epochs, n.log)
	}
	n.outs = outputs(open.GetOutputs(), mk)
	dl := open.GetDeadLetters()
	if len(dl) == 0 && open.GetDeadLetter() != nil {
		dl = []*flowctlv1.Peer{open.GetDeadLetter()}
	}
	if len(dl) > 0 {
		outs := outputs(dl, mk)
		if len(outs) != 1 {
			return nil, fmt.Errorf("%w: the dead-letter peers are %d outputs, not one", ErrProtocol, len(outs))
		}
		n.dlq = outs[0]
	}
	return n, nil
}

// senders lists the senders of every output and of the dead letters.
func (n *node) senders() []*sender {
	var out []*sender
	for _, o := range n.outs {
		out = append(out, o.members...)
	}
	if n.dlq != nil {
		out = append(out, n.dlq.members...)
	}
	return out
}

// peerSenders returns the senders whose peer is node id.
func (n *node) peerSenders(id uint32) []*sender {
	var out []*sender
	for _, s := range n.senders() {
		s.mu.Lock()
		if s.peer.GetNode() == id {
			out = append(out, s)
		}
		s.mu.Unlock()
	}
	return out
}

// control reads the host's messages until the stream ends. Acks are handled
// here, in order; everything the main loop must do is handed to it.
func (n *node) control(ctx context.Context, ctrl Control) error {
	for {
		req, err := ctrl.Recv()
		if errors.Is(err, io.EOF) {
			// The host half-closed: it has nothing more to say.
			n.finishOne.Do(func() { close(n.finish) })
			return nil
		}
		if err != nil {
			return err
		}
		switch m := req.GetMsg().(type) {
		case *flowctlv1.NodeRequest_Ack:
			if n.onAck == nil {
				return fmt.Errorf("%w: ack for a component that is not a source", ErrProtocol)
			}
			if err := n.onAck(ctx, m.Ack); err != nil {
				return err
			}
		case *flowctlv1.NodeRequest_Peer:
			for _, s := range n.peerSenders(m.Peer.GetPeer().GetNode()) {
				s.update(m.Peer.GetPeer())
			}
		case *flowctlv1.NodeRequest_Rewind:
			select {
			case n.rewinds <- m.Rewind.GetEpoch():
			case <-ctx.Done():
				return ctx.Err()
			}
		case *flowctlv1.NodeRequest_Drain:
			select {
			case n.drains <- struct{}{}:
			default:
			}
		case *flowctlv1.NodeRequest_Decision:
			select {
			case n.decisions <- m.Decision:
			case <-ctx.Done():
				return ctx.Err()
			}
		case *flowctlv1.NodeRequest_Epoch:
			n.epochs.raise(m.Epoch.GetSource(), m.Epoch.GetEpoch())
			select {
			case n.notices <- m.Epoch:
			default: // the main loop drops void failures on its next notice
			}
		case *flowctlv1.NodeRequest_Finish:
			n.finishOne.Do(func() { close(n.finish) })
		case *flowctlv1.NodeRequest_Open:
			return fmt.Errorf("%w: a second open", ErrProtocol)
		default:
			return fmt.Errorf("%w: empty node request", ErrProtocol)
		}
	}
}

// emit sends b, a batch of ticket t holding share w, along every output.
func (n *node) emit(ctx context.Context, t *flowctlv1.Ticket, w uint64, b *flowctlv1.Batch) error {
	parts, err := split(w, len(n.outs))
	if err != nil {
		return err
	}
	for i, s := range n.outs {
		if err := s.push(ctx, item{ticket: t, weight: parts[i], batch: b}); err != nil {
			return err
		}
	}
	n.counters.batchesOut.Add(1)
	n.counters.eventsOut.Add(uint64(b.GetCount()))
	return nil
}

// giveBack returns share w of ticket t to the host.
func (n *node) giveBack(t *flowctlv1.Ticket, w uint64) {
	n.rep.add(func(r *flowctlv1.NodeReport) {
		r.Returns = append(r.Returns, &flowctlv1.Return{Ticket: t, Weight: w})
	})
}
