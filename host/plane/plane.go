package plane

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/sync/errgroup"

	"github.com/flowctl/flowctl/host/router"
	"github.com/flowctl/flowctl/host/topology"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Conn is the host's end of a component's Node.Run stream; the generated
// flowctlv1.Node_RunClient satisfies it. The coordinator calls Recv from one
// goroutine and Send under a lock of its own.
type Conn interface {
	Send(*flowctlv1.NodeRequest) error
	Recv() (*flowctlv1.NodeReport, error)
	CloseSend() error
}

var _ Conn = (flowctlv1.Node_RunClient)(nil)

// TLS is what a node needs to dial peers over TCP (PEM): its certificate and
// key, and the run's CA. Empty when every peer is on a unix socket.
type TLS struct {
	Cert, Key, CA []byte
}

// Node is one plugin of the pipeline as the coordinator sees it: a
// component, or one instance of a parallel one.
type Node struct {
	Name   string      // component address, e.g. "source.ticks", or an instance's, "processor.tag[1]"
	Kind   router.Kind // source, processor or sink
	Inputs []string    // components upstream (their Stage); empty for sources

	// Stage is the component a parallel node is an instance of; its
	// instances share one output of every upstream. Empty means Name.
	Stage string
	// Partition is how the stage's instances share batches: whole batches
	// to whichever is ready (PARTITION_ANY), or split by event key. Every
	// instance of a stage gives the same.
	Partition flowctlv1.Partition

	// Conn is the component's open control stream, configured and not yet
	// opened: the coordinator sends NodeOpen.
	Conn Conn

	// Open is a source's resume position and batch shaping; the coordinator
	// sets its credits. Nil means from the beginning, default shaping.
	Open *flowctlv1.SourceOpen

	// TLS is sent to the component in NodeOpen.
	TLS TLS

	// Restart, when set, replaces the plugin after its stream failed (it
	// crashed, hung or broke the connection): it returns a new configured
	// stream, after whatever backoff it applies; Options.Peer then gives
	// the new plugin's address. An error (no attempts left) fails the run
	// as this node's. Nil means a failed stream fails the run.
	Restart func(ctx context.Context, cause error) (Conn, error)

	// OnError says what happens to events a processor fails or a sink
	// nacks. The zero value fails the run.
	OnError router.ErrorPolicy
}

func (n *Node) stage() string {
	if n.Stage == "" {
		return n.Name
	}
	return n.Stage
}

// DefaultMaxInFlight is the bound Options.MaxInFlight defaults to.
const DefaultMaxInFlight = 16

// Options configures a Coordinator.
type Options struct {
	// Logger is named "plane"; nil logs nothing.
	Logger hclog.Logger

	// MaxInFlight bounds the batches in flight per source: its credits, and
	// so what every component downstream of it may hold, and the batches a
	// failure can deliver twice. Zero means DefaultMaxInFlight.
	MaxInFlight int

	// Peer says where node to's Edge service is reached from node from (an
	// address may depend on where the dialling plugin runs). It is called
	// when from is opened and after every restart of to.
	Peer func(from, to string) *flowctlv1.Peer

	// Checkpoint, when set, is called with a source's name, the position the
	// source is about to be acked up to and the number of events this ack
	// covers, before the ack is sent. Calls for one source come in position
	// order from one goroutine. An error fails the run and the ack is not
	// sent.
	Checkpoint func(source string, position []byte, events uint64) error

	// CheckpointInterval is the shortest time between two checkpoints of a
	// source; positions released meanwhile are checkpointed together.
	// Credits do not wait for checkpoints. Zero checkpoints every release.
	CheckpointInterval time.Duration

	// Redact, when set, rewrites the reason a processor or sink gives for
	// failed events before it reaches an error or a log line: a plugin's
	// words may quote a sensitive value (host/redact).
	Redact func(string) string

	// TicketDone, when set, is called with a source's name and the time from
	// the report of a batch to its release (every sink wrote what came of
	// it). It must not block.
	TicketDone func(source string, d time.Duration)

	// BatchDone, when set, is called with a processor's or sink's name and
	// the time from a batch's arrival there to its answer, as the plugin
	// reports it. It must not block.
	BatchDone func(node string, d time.Duration)

	// Remaining, when set, is called with a source's name and the events
	// it says it has left, as its batch reports carry them. It must not
	// block.
	Remaining func(source string, n uint64)
}

// Coordinator runs one pipeline on the direct data plane. Build it with New;
// Run it once.
type Coordinator struct {
	log   hclog.Logger
	opts  Options
	nodes []*node // in the order given to New; a node's index is its id

	drainOnce sync.Once
	drain     chan struct{} // closed by Drain

	// restartMu makes installing a restarted plugin and telling the others
	// about it one step.
	restartMu sync.Mutex

	ran atomic.Bool
}

// New builds a Coordinator. It refuses what would break its own
// bookkeeping (a node without a name or a stream, a name given twice, a
// stage whose instances disagree) and a shape that breaks the rules of
// package topology (the ones host/pipeline reports to the pipeline's
// author), checked on the stages.
func New(nodes []Node, opts Options) (*Coordinator, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.MaxInFlight == 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.MaxInFlight < 0 || opts.MaxInFlight > 1<<16 {
		return nil, fmt.Errorf("plane: MaxInFlight %d out of range 1..65536", opts.MaxInFlight)
	}
	if err := validate(nodes); err != nil {
		return nil, err
	}
	c := &Coordinator{log: opts.Logger.Named("plane"), opts: opts, drain: make(chan struct{})}
	byName := make(map[string]*node, len(nodes))
	stages := make(map[string][]*node, len(nodes))
	for i, spec := range nodes {
		n := &node{
			c: c, id: uint32(i), name: spec.Name, kind: spec.Kind, conn: spec.Conn,
			restart: spec.Restart, policy: spec.OnError, tls: spec.TLS, partition: spec.Partition,
		}
		st := spec.stage()
		if prev := stages[st]; len(prev) > 0 && (prev[0].kind != n.kind || prev[0].partition != n.partition) {
			return nil, fmt.Errorf("plane: the instances of %q differ in kind or partition", st)
		}
		stages[st] = append(stages[st], n)
		n.log = c.log.With("component", n.name)
		if n.kind == router.KindSource {
			n.src = newSourceState(n, spec.Open)
		}
		byName[n.name] = n
		c.nodes = append(c.nodes, n)
	}
	// Outputs in the order of the downstream stages' first instances, so
	// that every instance of a stage sees the same groups.
	for i, spec := range nodes {
		n := c.nodes[i]
		st := spec.stage()
		if stages[st][0] != n {
			continue
		}
		for _, in := range spec.Inputs {
			for _, up := range stages[in] {
				up.outputs = append(up.outputs, stages[st])
				for _, inst := range stages[st] {
					inst.inputs = append(inst.inputs, up)
				}
			}
		}
	}
	for i, spec := range nodes {
		n := c.nodes[i]
		if dl := spec.OnError.DeadLetter; dl != "" {
			n.dlq = stages[dl]
			for _, d := range n.dlq {
				d.inputs = append(d.inputs, n)
			}
		}
	}
	for _, n := range c.nodes {
		n.sources = upstreamSources(n)
		for _, s := range n.sources {
			s.src.downstream = append(s.src.downstream, n)
		}
	}
	return c, nil
}

// validate reports every problem with nodes at once: a node without a
// name or a stream, a name given twice, and the topology rules, checked
// on the stages (a parallel component's instances are one stage, described
// by its first instance).
func validate(nodes []Node) error {
	var errs []error
	desc := make([]topology.Node, 0, len(nodes))
	named := make(map[string]bool, len(nodes))
	described := make(map[string]bool, len(nodes))
	for _, spec := range nodes {
		switch {
		case spec.Name == "":
			errs = append(errs, errors.New("plane: a node has no name"))
		case named[spec.Name]:
			errs = append(errs, fmt.Errorf("plane: node %q named twice", spec.Name))
		case spec.Conn == nil:
			errs = append(errs, fmt.Errorf("plane: node %q has no stream", spec.Name))
		case !described[spec.stage()]:
			described[spec.stage()] = true
			desc = append(desc, topology.Node{Name: spec.stage(), Kind: spec.Kind, Inputs: spec.Inputs, DeadLetter: spec.OnError.DeadLetter})
		}
		named[spec.Name] = true
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	for _, p := range topology.Check(desc) {
		errs = append(errs, fmt.Errorf("plane: %s", p))
	}
	return errors.Join(errs...)
}

// upstreamSources lists the sources a batch can come from to reach n (along
// inputs and dead-letter edges), each once.
func upstreamSources(n *node) []*node {
	seen := map[*node]bool{}
	var out []*node
	var walk func(*node)
	walk = func(m *node) {
		if seen[m] {
			return
		}
		seen[m] = true
		if m.kind == router.KindSource {
			out = append(out, m)
		}
		for _, in := range m.inputs {
			walk(in)
		}
	}
	walk(n)
	return out
}

// Run coordinates the pipeline until it has finished (every source ended or
// drained, everything it sent written and acked, every component finished:
// nil), a component fails (the first failure, a *router.NodeError), or ctx is
// cancelled (ctx.Err()). On an early return the caller kills the plugins.
func (c *Coordinator) Run(ctx context.Context) error {
	if !c.ran.CompareAndSwap(false, true) {
		return errors.New("plane: Run called more than once")
	}
	g, gctx := errgroup.WithContext(ctx)
	// Downstream first, so that every edge finds its peer listening.
	for i := len(c.nodes) - 1; i >= 0; i-- {
		n := c.nodes[i]
		if err := n.sendOpen(); err != nil {
			return n.fail(&streamError{fmt.Errorf("open: %w", err)})
		}
	}
	for _, n := range c.nodes {
		g.Go(func() error { return n.run(gctx) })
		if n.src != nil {
			g.Go(func() error { return n.src.ackLoop(gctx) })
		}
	}
	err := g.Wait()
	switch {
	case err == nil:
		c.log.Debug("pipeline finished")
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return err
	}
}

// Drain stops the run gracefully: every source stops reading, and what it
// has already sent is delivered, acked and checkpointed before Run returns
// nil. Drain does not wait; it may be called more than once.
func (c *Coordinator) Drain() {
	c.drainOnce.Do(func() {
		c.log.Debug("draining")
		close(c.drain)
	})
}

// Stats returns each node's counters, in the order given to New. It may be
// called at any time, concurrently with Run.
func (c *Coordinator) Stats() []router.NodeStats {
	out := make([]router.NodeStats, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.snapshot()
	}
	return out
}

// streamError marks a failure of a stream itself (the plugin crashed, hung
// and was killed, or the connection broke), which a restart may cure.
type streamError struct{ err error }

func (e *streamError) Error() string { return e.err.Error() }
func (e *streamError) Unwrap() error { return e.err }
