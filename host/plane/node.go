package plane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/host/router"
	"github.com/flowctl/flowctl/pluginsdk/backoff"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// node is the coordinator's view of one component.
type node struct {
	c       *Coordinator
	id      uint32
	name    string
	kind    router.Kind
	log     hclog.Logger
	restart func(context.Context, error) (Conn, error)
	policy  router.ErrorPolicy
	tls     TLS

	inputs    []*node   // upstream nodes, and nodes that dead-letter into this one
	outputs   [][]*node // per downstream stage, its instances
	dlq       []*node   // the dead-letter sink's instances
	partition flowctlv1.Partition
	sources   []*node // sources upstream of this node (a source: itself)
	src       *sourceState

	// mu orders sends on the stream and guards the fields below.
	mu         sync.Mutex
	conn       Conn
	gen        uint64 // incarnation: 0 for the first stream, +1 per restart
	finishSent bool
	base, cur  *flowctlv1.NodeCounters // earlier incarnations, this one

	failed, retried, deadLettered, restarts atomic.Uint64
}

// fail wraps err as this node's failure, once.
func (n *node) fail(err error) error {
	var ne *router.NodeError
	if errors.As(err, &ne) {
		return err
	}
	return &router.NodeError{Node: n.name, Err: err}
}

// send sends req on the current stream. A failed send is left to the
// stream's receiver, which sees the failure too.
func (n *node) send(req *flowctlv1.NodeRequest) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sendLocked(req)
}

func (n *node) sendLocked(req *flowctlv1.NodeRequest) {
	if err := n.conn.Send(req); err != nil {
		n.log.Trace("send failed; the receiver sees why", "error", err)
	}
}

// sendIf sends req only if incarnation gen is still the current one: what
// it says is about that plugin's state.
func (n *node) sendIf(gen uint64, req *flowctlv1.NodeRequest) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.gen == gen {
		n.sendLocked(req)
	}
}

// sendOpen opens the current stream: the node's place in the graph, its
// peers and, for a source, where to resume.
func (n *node) sendOpen() error {
	open := &flowctlv1.NodeOpen{
		Node:    n.id,
		Kind:    n.kind.Proto(),
		TlsCert: n.tls.Cert, TlsKey: n.tls.Key, TlsCa: n.tls.CA,
		Epochs: map[uint32]uint32{},
	}
	for _, s := range n.sources {
		open.Epochs[s.id] = s.src.currentEpoch()
	}
	for g, stage := range n.outputs {
		open.Outputs = append(open.Outputs, n.group(g+1, stage)...)
	}
	if len(n.dlq) > 0 {
		open.DeadLetter = n.peer(n.dlq[0])
		if len(n.dlq) > 1 {
			open.DeadLetters = n.group(1, n.dlq)
		}
	}
	if n.src != nil {
		open.Source, open.Epoch, open.FirstSeq = n.src.openMsg()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.conn.Send(&flowctlv1.NodeRequest{Msg: &flowctlv1.NodeRequest_Open{Open: open}})
}

// peer is where n reaches to.
func (n *node) peer(to *node) *flowctlv1.Peer {
	p := &flowctlv1.Peer{}
	if f := n.c.opts.Peer; f != nil {
		if q := f(n.name, to.name); q != nil {
			p.Address, p.ServerName = q.GetAddress(), q.GetServerName()
		}
	}
	p.Node = to.id
	return p
}

// group is where n reaches the instances of one stage, as output group g.
func (n *node) group(g int, stage []*node) []*flowctlv1.Peer {
	out := make([]*flowctlv1.Peer, len(stage))
	for i, to := range stage {
		out[i] = n.peer(to)
		out[i].Group, out[i].Partition = uint32(g), to.partition
	}
	return out
}

// run reads the node's reports through as many streams as restarts take,
// until the node has finished (nil) or fails.
func (n *node) run(ctx context.Context) error {
	for {
		n.mu.Lock()
		conn, gen := n.conn, n.gen
		n.mu.Unlock()
		err := n.recv(ctx, conn, gen)
		var se *streamError
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.As(err, &se):
			return n.fail(err)
		case n.finishing():
			n.log.Warn("plugin failed after it was told to finish; nothing it held is needed", "error", err)
			return nil
		case n.restart == nil:
			return n.fail(err)
		}
		n.log.Warn("plugin failed; restarting it", "error", err)
		next, rerr := n.restart(ctx, err)
		if rerr != nil {
			return n.fail(rerr)
		}
		n.restarts.Add(1)
		if err := n.install(next); err != nil {
			return n.fail(err)
		}
	}
}

func (n *node) finishing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.finishSent
}

// recv handles the reports of one stream until it ends, or until ctx does:
// a receiver blocked in Recv then stays behind until the stream's own
// context ends or its plugin is killed (the caller does either), and
// handles nothing more. Reports are handled on the goroutine that receives
// them: a hand-off per report to another one cost the host a wake-up each.
func (n *node) recv(ctx context.Context, conn Conn, gen uint64) error {
	failed := make(chan error, 1)
	go func() {
		for {
			rep, err := conn.Recv()
			if err != nil {
				failed <- &recvError{err}
				return
			}
			if ctx.Err() != nil {
				return
			}
			if err := n.onReport(ctx, gen, rep); err != nil {
				failed <- err
				return
			}
		}
	}()
	select {
	case err := <-failed:
		var re *recvError
		if !errors.As(err, &re) {
			return err
		}
		err = re.err
		if errors.Is(err, io.EOF) {
			if n.finishing() {
				return nil
			}
			return &streamError{router.ErrUnexpectedClose}
		}
		if status.Code(err) == codes.FailedPrecondition {
			// The plugin says a restart cannot cure it
			// (pluginsdk.Permanent: a port in use, a permission).
			return fmt.Errorf("stream: %w", err)
		}
		return &streamError{fmt.Errorf("stream: %w", err)}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recvError is a stream's own failure, as Recv returned it.
type recvError struct{ err error }

func (e *recvError) Error() string { return e.err.Error() }

func (n *node) onReport(ctx context.Context, gen uint64, rep *flowctlv1.NodeReport) error {
	if c := rep.GetCounters(); c != nil {
		n.mu.Lock()
		n.cur = c
		n.mu.Unlock()
	}
	if b := rep.GetBatches(); len(b) > 0 || rep.GetEnded() {
		if n.src == nil {
			return fmt.Errorf("%w: batch reports from a %v", router.ErrProtocol, n.kind)
		}
		due, err := n.src.register(b, rep.GetEnded())
		if err != nil {
			return err
		}
		if due {
			n.src.sendCredits()
		}
		if f := n.c.opts.Remaining; f != nil && len(b) > 0 && b[len(b)-1].Remaining != nil {
			f(n.name, b[len(b)-1].GetRemaining())
		}
	}
	// Credits go out once per report and source, after every return of the
	// report is counted, from this goroutine (see releaseLocked).
	var due []*sourceState
	for _, r := range rep.GetReturns() {
		s, err := n.c.sourceOf(r.GetTicket())
		if err != nil {
			return err
		}
		d, err := s.src.giveBack(r.GetTicket(), r.GetWeight())
		if err != nil {
			return err
		}
		if d && !slices.Contains(due, s.src) {
			due = append(due, s.src)
		}
	}
	for _, s := range due {
		s.sendCredits()
	}
	for _, f := range rep.GetFailures() {
		if err := n.onFailure(ctx, gen, f); err != nil {
			return err
		}
	}
	if done := n.c.opts.BatchDone; done != nil {
		for _, d := range rep.GetBatchNanos() {
			done(n.name, time.Duration(d))
		}
	}
	return nil
}

// sourceOf is the source node a ticket names.
func (c *Coordinator) sourceOf(t *flowctlv1.Ticket) (*node, error) {
	id := t.GetSource()
	if int(id) >= len(c.nodes) || c.nodes[id].src == nil {
		return nil, fmt.Errorf("%w: a ticket names node %d, which is not a source", router.ErrProtocol, id)
	}
	return c.nodes[id], nil
}

// install makes next the node's stream after a restart and rewires the
// pipeline around it: see "Recovery" in the package documentation.
func (n *node) install(next Conn) error {
	c := n.c
	c.restartMu.Lock()
	defer c.restartMu.Unlock()
	n.mu.Lock()
	n.conn = next
	n.gen++
	n.base = addCounters(n.base, n.cur)
	n.cur = nil
	n.mu.Unlock()

	if n.src != nil {
		// The plugin lost what it kept: it reads again after the last
		// released position, under a new epoch.
		epoch := n.src.abandon()
		if err := n.sendOpen(); err != nil {
			return &streamError{fmt.Errorf("open: %w", err)}
		}
		n.notify(epoch)
		if n.src.isDraining() {
			n.send(&flowctlv1.NodeRequest{Msg: &flowctlv1.NodeRequest_Drain{Drain: &flowctlv1.Drain{}}})
		}
		n.log.Info("source restarted", "epoch", epoch)
		return nil
	}
	if err := n.sendOpen(); err != nil {
		return &streamError{fmt.Errorf("open: %w", err)}
	}
	for _, up := range n.inputs {
		up.send(&flowctlv1.NodeRequest{Msg: &flowctlv1.NodeRequest_Peer{Peer: &flowctlv1.PeerUpdate{Peer: up.peer(n)}}})
	}
	// What the old plugin held is gone: every source upstream sends what
	// it still keeps again.
	for _, s := range n.sources {
		s.src.rewindPlugin()
	}
	n.log.Info("plugin restarted")
	return nil
}

// notify tells every node downstream of source s that its batches below
// epoch are void.
func (s *node) notify(epoch uint32) {
	req := &flowctlv1.NodeRequest{Msg: &flowctlv1.NodeRequest_Epoch{Epoch: &flowctlv1.EpochNotice{Source: s.id, Epoch: epoch}}}
	for _, d := range s.src.downstream {
		if d != s {
			d.send(req)
		}
	}
}

// sendFinish tells the node that nothing it holds is needed any more.
func (n *node) sendFinish() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.finishSent {
		return
	}
	n.finishSent = true
	n.sendLocked(&flowctlv1.NodeRequest{Msg: &flowctlv1.NodeRequest_Finish{Finish: &flowctlv1.Finish{}}})
	if err := n.conn.CloseSend(); err != nil {
		n.log.Trace("close send failed; the receiver sees why", "error", err)
	}
}

// maybeFinish finishes a processor or sink once every source upstream of it
// has finished: everything derived from their batches is written.
func (n *node) maybeFinish() {
	for _, s := range n.sources {
		if !s.src.isFinished() {
			return
		}
	}
	n.sendFinish()
}

// onFailure decides on events the node failed, following its on_error.
func (n *node) onFailure(ctx context.Context, gen uint64, f *flowctlv1.Failure) error {
	s, err := n.c.sourceOf(f.GetTicket())
	if err != nil {
		return err
	}
	decide := func(a flowctlv1.Decision_Action, attempt uint32, reasons ...string) {
		n.sendIf(gen, &flowctlv1.NodeRequest{Msg: &flowctlv1.NodeRequest_Decision{Decision: &flowctlv1.Decision{Failure: f.GetId(), Action: a, Attempt: attempt, Reasons: reasons}}})
	}
	if s.src.stale(f.GetTicket()) {
		decide(flowctlv1.Decision_ACTION_DROP, 0)
		return nil
	}
	tries := f.GetRetries() + 1
	events := uint64(f.GetEvents())
	p := n.policy
	if p.Mode == router.ErrorRetry && int(f.GetRetries()) < p.Attempts {
		n.retried.Add(events)
		wait := retryDelay(p, int(f.GetRetries()))
		n.log.Warn("events failed; retrying", "events", events, "retry", tries, "of", p.Attempts, "in", wait, "error", n.reason(f))
		time.AfterFunc(wait, func() {
			if ctx.Err() == nil {
				decide(flowctlv1.Decision_ACTION_RETRY, tries)
			}
		})
		return nil
	}
	if p.DeadLetter != "" && (p.Mode == router.ErrorDeadLetter || p.Mode == router.ErrorRetry) {
		n.failed.Add(events)
		n.deadLettered.Add(events)
		n.log.Warn("events failed; sent to the dead-letter sink", "events", events, "attempts", tries, "error", n.reason(f))
		decide(flowctlv1.Decision_ACTION_DEAD_LETTER, tries, n.reasons(f)...)
		return nil
	}
	n.failed.Add(events)
	e := batchError(n.kind, f)
	e.Reason = n.reason(f)
	return e
}

// reasons are f's reasons through Options.Redact, for the dead letters'
// flowctl.error; nil without Redact (the plugin's words stand).
func (n *node) reasons(f *flowctlv1.Failure) []string {
	redact := n.c.opts.Redact
	if redact == nil {
		return nil
	}
	if f.GetError() != "" || len(f.GetErrors()) == 0 {
		return []string{redact(f.GetError())}
	}
	out := make([]string, len(f.GetErrors()))
	for i, e := range f.GetErrors() {
		out[i] = redact(e.GetMessage())
	}
	return out
}

// reason is why f's events failed (its first event's error when events
// failed one by one), through Options.Redact: a plugin's words may quote a
// sensitive value.
func (n *node) reason(f *flowctlv1.Failure) string {
	r := batchError(n.kind, f).Reason
	if redact := n.c.opts.Redact; redact != nil {
		r = redact(r)
	}
	return r
}

// batchError describes a failure that fails the run.
func batchError(kind router.Kind, f *flowctlv1.Failure) *router.BatchError {
	e := &router.BatchError{Kind: kind, Seq: f.GetSeq(), Event: -1, Reason: f.GetError(), Attempts: int(f.GetRetries()) + 1}
	if errs := f.GetErrors(); len(errs) > 0 && f.GetError() == "" {
		e.Event, e.Reason, e.More = int(errs[0].GetIndex()), errs[0].GetMessage(), len(errs)-1
	}
	return e
}

// retryDelay is the wait before retry number attempt+1: Delay, doubling up
// to MaxDelay, jittered (internal/backoff).
func retryDelay(p router.ErrorPolicy, attempt int) time.Duration {
	return backoff.Policy{Base: p.Delay, Max: p.MaxDelay}.Delay(attempt)
}

func addCounters(a, b *flowctlv1.NodeCounters) *flowctlv1.NodeCounters {
	return &flowctlv1.NodeCounters{
		BatchesIn: a.GetBatchesIn() + b.GetBatchesIn(), EventsIn: a.GetEventsIn() + b.GetEventsIn(),
		BatchesOut: a.GetBatchesOut() + b.GetBatchesOut(), EventsOut: a.GetEventsOut() + b.GetEventsOut(),
		EventsAcked: a.GetEventsAcked() + b.GetEventsAcked(), BatchesVoid: a.GetBatchesVoid() + b.GetBatchesVoid(),
	}
}

// snapshot is the node's NodeStats (see router.NodeStats): a processor's
// and a sink's come from the plugin's counters, a source's from what the
// coordinator registered and checkpointed.
func (n *node) snapshot() router.NodeStats {
	n.mu.Lock()
	c := addCounters(n.base, n.cur)
	queued := n.cur.GetQueuedBatches() // a gauge of the current plugin
	n.mu.Unlock()
	st := router.NodeStats{
		Name: n.name, Kind: n.kind,
		EventsIn: c.GetEventsIn(), BatchesIn: c.GetBatchesIn(),
		EventsOut: c.GetEventsOut(), BatchesOut: c.GetBatchesOut(),
		EventsAcked:  c.GetEventsAcked(),
		EventsFailed: n.failed.Load(), Retried: n.retried.Load(), DeadLettered: n.deadLettered.Load(),
		Restarts: n.restarts.Load(), Queued: queued,
	}
	if n.src != nil {
		st.Queued = uint64(n.src.unreleased())
		st.EventsIn, st.BatchesIn = 0, 0
		st.EventsOut, st.BatchesOut = n.src.eventsOut.Load(), n.src.batchesOut.Load()
		st.EventsAcked = n.src.acked.Load()
	}
	return st
}
