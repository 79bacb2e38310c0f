package host

import (
	"sync"
	"time"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host/router"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Observer follows a run as it happens: the control plane, the metrics
// endpoint and the live status display are observers. Apply calls them
// from several goroutines, in order for any one component; an Observer
// must return quickly and never call back into the run from these calls.
type Observer interface {
	// RunStarted is called before the plugins start. view reads the run's
	// live counters until RunEnded returns.
	RunStarted(view RunView)
	// ComponentChanged reports a component's lifecycle (see EventType).
	ComponentChanged(ev ComponentEvent)
	// BatchDone reports how long a batch took: for a processor or sink,
	// from sending it to the plugin to its answer; for a source, from
	// receiving it to acking its position (every sink had it).
	BatchDone(component flowhcl.Address, kind flowhcl.Kind, latency time.Duration)
	// RunEnded is called once with the summary, after the plugins stopped.
	RunEnded(sum *Summary)
}

// RunView reads a run while it lasts.
type RunView interface {
	Pipeline() string
	// Stats returns every component's counters so far, in topological
	// order; they are the numbers the summary prints.
	Stats() []ComponentSummary
}

// EventType is what happened to a component.
type EventType int

// The component events, in the order a component lives them.
const (
	// EventStarted: its plugin process started and handshaked (Pid set).
	EventStarted EventType = iota + 1
	// EventServing: configured and streaming; also every passed health
	// check.
	EventServing
	// EventUnwell: a health check failed (Err); it is restarted after
	// three in a row.
	EventUnwell
	// EventFailed: the plugin crashed, hung or broke its stream (Err); it
	// is restarted if its restart policy allows.
	EventFailed
	// EventStopped: the plugin was stopped at the end of the run.
	EventStopped
)

func (t EventType) String() string {
	switch t {
	case EventStarted:
		return "started"
	case EventServing:
		return "serving"
	case EventUnwell:
		return "unwell"
	case EventFailed:
		return "failed"
	case EventStopped:
		return "stopped"
	}
	return "unknown"
}

// ComponentEvent is one lifecycle event of a component.
type ComponentEvent struct {
	Type    EventType
	Address flowhcl.Address
	// Instance names the instance of a parallel component it happened to
	// ("processor.tag[1]"); empty for a component of one instance.
	Instance string
	Plugin   string // plugin address with version, as in the summary
	Version  string
	Driver   string
	Pid      int
	Err      error
}

// Name is the component's address, or the instance's name.
func (ev ComponentEvent) Name() string { return nameOf(ev.Address, ev.Instance) }

// nameOf is how a member of a run is named: the instance's name
// ("processor.tag[1]") when its component runs several, else the
// component's address.
func nameOf(a flowhcl.Address, instance string) string {
	if instance != "" {
		return instance
	}
	return a.String()
}

// observers fans calls out to every Observer of a run.
type observers []Observer

func (os observers) runStarted(v RunView) {
	for _, o := range os {
		o.RunStarted(v)
	}
}

func (os observers) changed(ev ComponentEvent) {
	for _, o := range os {
		o.ComponentChanged(ev)
	}
}

func (os observers) runEnded(s *Summary) {
	for _, o := range os {
		o.RunEnded(s)
	}
}

// runView is the RunView of a run.
type runView struct{ r *run }

func (v runView) Pipeline() string          { return v.r.plan.Config.Pipeline.Name }
func (v runView) Stats() []ComponentSummary { return v.r.stats() }
func (r *run) event(t EventType, m *member, err error) {
	if len(r.opts.Observers) == 0 {
		return
	}
	// Observers show and store the error (status, the registry): a
	// plugin's words may quote a sensitive value.
	err = r.h.Redact.Error(err)
	ev := ComponentEvent{Type: t, Address: m.c.Address(), Plugin: m.c.Plugin.String(), Version: m.c.Plugin.Version, Driver: m.c.Driver, Err: err}
	if m.name != m.c.Address().String() {
		ev.Instance = m.name
	}
	r.mu.Lock()
	if m.inst != nil {
		ev.Pid = m.inst.Pid()
	}
	if err != nil {
		m.lastErr = firstLine(err)
	}
	r.mu.Unlock()
	observers(r.opts.Observers).changed(ev)
}

// meter times the batches of one component's current stream and counts
// those awaiting an answer (its backlog).
type meter struct {
	r    *run
	addr flowhcl.Address
	kind flowhcl.Kind

	mu      sync.Mutex
	pending map[uint64]time.Time // processors and sinks: by seq
	fifo    []sent               // sources: in the order received
	// Sources: batches received on the current stream, those acked (gone
	// from fifo) and those checkpointed; what the source said it has left.
	received, popped, checkpointed uint64
	remaining                      *uint64
}

type sent struct {
	position []byte
	at       time.Time
}

func (m *meter) backlog() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.pending) + len(m.fifo))
}

func (m *meter) send(seq uint64) {
	m.mu.Lock()
	m.pending[seq] = time.Now()
	m.mu.Unlock()
}

func (m *meter) answer(seq uint64) {
	m.mu.Lock()
	at, ok := m.pending[seq]
	delete(m.pending, seq)
	m.mu.Unlock()
	if ok {
		m.done(time.Since(at))
	}
}

// received notes a source batch; acked completes every batch up to and
// including position (acks are cumulative and in order).
func (m *meter) receivedBatch(position []byte, remaining *uint64) {
	m.mu.Lock()
	m.fifo = append(m.fifo, sent{position: position, at: time.Now()})
	m.received++
	if remaining != nil {
		m.remaining = remaining
	}
	m.mu.Unlock()
}

// setRemaining notes what a source said it has left (the direct data
// plane reports it apart from the batches).
func (m *meter) setRemaining(n uint64) {
	m.mu.Lock()
	m.remaining = &n
	m.mu.Unlock()
}

// checkpointedAt notes that every batch up to and including position is
// checkpointed (the checkpoint is written before the source's ack).
func (m *meter) checkpointedAt(position []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range m.fifo {
		if string(s.position) == string(position) {
			m.checkpointed = max(m.checkpointed, m.popped+uint64(i)+1)
			return
		}
	}
}

// sourceProgress is a source's batches not yet checkpointed and the
// events it said it has left (nil: it does not know).
func (m *meter) sourceProgress() (uncheckpointed uint64, remaining *uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.received > m.checkpointed {
		uncheckpointed = m.received - m.checkpointed
	}
	return uncheckpointed, m.remaining
}

func (m *meter) acked(position []byte) {
	now := time.Now()
	var done []time.Duration
	m.mu.Lock()
	for i, s := range m.fifo {
		if string(s.position) == string(position) {
			for _, d := range m.fifo[:i+1] {
				done = append(done, now.Sub(d.at))
			}
			m.fifo = m.fifo[i+1:]
			m.popped += uint64(i + 1)
			break
		}
	}
	m.mu.Unlock()
	for _, d := range done {
		m.done(d)
	}
}

func (m *meter) done(d time.Duration) {
	for _, o := range m.r.opts.Observers {
		o.BatchDone(m.addr, m.kind, d)
	}
}

// meterStreams wraps s so that m sees every batch; it replaces m's pending
// batches (a restarted plugin's stream starts afresh).
func (m *meter) meterStreams(s router.Streams) router.Streams {
	m.mu.Lock()
	m.pending, m.fifo = map[uint64]time.Time{}, nil
	m.received, m.popped, m.checkpointed = 0, 0, 0 // what was not checkpointed is read again
	m.mu.Unlock()
	switch {
	case s.Source != nil:
		s.Source = meteredSource{s.Source, m}
	case s.Processor != nil:
		s.Processor = meteredProcessor{s.Processor, m}
	case s.Sink != nil:
		s.Sink = meteredSink{s.Sink, m}
	}
	return s
}

type meteredSource struct {
	router.SourceStream
	m *meter
}

func (s meteredSource) Send(req *flowctlv1.SourceRequest) error {
	if a := req.GetAck(); a != nil && len(a.GetPosition()) > 0 {
		s.m.acked(a.GetPosition())
	}
	return s.SourceStream.Send(req)
}

func (s meteredSource) Recv() (*flowctlv1.SourceResponse, error) {
	resp, err := s.SourceStream.Recv()
	if b := resp.GetBatch(); err == nil && b != nil {
		s.m.receivedBatch(b.GetPosition(), b.Remaining)
	}
	return resp, err
}

type meteredProcessor struct {
	router.ProcessorStream
	m *meter
}

func (s meteredProcessor) Send(req *flowctlv1.ProcessRequest) error {
	s.m.send(req.GetSeq())
	return s.ProcessorStream.Send(req)
}

func (s meteredProcessor) Recv() (*flowctlv1.ProcessResponse, error) {
	resp, err := s.ProcessorStream.Recv()
	if err == nil {
		s.m.answer(resp.GetSeq())
	}
	return resp, err
}

type meteredSink struct {
	router.SinkStream
	m *meter
}

func (s meteredSink) Send(req *flowctlv1.SinkRequest) error {
	s.m.send(req.GetSeq())
	return s.SinkStream.Send(req)
}

func (s meteredSink) Recv() (*flowctlv1.SinkAck, error) {
	ack, err := s.SinkStream.Recv()
	if err == nil {
		s.m.answer(ack.GetSeq())
	}
	return ack, err
}
