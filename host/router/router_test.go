package router

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/goleak"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testCtx bounds a test and ends every fake stream when it is over, which is
// what a caller of Run must do with its streams.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func testLogger() hclog.Logger {
	// Debug level so the log calls run; discarded because receivers may
	// outlive a failed test's Run.
	return hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: io.Discard})
}

// fixture builds a topology of fakes.
type fixture struct {
	ctx     context.Context
	nodes   []Node
	sources map[string]*fakeSource
	procs   map[string]*fakeProcessor
	sinks   map[string]*fakeSink
}

func newFixture(ctx context.Context) *fixture {
	return &fixture{
		ctx:     ctx,
		sources: map[string]*fakeSource{},
		procs:   map[string]*fakeProcessor{},
		sinks:   map[string]*fakeSink{},
	}
}

func (f *fixture) source(name string, s *fakeSource) *fixture {
	return f.sourceAt(name, s, nil)
}

func (f *fixture) sourceAt(name string, s *fakeSource, open *flowctlv1.SourceOpen) *fixture {
	f.sources[name] = s
	f.nodes = append(f.nodes, Node{Name: name, Streams: Streams{Source: s.stream(f.ctx)}, Open: open})
	return f
}

func (f *fixture) processor(name string, p *fakeProcessor, inputs ...string) *fixture {
	f.procs[name] = p
	f.nodes = append(f.nodes, Node{Name: name, Inputs: inputs, Streams: Streams{Processor: p.stream(f.ctx)}})
	return f
}

func (f *fixture) sink(name string, s *fakeSink, inputs ...string) *fixture {
	f.sinks[name] = s
	f.nodes = append(f.nodes, Node{Name: name, Inputs: inputs, Streams: Streams{Sink: s.stream(f.ctx)}})
	return f
}

// run builds a router over the fixture and runs it.
func (f *fixture) run(t *testing.T, opts Options) (*Router, error) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	r, err := New(f.nodes, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r, r.Run(f.ctx)
}

// checkFakes fails the test for any protocol breach a fake noticed.
func (f *fixture) checkFakes(t *testing.T) {
	t.Helper()
	for name, s := range f.sources {
		for _, p := range s.get() {
			t.Errorf("%s: %s", name, p)
		}
	}
	for name, p := range f.procs {
		for _, p := range p.get() {
			t.Errorf("%s: %s", name, p)
		}
	}
	for name, s := range f.sinks {
		for _, p := range s.get() {
			t.Errorf("%s: %s", name, p)
		}
	}
}

func ids(base uint64, n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = base + uint64(i)
	}
	return out
}

func filterIDs(in []uint64, keep func(uint64) bool) []uint64 {
	var out []uint64
	for _, id := range in {
		if keep(id) {
			out = append(out, id)
		}
	}
	return out
}

func even(id uint64) bool { return id%2 == 0 }

func sorted(in []uint64) []uint64 {
	out := slices.Clone(in)
	slices.Sort(out)
	return out
}

func statsByName(r *Router) map[string]NodeStats {
	out := map[string]NodeStats{}
	for _, s := range r.Stats() {
		out[s.Name] = s
	}
	return out
}

func TestTopologies(t *testing.T) {
	type sinkWant struct {
		ids     []uint64
		ordered bool // exact order, not just the same multiset
	}
	tests := []struct {
		name  string
		build func(f *fixture)
		// sink name → what it must have acked
		sinks map[string]sinkWant
		// source name → events it must have had acked
		acked map[string]int
		// processor name → events out
		procOut map[string]int
	}{
		{
			name: "linear",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 1000, batch: 7}).
					processor("processor.tag", &fakeProcessor{}, "source.ticks").
					sink("sink.out", &fakeSink{}, "processor.tag")
			},
			sinks:   map[string]sinkWant{"sink.out": {ids: ids(0, 1000), ordered: true}},
			acked:   map[string]int{"source.ticks": 1000},
			procOut: map[string]int{"processor.tag": 1000},
		},
		{
			name: "fan-out",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 500, batch: 10}).
					sink("sink.a", &fakeSink{}, "source.ticks").
					sink("sink.b", &fakeSink{delay: 50 * time.Microsecond}, "source.ticks")
			},
			sinks: map[string]sinkWant{
				"sink.a": {ids: ids(0, 500), ordered: true},
				"sink.b": {ids: ids(0, 500), ordered: true},
			},
			acked: map[string]int{"source.ticks": 500},
		},
		{
			name: "fan-in",
			build: func(f *fixture) {
				f.source("source.a", &fakeSource{events: 300, batch: 8}).
					source("source.b", &fakeSource{events: 200, batch: 3, base: 10_000}).
					sink("sink.out", &fakeSink{}, "source.a", "source.b")
			},
			sinks: map[string]sinkWant{"sink.out": {ids: append(ids(0, 300), ids(10_000, 200)...)}},
			acked: map[string]int{"source.a": 300, "source.b": 200},
		},
		{
			name: "diamond",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 400, batch: 16}).
					processor("processor.left", &fakeProcessor{}, "source.ticks").
					processor("processor.right", &fakeProcessor{}, "source.ticks").
					sink("sink.out", &fakeSink{}, "processor.left", "processor.right")
			},
			sinks:   map[string]sinkWant{"sink.out": {ids: append(ids(0, 400), ids(0, 400)...)}},
			acked:   map[string]int{"source.ticks": 400},
			procOut: map[string]int{"processor.left": 400, "processor.right": 400},
		},
		{
			name: "processor filters some events",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 1000, batch: 5}).
					processor("processor.even", &fakeProcessor{keep: even}, "source.ticks").
					sink("sink.out", &fakeSink{}, "processor.even")
			},
			sinks:   map[string]sinkWant{"sink.out": {ids: filterIDs(ids(0, 1000), even), ordered: true}},
			acked:   map[string]int{"source.ticks": 1000},
			procOut: map[string]int{"processor.even": 500},
		},
		{
			name: "processor filters every event",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 1000, batch: 9}).
					processor("processor.none", &fakeProcessor{keep: func(uint64) bool { return false }}, "source.ticks").
					sink("sink.out", &fakeSink{}, "processor.none")
			},
			sinks:   map[string]sinkWant{"sink.out": {}},
			acked:   map[string]int{"source.ticks": 1000},
			procOut: map[string]int{"processor.none": 0},
		},
		{
			name: "one branch filters, the other does not",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 600, batch: 4}).
					processor("processor.even", &fakeProcessor{keep: even}, "source.ticks").
					sink("sink.even", &fakeSink{}, "processor.even").
					sink("sink.all", &fakeSink{}, "source.ticks")
			},
			sinks: map[string]sinkWant{
				"sink.even": {ids: filterIDs(ids(0, 600), even), ordered: true},
				"sink.all":  {ids: ids(0, 600), ordered: true},
			},
			acked:   map[string]int{"source.ticks": 600},
			procOut: map[string]int{"processor.even": 300},
		},
		{
			name: "chained processors into two sinks",
			build: func(f *fixture) {
				f.source("source.ticks", &fakeSource{events: 333, batch: 10}).
					processor("processor.a", &fakeProcessor{}, "source.ticks").
					processor("processor.b", &fakeProcessor{keep: even}, "processor.a").
					sink("sink.x", &fakeSink{}, "processor.b").
					sink("sink.y", &fakeSink{delay: 20 * time.Microsecond}, "processor.a", "processor.b")
			},
			sinks: map[string]sinkWant{
				"sink.x": {ids: filterIDs(ids(0, 333), even), ordered: true},
				"sink.y": {ids: append(ids(0, 333), filterIDs(ids(0, 333), even)...)},
			},
			acked:   map[string]int{"source.ticks": 333},
			procOut: map[string]int{"processor.a": 333, "processor.b": 167},
		},
		{
			name: "source with no events",
			build: func(f *fixture) {
				f.source("source.empty", &fakeSource{events: 0, batch: 10}).
					sink("sink.out", &fakeSink{}, "source.empty")
			},
			sinks: map[string]sinkWant{"sink.out": {}},
			acked: map[string]int{"source.empty": 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(testCtx(t))
			tt.build(f)
			r, err := f.run(t, Options{MaxInFlight: 4})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			f.checkFakes(t)
			stats := statsByName(r)

			for name, want := range tt.sinks {
				got := f.sinks[name].got()
				if !want.ordered {
					got, want.ids = sorted(got), sorted(want.ids)
				}
				if !slices.Equal(got, want.ids) {
					t.Errorf("%s got %d events %v..., want %d", name, len(got), head(got), len(want.ids))
				}
				if s := stats[name]; s.EventsAcked != uint64(len(want.ids)) || s.EventsIn != uint64(len(want.ids)) || s.EventsFailed != 0 {
					t.Errorf("%s stats %+v, want %d events in and acked", name, s, len(want.ids))
				}
			}
			for name, events := range tt.acked {
				src := f.sources[name]
				s := stats[name]
				if s.EventsAcked != uint64(events) || s.EventsOut != uint64(events) {
					t.Errorf("%s stats %+v, want %d events out and acked", name, s, events)
				}
				acks := src.ackPositions()
				if events == 0 {
					if len(acks) != 0 {
						t.Errorf("%s acked %v, want no ack", name, acks)
					}
					continue
				}
				if len(acks) == 0 || acks[len(acks)-1] != uint64(events-1) {
					t.Errorf("%s acks %v, want the last to be %d", name, acks, events-1)
				}
				if sent, credits := src.sentBatches(), src.ackCredits(); uint64(sent) != credits || uint64(sent) != s.BatchesOut {
					t.Errorf("%s sent %d batches, got %d credits back, router counted %d", name, sent, credits, s.BatchesOut)
				}
			}
			for name, out := range tt.procOut {
				if s := stats[name]; s.EventsOut != uint64(out) {
					t.Errorf("%s stats %+v, want %d events out", name, s, out)
				}
			}
		})
	}
}

func head(s []uint64) []uint64 { return s[:min(len(s), 8)] }

func TestFanOutSharesBatches(t *testing.T) {
	f := newFixture(testCtx(t))
	f.source("source.ticks", &fakeSource{events: 50, batch: 5}).
		sink("sink.a", &fakeSink{}, "source.ticks").
		sink("sink.b", &fakeSink{}, "source.ticks")
	if _, err := f.run(t, Options{}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	a, b := f.sinks["sink.a"].gotBatches(), f.sinks["sink.b"].gotBatches()
	if len(a) != 10 || len(b) != 10 {
		t.Fatalf("sinks got %d and %d batches, want 10 each", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Errorf("batch %d: fan-out delivered different *Batch values; want the same one shared", i)
		}
	}
}

func TestResumeFromOpenPosition(t *testing.T) {
	f := newFixture(testCtx(t))
	open := &flowctlv1.SourceOpen{Position: pos(49), MaxBatchEvents: 10, LingerNanos: 5}
	src := &fakeSource{events: 100, batch: 10}
	f.sourceAt("source.ticks", src, open).sink("sink.out", &fakeSink{}, "source.ticks")
	if _, err := f.run(t, Options{MaxInFlight: 3}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.checkFakes(t)
	if got := f.sinks["sink.out"].got(); !slices.Equal(got, ids(50, 50)) {
		t.Errorf("sink got %v, want 50..99", got)
	}
	src.mu.Lock()
	got := src.open
	src.mu.Unlock()
	if unpos(got.GetPosition()) != 49 || got.GetCredits() != 3 || got.GetMaxBatchEvents() != 10 || got.GetLingerNanos() != 5 {
		t.Errorf("source opened with %v, want position 49, credits 3, shaping kept", got)
	}
	if open.GetCredits() != 0 {
		t.Errorf("the caller's Open was modified: %v", open)
	}
	if acks := src.ackPositions(); acks[len(acks)-1] != 99 {
		t.Errorf("acks %v, want the last to be 99", acks)
	}
}

// A later batch that finishes first is acked only once every earlier one is.
// Fan-out: even events go to a sink that holds its first batch, odd ones to a
// fast sink; batch size 1, so ticket 1 is done while ticket 0 waits.
func TestAcksInPositionOrder(t *testing.T) {
	f := newFixture(testCtx(t))
	gate := make(chan struct{})
	src := &fakeSource{events: 20, batch: 1}
	odd := func(id uint64) bool { return id%2 == 1 }
	f.source("source.ticks", src).
		processor("processor.even", &fakeProcessor{keep: even}, "source.ticks").
		processor("processor.odd", &fakeProcessor{keep: odd}, "source.ticks").
		sink("sink.slow", &fakeSink{gate: gate}, "processor.even").
		sink("sink.fast", &fakeSink{}, "processor.odd")

	done := make(chan error, 1)
	go func() {
		_, err := f.run(t, Options{MaxInFlight: 8})
		done <- err
	}()

	fast := f.sinks["sink.fast"]
	waitFor(t, "the fast sink to ack events 1 and 3", func() bool { return len(fast.got()) >= 2 })
	time.Sleep(20 * time.Millisecond) // give a wrong ack time to show up
	if acks := src.ackPositions(); len(acks) != 0 {
		t.Fatalf("source acked %v while batch 0 was unacked", acks)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.checkFakes(t)
	acks := src.ackPositions()
	// The fake source also flags an ack that does not move forward.
	if !slices.IsSorted(acks) || acks[len(acks)-1] != 19 {
		t.Errorf("acks %v, want increasing up to 19", acks)
	}
	if got := f.sinks["sink.slow"].got(); !slices.Equal(got, filterIDs(ids(0, 20), even)) {
		t.Errorf("slow sink got %v", got)
	}
	if got := fast.got(); !slices.Equal(got, filterIDs(ids(0, 20), odd)) {
		t.Errorf("fast sink got %v", got)
	}
}

func TestCreditsRespected(t *testing.T) {
	const maxInFlight = 3
	f := newFixture(testCtx(t))
	src := &fakeSource{events: 300, batch: 1}
	f.source("source.ticks", src).
		processor("processor.tag", &fakeProcessor{}, "source.ticks").
		sink("sink.out", &fakeSink{delay: 50 * time.Microsecond}, "processor.tag")
	if _, err := f.run(t, Options{MaxInFlight: maxInFlight}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.checkFakes(t) // the fake source flags any batch beyond its credits
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.maxInFlight > maxInFlight {
		t.Errorf("source had %d batches in flight, want at most %d", src.maxInFlight, maxInFlight)
	}
	if want := uint64(maxInFlight + 300); src.granted != want {
		t.Errorf("source was granted %d credits in all, want %d (open + one per batch)", src.granted, want)
	}
}

func TestCheckpointPositionsIncrease(t *testing.T) {
	f := newFixture(testCtx(t))
	a, b := &fakeSource{events: 500, batch: 3}, &fakeSource{events: 400, batch: 7, base: 1 << 32}
	f.source("source.a", a).
		source("source.b", b).
		processor("processor.even", &fakeProcessor{keep: even}, "source.a", "source.b").
		sink("sink.x", &fakeSink{}, "processor.even").
		sink("sink.y", &fakeSink{delay: 20 * time.Microsecond}, "source.a")
	var mu sync.Mutex
	got := map[string][]uint64{}
	_, err := f.run(t, Options{MaxInFlight: 5, Checkpoint: func(src string, p []byte, _ uint64) error {
		mu.Lock()
		defer mu.Unlock()
		got[src] = append(got[src], unpos(p))
		return nil
	}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.checkFakes(t)
	mu.Lock()
	defer mu.Unlock()
	for name, src := range map[string]*fakeSource{"source.a": a, "source.b": b} {
		cps := got[name]
		for i := 1; i < len(cps); i++ {
			if cps[i] <= cps[i-1] {
				t.Errorf("%s checkpoints not increasing: %v", name, cps)
				break
			}
		}
		if want := uint64(src.events - 1); len(cps) == 0 || cps[len(cps)-1] != want {
			t.Errorf("%s last checkpoint %v, want %d", name, cps, want)
		}
		// Each ack is preceded by a checkpoint of the same position.
		if acks := src.ackPositions(); !slices.Equal(acks, cps) {
			t.Errorf("%s acks %v differ from checkpoints %v", name, acks, cps)
		}
	}
}

// With a checkpoint interval, a source sending many small batches is
// checkpointed far less often than once a batch, credits do not wait for
// checkpoints (it never runs dry for long), and every checkpoint is acked,
// the last at the last position.
func TestCheckpointInterval(t *testing.T) {
	f := newFixture(testCtx(t))
	src := &fakeSource{events: 3000, batch: 2}
	f.source("source.gen", src).sink("sink.out", &fakeSink{delay: 50 * time.Microsecond}, "source.gen")
	var mu sync.Mutex
	var cps []uint64
	var events uint64
	_, err := f.run(t, Options{MaxInFlight: 4, CheckpointInterval: 20 * time.Millisecond, Checkpoint: func(_ string, p []byte, n uint64) error {
		mu.Lock()
		defer mu.Unlock()
		cps = append(cps, unpos(p))
		events += n
		return nil
	}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.checkFakes(t)
	mu.Lock()
	defer mu.Unlock()
	if batches := src.sentBatches(); len(cps) == 0 || len(cps) > batches/5 {
		t.Errorf("%d checkpoints for %d batches, want far fewer", len(cps), batches)
	}
	if cps[len(cps)-1] != 2999 || events != 3000 {
		t.Errorf("last checkpoint %d covering %d events in all, want 2999 and 3000", cps[len(cps)-1], events)
	}
	if acks := src.ackPositions(); !slices.Equal(acks, cps) {
		t.Errorf("acked positions %v differ from checkpoints %v", tail(acks), tail(cps))
	}
	if src.maxInFlight > 4 {
		t.Errorf("source had %d batches in flight, want at most 4", src.maxInFlight)
	}
}

// A source plugin may end its stream once it has sent SourceEnd and received
// its last ack, before the host half-closes.
func TestSourceEndsStreamAfterLastAck(t *testing.T) {
	ctx := testCtx(t)
	var acks []uint64
	plugin := func(p *plug[*flowctlv1.SourceRequest, *flowctlv1.SourceResponse]) error {
		if _, err := p.Recv(); err != nil { // open
			return err
		}
		for i := range uint64(3) {
			b := &flowctlv1.SourceBatch{Seq: i + 1, Batch: encodeIDs([]uint64{i}), Position: pos(i)}
			if err := p.Send(&flowctlv1.SourceResponse{Msg: &flowctlv1.SourceResponse_Batch{Batch: b}}); err != nil {
				return err
			}
		}
		if err := p.Send(&flowctlv1.SourceResponse{Msg: &flowctlv1.SourceResponse_End{End: &flowctlv1.SourceEnd{}}}); err != nil {
			return err
		}
		for len(acks) == 0 || acks[len(acks)-1] != 2 {
			req, err := p.Recv()
			if err != nil {
				return err
			}
			acks = append(acks, unpos(req.GetAck().GetPosition()))
		}
		return nil // without waiting for the host to half-close
	}
	sink := &fakeSink{}
	nodes := []Node{
		{Name: "source.once", Streams: Streams{Source: startPipe(ctx, plugin)}},
		{Name: "sink.out", Inputs: []string{"source.once"}, Streams: Streams{Sink: sink.stream(ctx)}},
	}
	r, err := New(nodes, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := sink.got(); !slices.Equal(got, ids(0, 3)) {
		t.Errorf("sink got %v", got)
	}
}

func TestStatsDuringRun(t *testing.T) {
	f := newFixture(testCtx(t))
	f.source("source.ticks", &fakeSource{events: 2000, batch: 10}).
		processor("processor.tag", &fakeProcessor{}, "source.ticks").
		sink("sink.out", &fakeSink{}, "processor.tag")
	r, err := New(f.nodes, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			default:
				_ = r.Stats()
			}
		}
	}()
	err = r.Run(f.ctx)
	close(stop)
	<-polled
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := []NodeStats{
		{Name: "source.ticks", Kind: KindSource, EventsOut: 2000, BatchesOut: 200, EventsAcked: 2000},
		{Name: "processor.tag", Kind: KindProcessor, EventsIn: 2000, BatchesIn: 200, EventsOut: 2000, BatchesOut: 200},
		{Name: "sink.out", Kind: KindSink, EventsIn: 2000, BatchesIn: 200, EventsAcked: 2000},
	}
	if got := r.Stats(); !slices.Equal(got, want) {
		t.Errorf("Stats:\n got %+v\nwant %+v", got, want)
	}
	if err := r.Run(f.ctx); err == nil {
		t.Error("second Run succeeded, want an error")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
