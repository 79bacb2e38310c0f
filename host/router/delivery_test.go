package router

// Delivery under failure: plugin restarts (Node.Restart), on_error retry and
// dead_letter (Node.OnError), the counters they keep and what Checkpoint
// sees meanwhile.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

var errReset = errors.New("connection reset")

// with applies set to the fixture's node called name.
func (f *fixture) with(name string, set func(*Node)) *fixture {
	for i := range f.nodes {
		if f.nodes[i].Name == name {
			set(&f.nodes[i])
			return f
		}
	}
	panic("fixture: no node " + name)
}

// restarter is a Node.Restart that records its causes and opens next.
type restarter struct {
	next func(ctx context.Context) (Streams, error)

	mu     sync.Mutex
	causes []error
}

func (r *restarter) restart(ctx context.Context, cause error) (Streams, error) {
	r.mu.Lock()
	r.causes = append(r.causes, cause)
	r.mu.Unlock()
	return r.next(ctx)
}

func (r *restarter) calls() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.causes)
}

// checkOneRestart checks that Restart was called once, for a failure of
// node whose text is want.
func (r *restarter) checkOneRestart(t *testing.T, node, want string) {
	t.Helper()
	causes := r.calls()
	if len(causes) != 1 {
		t.Fatalf("Restart called %d times (%v), want once", len(causes), causes)
	}
	var ne *NodeError
	if cause := causes[0]; cause.Error() != want || !errors.As(cause, &ne) || ne.Node != node {
		t.Errorf("Restart cause %q (%T), want a *NodeError %q", cause, cause, want)
	}
}

// checkpoints records Options.Checkpoint calls.
type checkpoints struct {
	mu        sync.Mutex
	positions map[string][]uint64
	events    map[string]uint64
}

func newCheckpoints() *checkpoints {
	return &checkpoints{positions: map[string][]uint64{}, events: map[string]uint64{}}
}

func (c *checkpoints) record(source string, position []byte, events uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.positions[source] = append(c.positions[source], unpos(position))
	c.events[source] += events
	return nil
}

func (c *checkpoints) get(source string) (positions []uint64, events uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.positions[source]), c.events[source]
}

// checkComplete checks that source was checkpointed in increasing positions
// up to last, and that the events reported add up to events: each acked
// event counted once.
func (c *checkpoints) checkComplete(t *testing.T, source string, last, events uint64) {
	t.Helper()
	positions, sum := c.get(source)
	if !slices.IsSorted(positions) || hasRepeat(positions) {
		t.Errorf("%s checkpoints %v, want strictly increasing", source, positions)
	}
	if len(positions) == 0 || positions[len(positions)-1] != last {
		t.Errorf("%s checkpoints %v, want the last to be %d", source, tail(positions), last)
	}
	if sum != events {
		t.Errorf("%s checkpoints reported %d events, want %d", source, sum, events)
	}
}

// checkBefore checks that source was never checkpointed at or past failed.
func (c *checkpoints) checkBefore(t *testing.T, source string, failed uint64) {
	t.Helper()
	positions, _ := c.get(source)
	for _, p := range positions {
		if p >= failed {
			t.Errorf("%s checkpointed position %d, at or past the failed event %d", source, p, failed)
		}
	}
}

func hasRepeat(s []uint64) bool {
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			return true
		}
	}
	return false
}

func tail(s []uint64) []uint64 { return s[max(0, len(s)-8):] }

// checkAtLeastOnce checks that got holds every id of want at least once and
// nothing else, with at most maxDup ids more than once; it returns those.
func checkAtLeastOnce(t *testing.T, what string, got, want []uint64, maxDup int) (dups []uint64) {
	t.Helper()
	seen := make(map[uint64]int, len(got))
	for _, id := range got {
		seen[id]++
		if seen[id] > 1 {
			dups = append(dups, id)
		}
	}
	var missing []uint64
	for _, id := range want {
		if seen[id] == 0 {
			missing = append(missing, id)
		}
		delete(seen, id)
	}
	if len(missing) > 0 {
		t.Errorf("%s is missing %d events: %v...", what, len(missing), head(missing))
	}
	if len(seen) > 0 {
		t.Errorf("%s got %d events it should not have", what, len(seen))
	}
	if len(dups) > maxDup {
		t.Errorf("%s got %d duplicates %v..., want at most %d (what was in flight)", what, len(dups), head(dups), maxDup)
	}
	return dups
}

// checkExactlyOnce checks that got is want, in any order.
func checkExactlyOnce(t *testing.T, what string, got, want []uint64) {
	t.Helper()
	if !slices.Equal(sorted(got), sorted(want)) {
		t.Errorf("%s got %d events %v..., want each of %d exactly once", what, len(got), head(sorted(got)), len(want))
	}
}

// checkRestarts checks every node's Restarts counter: want for the nodes
// named, 0 for the others.
func checkRestarts(t *testing.T, r *Router, want map[string]uint64) {
	t.Helper()
	for _, s := range r.Stats() {
		if s.Restarts != want[s.Name] {
			t.Errorf("%s Restarts = %d, want %d", s.Name, s.Restarts, want[s.Name])
		}
	}
}

// checkSourceAcked checks that the source was acked up to last, and that the
// plugin never held more than maxInFlight batches in flight.
func checkSourceAcked(t *testing.T, name string, src *fakeSource, last uint64, maxInFlight int) {
	t.Helper()
	acks := src.ackPositions()
	if len(acks) == 0 || acks[len(acks)-1] != last {
		t.Errorf("%s acks %v, want the last to be %d", name, tail(acks), last)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.maxInFlight > maxInFlight {
		t.Errorf("%s had %d batches in flight, want at most %d", name, src.maxInFlight, maxInFlight)
	}
}

func checkProblems(t *testing.T, name string, p *problems) {
	t.Helper()
	for _, msg := range p.get() {
		t.Errorf("%s: %s", name, msg)
	}
}

// A processor whose stream fails mid-run is replaced; the new stream gets
// what the old one held unanswered, numbered from 1, and nothing is lost.
func TestRestartProcessor(t *testing.T) {
	const maxInFlight, batch, events = 4, 5, 500
	tests := []struct {
		name    string
		quitErr error
		cause   string
		is      error
	}{
		{name: "stream error", quitErr: errReset, cause: "processor.tag: stream: connection reset", is: errReset},
		{name: "stream ends early", cause: "processor.tag: plugin closed its stream unexpectedly", is: ErrUnexpectedClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testCtx(t))
			src := &fakeSource{events: events, batch: batch}
			first := &fakeProcessor{quitAt: 9, quitErr: tt.quitErr}
			second := &fakeProcessor{}
			rs := &restarter{next: func(context.Context) (Streams, error) {
				return Streams{Processor: second.stream(f.ctx)}, nil
			}}
			f.source("source.ticks", src).
				processor("processor.tag", first, "source.ticks").
				sink("sink.out", &fakeSink{}, "processor.tag").
				with("processor.tag", func(n *Node) { n.Restart = rs.restart })
			cps := newCheckpoints()
			r, err := f.run(t, Options{MaxInFlight: maxInFlight, Checkpoint: cps.record})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			f.checkFakes(t)
			checkProblems(t, "restarted processor.tag", &second.problems) // seqs from 1, contiguous
			rs.checkOneRestart(t, "processor.tag", tt.cause)
			if !errors.Is(rs.calls()[0], tt.is) {
				t.Errorf("Restart cause %v is not %v", rs.calls()[0], tt.is)
			}

			// The old plugin answered batches 1..8 and took batch 9 down
			// with it: the new one starts with batch 9 as its seq 1.
			if got := first.answered.Load(); got != 8 {
				t.Fatalf("first processor answered up to %d, want 8", got)
			}
			reqs := second.received()
			if len(reqs) == 0 || reqs[0].seq != 1 || !slices.Equal(reqs[0].ids, ids(8*batch, batch)) {
				t.Errorf("restarted processor's first request %v, want seq 1 with events %v", reqs[:min(1, len(reqs))], ids(8*batch, batch))
			}

			checkAtLeastOnce(t, "sink.out", f.sinks["sink.out"].got(), ids(0, events), maxInFlight*batch)
			checkRestarts(t, r, map[string]uint64{"processor.tag": 1})
			checkSourceAcked(t, "source.ticks", src, events-1, maxInFlight)
			cps.checkComplete(t, "source.ticks", events-1, events)
			if s := statsByName(r)["processor.tag"]; s.EventsOut != events || s.EventsIn < events {
				t.Errorf("processor.tag stats %+v, want %d events out, at least as many in", s, events)
			}
		})
	}
}

// A sink whose stream fails after writing a batch, before acking it, is
// replaced; that batch is sent again, so its events are the only duplicates.
func TestRestartSink(t *testing.T) {
	const maxInFlight, batch, events = 4, 5, 300
	f := newFixture(testCtx(t))
	src := &fakeSource{events: events, batch: batch}
	first := &fakeSink{quitAt: 6, quitAfterWrite: true, quitErr: errReset}
	second := &fakeSink{}
	rs := &restarter{next: func(context.Context) (Streams, error) {
		return Streams{Sink: second.stream(f.ctx)}, nil
	}}
	f.source("source.ticks", src).
		processor("processor.tag", &fakeProcessor{}, "source.ticks").
		sink("sink.out", first, "processor.tag").
		with("sink.out", func(n *Node) { n.Restart = rs.restart })
	cps := newCheckpoints()
	r, err := f.run(t, Options{MaxInFlight: maxInFlight, Checkpoint: cps.record})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.checkFakes(t)
	checkProblems(t, "restarted sink.out", &second.problems)
	rs.checkOneRestart(t, "sink.out", "sink.out: stream: connection reset")

	reqs := second.received()
	written := ids(5*batch, batch) // batch 6, written but not acked
	if len(reqs) == 0 || reqs[0].seq != 1 || !slices.Equal(reqs[0].ids, written) {
		t.Errorf("restarted sink's first request %v, want seq 1 with events %v", reqs[:min(1, len(reqs))], written)
	}
	got := append(first.got(), second.got()...)
	if dups := checkAtLeastOnce(t, "sink.out", got, ids(0, events), maxInFlight*batch); !slices.Equal(sorted(dups), written) {
		t.Errorf("duplicates %v, want exactly the batch written before the failure %v", dups, written)
	}
	checkRestarts(t, r, map[string]uint64{"sink.out": 1})
	checkSourceAcked(t, "source.ticks", src, events-1, maxInFlight)
	cps.checkComplete(t, "source.ticks", events-1, events)
	if s := statsByName(r)["sink.out"]; s.EventsAcked != events || s.EventsFailed != 0 {
		t.Errorf("sink.out stats %+v, want %d events acked, none failed", s, events)
	}
}

// A processor whose Send fails (the connection broke on the host's side) is
// replaced; Restart must end the old plugin, whose answers may be lost.
func TestRestartAfterSendFails(t *testing.T) {
	const maxInFlight, batch, events = 4, 5, 300
	f := newFixture(testCtx(t))
	pctx, kill := context.WithCancel(f.ctx)
	defer kill()
	first := &fakeProcessor{}
	second := &fakeProcessor{}
	old := startPipe(pctx, first.run)
	rs := &restarter{next: func(context.Context) (Streams, error) {
		kill()
		<-old.done // the old plugin is gone before the new one starts
		return Streams{Processor: second.stream(f.ctx)}, nil
	}}
	src := &fakeSource{events: events, batch: batch}
	f.source("source.ticks", src).
		processor("processor.tag", first, "source.ticks").
		sink("sink.out", &fakeSink{}, "processor.tag").
		with("processor.tag", func(n *Node) {
			n.Processor = &failSend{ProcessorStream: old, at: 6, err: errors.New("broken pipe")}
			n.Restart = rs.restart
		})
	r, err := f.run(t, Options{MaxInFlight: maxInFlight})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkProblems(t, "restarted processor.tag", &second.problems)
	rs.checkOneRestart(t, "processor.tag", "processor.tag: send: broken pipe")
	if reqs := second.received(); len(reqs) == 0 || reqs[0].seq != 1 {
		t.Errorf("restarted processor's first request %v, want seq 1", reqs[:min(1, len(reqs))])
	}
	checkAtLeastOnce(t, "sink.out", f.sinks["sink.out"].got(), ids(0, events), maxInFlight*batch)
	checkRestarts(t, r, map[string]uint64{"processor.tag": 1})
	checkSourceAcked(t, "source.ticks", src, events-1, maxInFlight)
}

// failSend is a processor stream whose Send fails on call number at, as over
// a broken connection.
type failSend struct {
	ProcessorStream
	at    int
	err   error
	calls int // Send is only called from one goroutine
}

func (s *failSend) Send(req *flowctlv1.ProcessRequest) error {
	s.calls++
	if s.calls == s.at {
		return s.err
	}
	return s.ProcessorStream.Send(req)
}

// A source whose stream fails is re-opened after the last batch the router
// received, with the credits its predecessor's batches in flight do not
// hold; those batches are acked on the new stream.
func TestRestartSource(t *testing.T) {
	const maxInFlight, batch, events = 4, 5, 300
	tests := []struct {
		name      string
		quitAfter int
		// gated holds the sink until the restart, so every batch the old
		// stream sent is still in flight when the new one opens.
		gated       bool
		wantCredits int // -1: any up to maxInFlight
	}{
		{name: "every credit in flight", quitAfter: maxInFlight, gated: true, wantCredits: 0},
		{name: "mid-run", quitAfter: 13, wantCredits: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testCtx(t))
			src := &fakeSource{events: events, batch: batch, quitAfter: tt.quitAfter, quitErr: errReset}
			sink := &fakeSink{}
			var gate chan struct{}
			if tt.gated {
				gate = make(chan struct{})
				sink.gate = gate
			}
			rs := &restarter{next: func(context.Context) (Streams, error) {
				s := Streams{Source: src.stream(f.ctx)} // the same fake, resuming
				if gate != nil {
					close(gate)
				}
				return s, nil
			}}
			f.source("source.ticks", src).
				sink("sink.out", sink, "source.ticks").
				with("source.ticks", func(n *Node) { n.Restart = rs.restart })
			cps := newCheckpoints()
			r, err := f.run(t, Options{MaxInFlight: maxInFlight, Checkpoint: cps.record})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			f.checkFakes(t) // acks on the new stream are checked against every batch sent
			rs.checkOneRestart(t, "source.ticks", "source.ticks: stream: connection reset")

			src.mu.Lock()
			opens := slices.Clone(src.opens)
			src.mu.Unlock()
			if len(opens) != 2 {
				t.Fatalf("source opened %d times, want 2", len(opens))
			}
			if len(opens[0].GetPosition()) != 0 || opens[0].GetCredits() != maxInFlight {
				t.Errorf("first open %v, want no position and %d credits", opens[0], maxInFlight)
			}
			lastReceived := uint64(tt.quitAfter*batch - 1)
			if got := unpos(opens[1].GetPosition()); got != lastReceived {
				t.Errorf("second open at position %d, want %d, the last batch received", got, lastReceived)
			}
			if c := int(opens[1].GetCredits()); (tt.wantCredits >= 0 && c != tt.wantCredits) || c > maxInFlight {
				t.Errorf("second open with %d credits, want %d (at most %d)", c, tt.wantCredits, maxInFlight)
			}

			// The router kept what it had received: nothing is read twice.
			if got := sink.got(); !slices.Equal(got, ids(0, events)) {
				t.Errorf("sink got %d events %v..., want 0..%d once, in order", len(got), head(got), events-1)
			}
			checkRestarts(t, r, map[string]uint64{"source.ticks": 1})
			// The router holds at most maxInFlight tickets; the plugin may
			// also count as unacked those released on the failed stream
			// whose ack never reached it.
			checkSourceAcked(t, "source.ticks", src, events-1, 2*maxInFlight)
			cps.checkComplete(t, "source.ticks", events-1, events)
			if s := statsByName(r)["source.ticks"]; s.EventsOut != events || s.EventsAcked != events {
				t.Errorf("source stats %+v, want %d events out and acked", s, events)
			}
		})
	}
}

// A source whose Send fails (an ack on a broken connection) is replaced;
// Restart must end the old plugin. Batches the router never received are
// read again; nothing the router received is.
func TestRestartSourceAfterSendFails(t *testing.T) {
	const maxInFlight, batch, events = 4, 5, 300
	f := newFixture(testCtx(t))
	pctx, kill := context.WithCancel(f.ctx)
	defer kill()
	src := &fakeSource{events: events, batch: batch}
	old := startPipe(pctx, src.run)
	rs := &restarter{next: func(context.Context) (Streams, error) {
		kill()
		<-old.done // the old plugin is gone before the new one starts
		return Streams{Source: src.stream(f.ctx)}, nil
	}}
	f.source("source.ticks", src).
		sink("sink.out", &fakeSink{}, "source.ticks").
		with("source.ticks", func(n *Node) {
			// Send 1 is the open, then acks.
			n.Source = &failSourceSend{SourceStream: old, at: 5, err: errors.New("broken pipe")}
			n.Restart = rs.restart
		})
	cps := newCheckpoints()
	r, err := f.run(t, Options{MaxInFlight: maxInFlight, Checkpoint: cps.record})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.checkFakes(t)
	rs.checkOneRestart(t, "source.ticks", "source.ticks: send: broken pipe")
	src.mu.Lock()
	opens := slices.Clone(src.opens)
	src.mu.Unlock()
	if len(opens) != 2 || len(opens[1].GetPosition()) == 0 {
		t.Fatalf("source opens %v, want a second one with a position", opens)
	}
	if got := f.sinks["sink.out"].got(); !slices.Equal(got, ids(0, events)) {
		t.Errorf("sink got %d events %v..., want 0..%d once, in order", len(got), head(got), events-1)
	}
	checkRestarts(t, r, map[string]uint64{"source.ticks": 1})
	checkSourceAcked(t, "source.ticks", src, events-1, 2*maxInFlight)
	cps.checkComplete(t, "source.ticks", events-1, events)
	// The release whose ack could not be sent was checkpointed: it counts.
	if s := statsByName(r)["source.ticks"]; s.EventsOut != events || s.EventsAcked != events {
		t.Errorf("source stats %+v, want %d events out and acked (checkpointed)", s, events)
	}
}

// failSourceSend is a source stream whose Send fails on call number at.
type failSourceSend struct {
	SourceStream
	at    int
	err   error
	calls int // Send is only called from one goroutine
}

func (s *failSourceSend) Send(req *flowctlv1.SourceRequest) error {
	s.calls++
	if s.calls == s.at {
		return s.err
	}
	return s.SourceStream.Send(req)
}

// A source whose stream fails after SourceEnd has nothing more to give: it
// is not restarted, and what it sent is still delivered and checkpointed,
// up to its last position. A release the router has taken from the tracker
// when the stream fails is checkpointed and counted all the same (it was
// once dropped, now and then leaving a finished run with no checkpoint).
func TestSourceFailsAfterEnd(t *testing.T) {
	tests := []struct {
		name          string
		batch, events int
		sink          *fakeSink
	}{
		{name: "acks still to come", batch: 5, events: 200, sink: &fakeSink{delay: 20 * time.Microsecond}},
		// The failure races the last acks.
		{name: "acks racing the failure", batch: 1, events: 3, sink: &fakeSink{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testCtx(t))
			src := &fakeSource{events: tt.events, batch: tt.batch, quitAfterEnd: true, quitErr: errReset}
			rs := &restarter{next: func(context.Context) (Streams, error) {
				return Streams{}, errors.New("restart not expected")
			}}
			f.source("source.ticks", src).
				sink("sink.out", tt.sink, "source.ticks").
				with("source.ticks", func(n *Node) { n.Restart = rs.restart })
			cps := newCheckpoints()
			r, err := f.run(t, Options{MaxInFlight: 64, Checkpoint: cps.record})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if causes := rs.calls(); len(causes) != 0 {
				t.Errorf("Restart called for %v, want no restart", causes)
			}
			if got := tt.sink.got(); !slices.Equal(got, ids(0, tt.events)) {
				t.Errorf("sink got %d events, want 0..%d", len(got), tt.events-1)
			}
			checkRestarts(t, r, nil)
			cps.checkComplete(t, "source.ticks", uint64(tt.events-1), uint64(tt.events))
			if s := statsByName(r)["source.ticks"]; s.EventsAcked != uint64(tt.events) {
				t.Errorf("source stats %+v, want %d events acked", s, tt.events)
			}
		})
	}
}

// A Restart that fails, or opens the wrong kind of stream, fails the run as
// the node's error.
func TestRestartFails(t *testing.T) {
	errNoAttempts := errors.New("plugin failed and has no restart attempts left")
	tests := []struct {
		name  string
		node  string
		build func(f *fixture)
		next  func(context.Context) (Streams, error)
		want  string
		is    error
	}{
		{
			name: "source",
			node: "source.ticks",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10, quitAfter: 3, quitErr: errReset}).
					sink("sink.out", &fakeSink{}, "source.ticks")
			},
			next: func(context.Context) (Streams, error) { return Streams{}, errNoAttempts },
			want: "source.ticks: plugin failed and has no restart attempts left",
			is:   errNoAttempts,
		},
		{
			name: "processor",
			node: "processor.tag",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					processor("processor.tag", &fakeProcessor{quitAt: 3, quitErr: errReset}, "source.ticks").
					sink("sink.out", &fakeSink{}, "processor.tag")
			},
			next: func(context.Context) (Streams, error) { return Streams{}, errNoAttempts },
			want: "processor.tag: plugin failed and has no restart attempts left",
			is:   errNoAttempts,
		},
		{
			name: "sink",
			node: "sink.out",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					sink("sink.out", &fakeSink{quitAt: 3, quitErr: errReset}, "source.ticks")
			},
			next: func(context.Context) (Streams, error) { return Streams{}, errNoAttempts },
			want: "sink.out: plugin failed and has no restart attempts left",
			is:   errNoAttempts,
		},
		{
			name: "sink restarted as a processor",
			node: "sink.out",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					sink("sink.out", &fakeSink{quitAt: 3, quitErr: errReset}, "source.ticks")
			},
			next: func(ctx context.Context) (Streams, error) {
				return Streams{Processor: (&fakeProcessor{}).stream(ctx)}, nil
			},
			want: "sink.out: restart returned no sink stream",
		},
		{
			name: "source restarted with nothing",
			node: "source.ticks",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10, quitAfter: 3, quitErr: errReset}).
					sink("sink.out", &fakeSink{}, "source.ticks")
			},
			next: func(context.Context) (Streams, error) { return Streams{}, nil },
			want: "source.ticks: restart returned no source stream",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testCtx(t))
			tt.build(f)
			rs := &restarter{next: tt.next}
			f.with(tt.node, func(n *Node) { n.Restart = rs.restart })
			r, err := f.run(t, Options{MaxInFlight: 4})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Run: %v, want %q", err, tt.want)
			}
			var ne *NodeError
			if !errors.As(err, &ne) || ne.Node != tt.node {
				t.Errorf("Run: %v (%T) is not a *NodeError naming %s", err, err, tt.node)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("Run: %v does not wrap Restart's error", err)
			}
			if len(rs.calls()) != 1 {
				t.Errorf("Restart called %d times, want once", len(rs.calls()))
			}
			// Only a restart that happened counts.
			if tt.is != nil {
				checkRestarts(t, r, nil)
			}
		})
	}
}

// Without Restart a failed stream fails the run, as it always has.
func TestStreamFailureWithoutRestart(t *testing.T) {
	tests := []struct {
		name  string
		build func(f *fixture)
		want  string
		is    error
		// The failed batch starts at this event (0: the source failed).
		acksBelow uint64
	}{
		{
			name: "source stream error",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10, quitAfter: 3, quitErr: errReset}).
					sink("sink.out", &fakeSink{}, "source.ticks")
			},
			want: "source.ticks: stream: connection reset",
			is:   errReset,
		},
		{
			name: "source ends its stream before SourceEnd",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10, quitAfter: 3}).
					sink("sink.out", &fakeSink{}, "source.ticks")
			},
			want: "source.ticks: plugin closed its stream unexpectedly",
			is:   ErrUnexpectedClose,
		},
		{
			name: "processor stream error",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					processor("processor.tag", &fakeProcessor{quitAt: 3, quitErr: errReset}, "source.ticks").
					sink("sink.out", &fakeSink{}, "processor.tag")
			},
			want:      "processor.tag: stream: connection reset",
			acksBelow: 20,
			is:        errReset,
		},
		{
			name: "processor ends its stream early",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					processor("processor.tag", &fakeProcessor{quitAt: 3}, "source.ticks").
					sink("sink.out", &fakeSink{}, "processor.tag")
			},
			want:      "processor.tag: plugin closed its stream unexpectedly",
			acksBelow: 20,
			is:        ErrUnexpectedClose,
		},
		{
			name: "sink stream error",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
					sink("sink.out", &fakeSink{quitAt: 3, quitErr: errReset}, "source.ticks")
			},
			want:      "sink.out: stream: connection reset",
			acksBelow: 20,
			is:        errReset,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testCtx(t))
			tt.build(f)
			r, err := f.run(t, Options{MaxInFlight: 4})
			if err == nil || err.Error() != tt.want {
				t.Fatalf("Run: %v, want %q", err, tt.want)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("Run: %v is not %v", err, tt.is)
			}
			checkRestarts(t, r, nil)
			if tt.acksBelow == 0 {
				return
			}
			for _, at := range f.sources["source.ticks"].ackPositions() {
				if at >= tt.acksBelow {
					t.Errorf("source acked position %d, at or past the failed batch at %d", at, tt.acksBelow)
				}
			}
		})
	}
}

// on_error = "retry": failed events are sent again, as a batch of their own,
// until they pass; the checkpoint waits for them.
func TestRetry(t *testing.T) {
	const maxInFlight, batch, events = 4, 5, 200
	// failing fails events (or batches) the first times calls.
	failing := func(times int, fails func(ids []uint64) bool, reason string) func(ids []uint64) string {
		var mu sync.Mutex
		failed := map[uint64]int{}
		return func(ids []uint64) string {
			mu.Lock()
			defer mu.Unlock()
			if !fails(ids) || failed[ids[0]] >= times {
				return ""
			}
			failed[ids[0]]++
			return reason
		}
	}
	startsAt30 := func(ids []uint64) bool { return ids[0] == 30 }
	tests := []struct {
		name        string
		codec       codec
		processor   *fakeProcessor // nil: source straight into the sink
		sink        *fakeSink
		node        string
		wantRetried uint64
	}{
		{
			name:        "sink nacks a batch twice",
			sink:        &fakeSink{nackIf: failing(2, startsAt30, "disk full")},
			node:        "sink.out",
			wantRetried: 2 * batch,
		},
		{
			name:        "processor fails a batch twice",
			processor:   &fakeProcessor{failBatch: failing(2, startsAt30, "bad batch")},
			sink:        &fakeSink{},
			node:        "processor.tag",
			wantRetried: 2 * batch,
		},
		{
			name:  "processor fails single events once",
			codec: protoCodec,
			processor: &fakeProcessor{codec: protoCodec, failEvents: func() func(uint64) string {
				fail := failing(1, func(ids []uint64) bool { return ids[0]%10 == 3 }, "boom")
				return func(id uint64) string { return fail([]uint64{id}) }
			}()},
			sink:        &fakeSink{codec: protoCodec},
			node:        "processor.tag",
			wantRetried: events / 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testCtx(t))
			src := &fakeSource{events: events, batch: batch, codec: tt.codec}
			f.source("source.ticks", src)
			input := "source.ticks"
			if tt.processor != nil {
				f.processor("processor.tag", tt.processor, "source.ticks")
				input = "processor.tag"
			}
			f.sink("sink.out", tt.sink, input).
				with(tt.node, func(n *Node) {
					n.OnError = ErrorPolicy{Mode: ErrorRetry, Attempts: 3, Delay: time.Millisecond}
				})
			cps := newCheckpoints()
			r, err := f.run(t, Options{MaxInFlight: maxInFlight, Checkpoint: cps.record})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			f.checkFakes(t)
			checkExactlyOnce(t, "sink.out", tt.sink.got(), ids(0, events))
			stats := statsByName(r)
			if s := stats[tt.node]; s.Retried != tt.wantRetried || s.EventsFailed != 0 || s.DeadLettered != 0 {
				t.Errorf("%s stats %+v, want Retried %d, nothing failed or dead-lettered", tt.node, s, tt.wantRetried)
			}
			if s := stats["sink.out"]; s.EventsAcked != events {
				t.Errorf("sink.out stats %+v, want %d events acked", s, events)
			}
			checkSourceAcked(t, "source.ticks", src, events-1, maxInFlight)
			cps.checkComplete(t, "source.ticks", events-1, events)
		})
	}
}

// Retries that run out without a dead-letter sink fail the run with a
// *BatchError that counts the attempts; nothing from the failed events on
// is checkpointed.
func TestRetryExhausted(t *testing.T) {
	const batch, events = 5, 200
	tests := []struct {
		name   string
		codec  codec
		build  func(f *fixture)
		node   string
		want   *regexp.Regexp
		kind   Kind
		event  int
		failed uint64 // the first failed event
	}{
		{
			name: "sink nack",
			build: func(f *fixture) {
				f.sink("sink.out", &fakeSink{nackIf: func(ids []uint64) string {
					if ids[0] == 30 {
						return "disk full"
					}
					return ""
				}}, "source.ticks")
			},
			node:   "sink.out",
			want:   regexp.MustCompile(`^sink\.out: batch \d+ not written: disk full \(after 2 attempts\)$`),
			kind:   KindSink,
			event:  -1,
			failed: 30,
		},
		{
			// The retry holds the failed event alone, so it is event 0.
			name:  "processor event error",
			codec: protoCodec,
			build: func(f *fixture) {
				f.processor("processor.tag", &fakeProcessor{codec: protoCodec, failEvents: func(id uint64) string {
					if id == 33 {
						return "boom"
					}
					return ""
				}}, "source.ticks").
					sink("sink.out", &fakeSink{codec: protoCodec}, "processor.tag")
			},
			node:   "processor.tag",
			want:   regexp.MustCompile(`^processor\.tag: batch \d+: event 0: boom \(after 2 attempts\)$`),
			kind:   KindProcessor,
			event:  0,
			failed: 33,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testCtx(t))
			src := &fakeSource{events: events, batch: batch, codec: tt.codec}
			f.source("source.ticks", src)
			tt.build(f)
			f.with(tt.node, func(n *Node) {
				n.OnError = ErrorPolicy{Mode: ErrorRetry, Attempts: 1, Delay: time.Millisecond}
			})
			cps := newCheckpoints()
			r, err := f.run(t, Options{MaxInFlight: 4, Checkpoint: cps.record})
			if err == nil || !tt.want.MatchString(err.Error()) {
				t.Fatalf("Run: %v, want %v", err, tt.want)
			}
			var ne *NodeError
			var be *BatchError
			if !errors.As(err, &ne) || ne.Node != tt.node || !errors.As(err, &be) {
				t.Fatalf("Run: %v (%T) is not a *NodeError for %s wrapping a *BatchError", err, err, tt.node)
			}
			if be.Attempts != 2 || be.Kind != tt.kind || be.Event != tt.event {
				t.Errorf("BatchError %+v, want Attempts 2, Kind %v, Event %d", be, tt.kind, tt.event)
			}
			if s := statsByName(r)[tt.node]; s.Retried == 0 || s.EventsFailed == 0 || s.DeadLettered != 0 {
				t.Errorf("%s stats %+v, want events retried and failed, none dead-lettered", tt.node, s)
			}
			cps.checkBefore(t, "source.ticks", tt.failed)
			for _, at := range src.ackPositions() {
				if at >= tt.failed {
					t.Errorf("source acked position %d, at or past the failed event %d", at, tt.failed)
				}
			}
		})
	}
}

// Events sent to a dead-letter sink carry why they failed, where and after
// how many attempts; everything else goes on, and the source is acked for
// both.
func TestDeadLetter(t *testing.T) {
	const batch, events = 5, 200
	badID := func(id uint64) bool { return id%7 == 0 }
	nack30 := func(ids []uint64) string {
		if ids[0] == 30 {
			return "disk full"
		}
		return ""
	}
	tests := []struct {
		name      string
		processor *fakeProcessor // nil: source straight into the sink
		sink      *fakeSink
		node      string
		policy    ErrorPolicy
		// What the dead-letter sink gets, and its attributes.
		dead         []uint64
		reason       func(id uint64) string
		wantAttempts int
		wantRetried  uint64
	}{
		{
			name: "processor event errors",
			processor: &fakeProcessor{codec: protoCodec, failEvents: func(id uint64) string {
				if badID(id) {
					return fmt.Sprintf("event %d is bad", id)
				}
				return ""
			}},
			sink:         &fakeSink{codec: protoCodec},
			node:         "processor.tag",
			policy:       ErrorPolicy{Mode: ErrorDeadLetter, DeadLetter: "sink.dlq"},
			dead:         filterIDs(ids(0, events), badID),
			reason:       func(id uint64) string { return fmt.Sprintf("event %d is bad", id) },
			wantAttempts: 1,
		},
		{
			name:         "processor batch error",
			processor:    &fakeProcessor{codec: protoCodec, failBatch: func(ids []uint64) string { return nack30(ids) }},
			sink:         &fakeSink{codec: protoCodec},
			node:         "processor.tag",
			policy:       ErrorPolicy{Mode: ErrorDeadLetter, DeadLetter: "sink.dlq"},
			dead:         ids(30, batch),
			reason:       func(uint64) string { return "disk full" },
			wantAttempts: 1,
		},
		{
			name:         "sink nack",
			sink:         &fakeSink{codec: protoCodec, nackIf: nack30},
			node:         "sink.out",
			policy:       ErrorPolicy{Mode: ErrorDeadLetter, DeadLetter: "sink.dlq"},
			dead:         ids(30, batch),
			reason:       func(uint64) string { return "disk full" },
			wantAttempts: 1,
		},
		{
			name:         "sink nack after its retries",
			sink:         &fakeSink{codec: protoCodec, nackIf: nack30},
			node:         "sink.out",
			policy:       ErrorPolicy{Mode: ErrorRetry, Attempts: 2, Delay: time.Millisecond, DeadLetter: "sink.dlq"},
			dead:         ids(30, batch),
			reason:       func(uint64) string { return "disk full" },
			wantAttempts: 3,
			wantRetried:  2 * batch,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testCtx(t))
			src := &fakeSource{events: events, batch: batch, codec: protoCodec}
			dlq := &fakeSink{codec: protoCodec}
			f.source("source.ticks", src)
			input := "source.ticks"
			if tt.processor != nil {
				f.processor("processor.tag", tt.processor, "source.ticks")
				input = "processor.tag"
			}
			f.sink("sink.out", tt.sink, input).
				sink("sink.dlq", dlq). // no inputs: only dead letters
				with(tt.node, func(n *Node) { n.OnError = tt.policy })
			cps := newCheckpoints()
			r, err := f.run(t, Options{MaxInFlight: 4, Checkpoint: cps.record})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			f.checkFakes(t)

			checkExactlyOnce(t, "sink.dlq", dlq.got(), tt.dead)
			for _, e := range dlq.gotEvents() {
				id, _ := strconv.ParseUint(e.GetId(), 10, 64)
				want := map[string]string{
					"origin":      "fake",
					AttrError:     tt.reason(id),
					AttrComponent: tt.node,
					AttrAttempts:  strconv.Itoa(tt.wantAttempts),
				}
				if got := e.GetAttributes(); !mapsEqual(got, want) {
					t.Errorf("dead letter %s has attributes %v, want %v", e.GetId(), got, want)
				}
				if e.GetType() != "test.tick" || unpos(e.GetData()) != id {
					t.Errorf("dead letter %s changed: %v", e.GetId(), e)
				}
			}
			rest := filterIDs(ids(0, events), func(id uint64) bool { return !slices.Contains(tt.dead, id) })
			checkExactlyOnce(t, "sink.out", tt.sink.got(), rest)

			stats := statsByName(r)
			dead := uint64(len(tt.dead))
			if s := stats[tt.node]; s.DeadLettered != dead || s.EventsFailed != dead || s.Retried != tt.wantRetried {
				t.Errorf("%s stats %+v, want %d dead-lettered and failed, %d retried", tt.node, s, dead, tt.wantRetried)
			}
			if s := stats["sink.dlq"]; s.EventsIn != dead || s.EventsAcked != dead {
				t.Errorf("sink.dlq stats %+v, want %d events in and acked", s, dead)
			}
			checkSourceAcked(t, "source.ticks", src, events-1, 4)
			cps.checkComplete(t, "source.ticks", events-1, events)
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestNewValidatesErrorPolicy(t *testing.T) {
	src := &pipe[*flowctlv1.SourceRequest, *flowctlv1.SourceResponse]{}
	proc := &pipe[*flowctlv1.ProcessRequest, *flowctlv1.ProcessResponse]{}
	sink := &pipe[*flowctlv1.SinkRequest, *flowctlv1.SinkAck]{}
	dl := func(name string) ErrorPolicy { return ErrorPolicy{Mode: ErrorDeadLetter, DeadLetter: name} }
	// pipeline is source.a → processor.p → sink.out, plus extra nodes, with
	// the given policies.
	pipeline := func(p, out ErrorPolicy, extra ...Node) []Node {
		return append([]Node{
			{Name: "source.a", Streams: Streams{Source: src}},
			{Name: "processor.p", Inputs: []string{"source.a"}, Streams: Streams{Processor: proc}, OnError: p},
			{Name: "sink.out", Inputs: []string{"processor.p"}, Streams: Streams{Sink: sink}, OnError: out},
		}, extra...)
	}
	dlqSink := Node{Name: "sink.dlq", Streams: Streams{Sink: sink}}
	tests := []struct {
		name  string
		nodes []Node
		want  string // substring of the error; empty: valid
	}{
		{name: "dead-letter sink without inputs", nodes: pipeline(dl("sink.dlq"), dl("sink.dlq"), dlqSink)},
		{
			name:  "retry then dead letter",
			nodes: pipeline(ErrorPolicy{Mode: ErrorRetry, Attempts: 3, Delay: time.Second, MaxDelay: time.Minute, DeadLetter: "sink.dlq"}, ErrorPolicy{}, dlqSink),
		},
		{
			name: "dead-letter sink that also has inputs",
			nodes: pipeline(dl("sink.both"), ErrorPolicy{},
				Node{Name: "sink.both", Inputs: []string{"processor.p"}, Streams: Streams{Sink: sink}}),
		},
		{
			name:  "dead-letter sink with a retry policy of its own",
			nodes: pipeline(dl("sink.dlq"), ErrorPolicy{}, Node{Name: "sink.dlq", Streams: Streams{Sink: sink}, OnError: ErrorPolicy{Mode: ErrorRetry, Attempts: 2}}),
		},
		{
			name:  "dead letter to a processor",
			nodes: pipeline(ErrorPolicy{}, dl("processor.p")),
			want:  `node "sink.out": dead-letter target "processor.p" is not a sink`,
		},
		{
			name:  "dead letter to a source",
			nodes: pipeline(dl("source.a"), ErrorPolicy{}),
			want:  `node "processor.p": dead-letter target "source.a" is not a sink`,
		},
		{
			name:  "dead letter to an unknown node",
			nodes: pipeline(dl("sink.nowhere"), ErrorPolicy{}),
			want:  `node "processor.p": dead-letter target "sink.nowhere" is not a sink`,
		},
		{
			name:  "dead letter to itself",
			nodes: pipeline(ErrorPolicy{}, dl("sink.out")),
			want:  `node "sink.out": dead-letter sink is the node itself`,
		},
		{
			name: "dead-letter sink with a dead-letter sink",
			nodes: pipeline(dl("sink.dlq"), ErrorPolicy{},
				Node{Name: "sink.dlq", Streams: Streams{Sink: sink}, OnError: dl("sink.last")},
				Node{Name: "sink.last", Streams: Streams{Sink: sink}}),
			want: `node "sink.dlq": a dead-letter sink cannot have a dead-letter sink of its own`,
		},
		{
			name:  "dead_letter without a sink",
			nodes: pipeline(ErrorPolicy{Mode: ErrorDeadLetter}, ErrorPolicy{}),
			want:  `node "processor.p": on_error dead_letter without a dead-letter sink`,
		},
		{
			name:  "fail with a dead-letter sink",
			nodes: pipeline(ErrorPolicy{DeadLetter: "sink.dlq"}, ErrorPolicy{}, dlqSink),
			want:  `node "processor.p": a dead-letter sink needs on_error retry or dead_letter`,
		},
		{
			name:  "retry without attempts",
			nodes: pipeline(ErrorPolicy{}, ErrorPolicy{Mode: ErrorRetry}),
			want:  `node "sink.out": retry needs at least 1 attempt`,
		},
		{
			name:  "retry with a negative delay",
			nodes: pipeline(ErrorPolicy{Mode: ErrorRetry, Attempts: 1, Delay: -time.Second}, ErrorPolicy{}),
			want:  `node "processor.p": retry needs at least 1 attempt and delays of 0 or more`,
		},
		{
			name:  "unknown mode",
			nodes: pipeline(ErrorPolicy{Mode: 7}, ErrorPolicy{}),
			want:  `node "processor.p": unknown error mode ErrorMode(7)`,
		},
		{
			name: "source with a policy",
			nodes: []Node{
				{Name: "source.a", Streams: Streams{Source: src}, OnError: ErrorPolicy{Mode: ErrorRetry, Attempts: 1}},
				{Name: "sink.out", Inputs: []string{"source.a"}, Streams: Streams{Sink: sink}},
			},
			want: `node "source.a": a source has no error policy`,
		},
		{
			name:  "sink without inputs that is no dead-letter sink",
			nodes: pipeline(ErrorPolicy{}, ErrorPolicy{}, dlqSink),
			want:  `node "sink.dlq": a sink needs at least one input`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.nodes, Options{})
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestErrorModeString(t *testing.T) {
	for m, want := range map[ErrorMode]string{ErrorFail: "fail", ErrorRetry: "retry", ErrorDeadLetter: "dead_letter", 9: "ErrorMode(9)"} {
		if got := m.String(); got != want {
			t.Errorf("ErrorMode(%d).String() = %q, want %q", int(m), got, want)
		}
	}
}

// TestBackoff: retries wait at least the doubling delay, at most half again
// (jitter) and never past MaxDelay.
func TestBackoff(t *testing.T) {
	p := ErrorPolicy{Delay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}
	want := []time.Duration{10, 20, 40, 50, 50}
	for attempt, w := range want {
		w *= time.Millisecond
		for range 20 {
			if got := p.backoff(attempt); got < w || got > min(w+w/2, p.MaxDelay) {
				t.Fatalf("backoff(%d) = %v, want %v to %v", attempt, got, w, min(w+w/2, p.MaxDelay))
			}
		}
	}
	if got := (ErrorPolicy{Delay: time.Second}).backoff(3); got < 8*time.Second || got > 12*time.Second {
		t.Errorf("backoff without MaxDelay = %v, want 8s to 12s", got)
	}
}

func TestBatchErrorAttemptsText(t *testing.T) {
	err := &BatchError{Kind: KindSink, Seq: 9, Event: -1, Reason: "disk full", Attempts: 3}
	if got, want := err.Error(), "batch 9 not written: disk full (after 3 attempts)"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	err.Attempts = 1
	if got, want := err.Error(), "batch 9 not written: disk full"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
