package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"

	"github.com/flowctl/flowctl/host/topology"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// SourceStream is the host's end of a Source.Stream call; the generated
// flowctlv1.Source_StreamClient satisfies it. The router calls Send from one
// goroutine and Recv from another, never either concurrently with itself.
type SourceStream interface {
	Send(*flowctlv1.SourceRequest) error
	Recv() (*flowctlv1.SourceResponse, error)
	CloseSend() error
}

// ProcessorStream is the host's end of a Processor.Stream call; the generated
// flowctlv1.Processor_StreamClient satisfies it. Same concurrency as
// SourceStream.
type ProcessorStream interface {
	Send(*flowctlv1.ProcessRequest) error
	Recv() (*flowctlv1.ProcessResponse, error)
	CloseSend() error
}

// SinkStream is the host's end of a Sink.Stream call; the generated
// flowctlv1.Sink_StreamClient satisfies it. Same concurrency as SourceStream.
type SinkStream interface {
	Send(*flowctlv1.SinkRequest) error
	Recv() (*flowctlv1.SinkAck, error)
	CloseSend() error
}

var (
	_ SourceStream    = (flowctlv1.Source_StreamClient)(nil)
	_ ProcessorStream = (flowctlv1.Processor_StreamClient)(nil)
	_ SinkStream      = (flowctlv1.Sink_StreamClient)(nil)
)

// Kind is the kind of a node, given by which stream it carries; it is the
// protocol's kind.
type Kind = wire.Kind

// The node kinds.
const (
	KindSource    = wire.KindSource
	KindProcessor = wire.KindProcessor
	KindSink      = wire.KindSink
)

// Streams holds a node's open stream: exactly one field is set, and it gives
// the node's kind. The router sends the first message.
type Streams struct {
	Source    SourceStream
	Processor ProcessorStream
	Sink      SinkStream
}

// Node is one component of the pipeline as the router sees it.
type Node struct {
	Name   string   // component address, e.g. "source.ticks"
	Inputs []string // names of upstream nodes; empty for sources

	Streams

	// Open is sent to a source as its first message: resume position and
	// batch shaping. The router sends a copy with Credits set to
	// Options.MaxInFlight. Nil means from the beginning, default shaping.
	Open *flowctlv1.SourceOpen

	// Restart, when set, is called after the node's stream failed (the
	// plugin crashed, hung or broke the connection) to replace the plugin:
	// it returns a freshly opened stream of the same kind, after whatever
	// backoff it applies. An error (for example, no attempts left) fails
	// the run as this node's error. Nil means a failed stream fails the run.
	// See "Restarts" in the package documentation.
	Restart func(ctx context.Context, cause error) (Streams, error)

	// OnError says what happens to events a processor fails or a sink
	// nacks. The zero value fails the run.
	OnError ErrorPolicy
}

// DefaultMaxInFlight is the bound Options.MaxInFlight defaults to.
const DefaultMaxInFlight = 16

// maxMaxInFlight keeps MaxInFlight within what a credit (uint32) carries and
// what the queues, allocated up front, can reasonably hold.
const maxMaxInFlight = 1 << 16

// Options configures a Router.
type Options struct {
	// Logger is named "router"; nil logs nothing.
	Logger hclog.Logger

	// MaxInFlight bounds the batches in flight per source (its credits), per
	// processor or sink inbox, and per processor or sink stream window.
	// Zero means DefaultMaxInFlight; at most 65536.
	MaxInFlight int

	// Checkpoint, when set, is called with a source's name, the position
	// the source is about to be acked up to and the number of events this
	// ack covers, before the ack is sent. Calls for one source come from one
	// goroutine in position order; calls for different sources may run
	// concurrently. An error fails the run and the ack is not sent. position
	// must not be modified.
	Checkpoint func(source string, position []byte, events uint64) error

	// CheckpointInterval is the shortest time between two checkpoints of a
	// source: positions released meanwhile are checkpointed, and acked to
	// the source, together. Credits do not wait for checkpoints. Zero
	// checkpoints every release as it comes.
	CheckpointInterval time.Duration

	// Redact, when set, rewrites the reason a processor or sink gives for
	// a failure before the router logs it, puts it on dead-lettered events
	// or returns it: the host scrubs sensitive values from it. Only the
	// failure path calls it.
	Redact func(string) string
}

// Router moves batches between the streams of one pipeline run. Build it with
// New; Run it once.
type Router struct {
	log   hclog.Logger
	opts  Options
	nodes []*node // in the order given to New

	sources    []*sourceRunner
	processors []*processorRunner
	sinks      []*sinkRunner

	drainOnce sync.Once
	drain     chan struct{} // closed by Drain

	ran atomic.Bool

	// recvWG counts the goroutines that call Recv; see goRecv.
	recvWG sync.WaitGroup
}

// node is what every runner shares: identity, counters and edges.
type node struct {
	name  string
	kind  Kind
	log   hclog.Logger
	stats counters
	in    *inbox   // nil for sources
	out   *outputs // nil for sinks
	// dlq is the edge to the dead-letter sink; nil without one.
	dlq    *outputs
	policy ErrorPolicy
	// redact is Options.Redact; nil leaves reasons as they are.
	redact func(string) string
}

// fail wraps err as this node's failure.
func (n *node) fail(err error) error { return &NodeError{Node: n.name, Err: err} }

// New checks the nodes and builds a Router. Each node has a name and exactly
// one stream, Open only on a source and a valid error policy; the shape
// follows the rules of package topology (unique names; sources without
// inputs, processors and sinks with at least one; every input a source or
// processor, at most once; every source and processor read by some node;
// dead-letter sinks that are sinks; no cycle).
func New(nodes []Node, opts Options) (*Router, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	switch {
	case opts.MaxInFlight == 0:
		opts.MaxInFlight = DefaultMaxInFlight
	case opts.MaxInFlight < 0 || opts.MaxInFlight > maxMaxInFlight:
		return nil, fmt.Errorf("router: MaxInFlight %d out of range 1..%d", opts.MaxInFlight, maxMaxInFlight)
	}
	if err := validate(nodes); err != nil {
		return nil, err
	}

	r := &Router{
		log:   opts.Logger.Named("router"),
		opts:  opts,
		drain: make(chan struct{}),
	}
	byName := make(map[string]*node, len(nodes))
	edges := make(map[string]int, len(nodes))
	for _, spec := range nodes {
		edges[spec.Name] += len(spec.Inputs)
		if spec.OnError.DeadLetter != "" {
			edges[spec.OnError.DeadLetter]++
		}
	}
	for _, spec := range nodes {
		n := &node{name: spec.Name, kind: kindOf(spec), policy: spec.OnError, redact: opts.Redact}
		n.log = r.log.With("component", n.name)
		if n.kind != KindSource {
			n.in = newInbox(opts.MaxInFlight, edges[n.name])
		}
		if n.kind != KindSink {
			n.out = &outputs{}
		}
		byName[n.name] = n
		r.nodes = append(r.nodes, n)
	}
	// Wire each input edge: the upstream's outputs feed this node's inbox;
	// and each dead-letter edge.
	for i, spec := range nodes {
		for _, in := range spec.Inputs {
			up := byName[in]
			up.out.to = append(up.out.to, r.nodes[i].in)
		}
		if dl := spec.OnError.DeadLetter; dl != "" {
			r.nodes[i].dlq = &outputs{to: []*inbox{byName[dl].in}}
		}
	}
	for i, spec := range nodes {
		n := r.nodes[i]
		switch n.kind {
		case KindSource:
			r.sources = append(r.sources, newSourceRunner(r, n, spec))
		case KindProcessor:
			r.processors = append(r.processors, &processorRunner{node: n, r: r, stream: spec.Processor, restart: spec.Restart, w: newWindow(opts.MaxInFlight)})
		case KindSink:
			r.sinks = append(r.sinks, &sinkRunner{node: n, r: r, stream: spec.Sink, restart: spec.Restart, w: newWindow(opts.MaxInFlight)})
		}
	}
	return r, nil
}

// Run moves batches until the pipeline has finished (every source ended or
// drained, everything in flight acked, every stream ended: nil), a component
// fails (the first failure, a *NodeError), or ctx is cancelled (ctx.Err()).
// See the package documentation for the streams' context after an early
// return. Run may be called once.
func (r *Router) Run(ctx context.Context) error {
	if !r.ran.CompareAndSwap(false, true) {
		return errors.New("router: Run called more than once")
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, s := range r.sources {
		g.Go(func() error { return s.run(gctx) })
	}
	for _, p := range r.processors {
		g.Go(func() error { return p.run(gctx) })
	}
	for _, s := range r.sinks {
		g.Go(func() error { return s.run(gctx) })
	}
	err := g.Wait()
	switch {
	case err == nil:
		// Every receiver has delivered its result, so none is left running.
		r.recvWG.Wait()
		r.log.Debug("pipeline finished")
		return nil
	case ctx.Err() != nil:
		// The caller cancelled: whatever failed on the way out is a
		// consequence, not the cause.
		r.log.Debug("run cancelled", "error", err)
		return ctx.Err()
	default:
		r.log.Debug("run failed", "error", err)
		return err
	}
}

// incarnation runs one stream of a node: send on this goroutine, recv (a
// loop around the stream's Recv) on another. It returns nil when both have
// finished in order, or the first failure of either. Recv does not watch
// ctx, so on failure the receiver may still be blocked: then pendingRecv is
// its result channel, which delivers once the stream ends (after a restart
// killed the plugin, or the caller cancelled the streams).
func (r *Router) incarnation(ctx context.Context, send func(context.Context) error, recv func() error) (pendingRecv <-chan error, err error) {
	ictx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan error, 1)
	r.recvWG.Add(1)
	go func() {
		defer r.recvWG.Done()
		err := recv()
		if err != nil {
			cancel(err)
		}
		done <- err
	}()
	if err := send(ictx); err != nil {
		if ctx.Err() == nil && ictx.Err() != nil {
			// The receiver failed first; the sender only stopped.
			err = context.Cause(ictx)
		}
		return done, err
	}
	select {
	case err := <-done:
		return nil, err
	case <-ctx.Done():
		return done, ctx.Err()
	}
}

// waitRecv waits for an earlier stream's receiver to finish.
func waitRecv(ctx context.Context, pendingRecv <-chan error) error {
	if pendingRecv == nil {
		return nil
	}
	select {
	case <-pendingRecv:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Drain stops the run gracefully: sources get no further credits, batches
// they send from now on are dropped unacked (they are read again after a
// resume), and everything already in flight is delivered, acked and
// checkpointed before Run returns nil. Drain does not wait; it may be called
// more than once, before or during Run.
func (r *Router) Drain() {
	r.drainOnce.Do(func() {
		r.log.Debug("draining")
		close(r.drain)
	})
}

// Stats returns each node's counters, in the order given to New. It may be
// called at any time, concurrently with Run.
func (r *Router) Stats() []NodeStats {
	out := make([]NodeStats, len(r.nodes))
	for i, n := range r.nodes {
		out[i] = n.stats.snapshot(n.name, n.kind)
	}
	return out
}

func kindOf(n Node) Kind {
	switch {
	case n.Source != nil:
		return KindSource
	case n.Processor != nil:
		return KindProcessor
	default:
		return KindSink
	}
}

// validate reports every problem with the nodes at once: what the
// router's own bookkeeping needs (a name, one stream, Open only on a
// source), the error policies, and the topology rules of package topology.
func validate(nodes []Node) error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("router: node %q: "+format, append([]any{name}, args...)...))
	}
	if len(nodes) == 0 {
		return errors.New("router: no nodes")
	}
	desc := make([]topology.Node, 0, len(nodes))
	for _, n := range nodes {
		streams := 0
		for _, set := range []bool{n.Source != nil, n.Processor != nil, n.Sink != nil} {
			if set {
				streams++
			}
		}
		switch {
		case n.Name == "":
			errs = append(errs, errors.New("router: node with an empty name"))
		case streams != 1:
			bad(n.Name, "%d streams set, want exactly one of Source, Processor, Sink", streams)
		default:
			desc = append(desc, topology.Node{Name: n.Name, Kind: kindOf(n), Inputs: n.Inputs, DeadLetter: n.OnError.DeadLetter})
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, n := range nodes {
		errs = append(errs, validatePolicy(n)...)
		if kindOf(n) != KindSource && n.Open != nil {
			bad(n.Name, "Open is only for sources")
		}
	}
	// A cycle is named by every node it holds up, as the router always
	// has, rather than by one loop.
	cycle := false
	for _, p := range topology.Check(desc) {
		switch p.Rule {
		case topology.Cycle:
			cycle = true
		default:
			errs = append(errs, fmt.Errorf("router: %s", p))
		}
	}
	if cycle {
		_, stuck := topology.Order(desc)
		errs = append(errs, fmt.Errorf("router: cycle: nodes %q are on or downstream of a cycle", stuck))
	}
	return errors.Join(errs...)
}

// validatePolicy checks a node's error policy; where its dead-letter sink
// may be is a topology rule.
func validatePolicy(n Node) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("router: node %q: "+format, append([]any{n.Name}, args...)...))
	}
	p := n.OnError
	if kindOf(n) == KindSource && (p != ErrorPolicy{}) {
		bad("a source has no error policy")
		return errs
	}
	switch p.Mode {
	case ErrorFail:
		if p.DeadLetter != "" {
			bad("a dead-letter sink needs on_error retry or dead_letter")
		}
	case ErrorRetry:
		if p.Attempts < 1 || p.Delay < 0 || p.MaxDelay < 0 {
			bad("retry needs at least 1 attempt and delays of 0 or more")
		}
	case ErrorDeadLetter:
		if p.DeadLetter == "" {
			bad("on_error dead_letter without a dead-letter sink")
		}
	default:
		bad("unknown error mode %v", p.Mode)
	}
	return errs
}
