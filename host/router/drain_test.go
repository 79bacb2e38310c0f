package router

import (
	"slices"
	"sync"
	"testing"
	"time"
)

func TestDrain(t *testing.T) {
	f := newFixture(testCtx(t))
	src := &fakeSource{events: 1_000_000, batch: 10}
	sink := &fakeSink{delay: 100 * time.Microsecond}
	f.source("source.ticks", src).
		processor("processor.tag", &fakeProcessor{}, "source.ticks").
		sink("sink.out", sink, "processor.tag")
	var mu sync.Mutex
	var checkpoints []uint64
	r, err := New(f.nodes, Options{Logger: testLogger(), MaxInFlight: 4, Checkpoint: func(_ string, p []byte, _ uint64) error {
		mu.Lock()
		defer mu.Unlock()
		checkpoints = append(checkpoints, unpos(p))
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(f.ctx) }()
	waitFor(t, "the sink to write 50 events", func() bool { return len(sink.got()) >= 50 })
	r.Drain()
	r.Drain() // idempotent
	if err := <-done; err != nil {
		t.Fatalf("Run after Drain: %v", err)
	}
	f.checkFakes(t)

	got := sink.got()
	n := len(got)
	if n == 0 || n%10 != 0 || n >= 1_000_000 || !slices.Equal(got, ids(0, n)) {
		t.Fatalf("sink got %d events %v..., want a prefix of whole batches", n, head(got))
	}
	acks := src.ackPositions()
	if last := acks[len(acks)-1]; last != uint64(n-1) {
		t.Errorf("last ack %d, want %d: everything delivered is acked, nothing more", last, n-1)
	}
	mu.Lock()
	defer mu.Unlock()
	if last := checkpoints[len(checkpoints)-1]; last != uint64(n-1) {
		t.Errorf("last checkpoint %d, want %d", last, n-1)
	}
	if s := r.Stats()[0]; s.EventsAcked != uint64(n) || s.EventsOut != uint64(n) {
		t.Errorf("source stats %+v, want %d events out and acked", s, n)
	}
	if sent := src.sentBatches(); sent*10 < n {
		t.Errorf("source sent %d batches, fewer than delivered", sent)
	}
}

func TestDrainBeforeRun(t *testing.T) {
	f := newFixture(testCtx(t))
	f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
		sink("sink.out", &fakeSink{}, "source.ticks")
	r, err := New(f.nodes, Options{Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	r.Drain()
	if err := r.Run(f.ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := f.sinks["sink.out"].got(); len(got) != 0 {
		t.Errorf("sink got %d events after Drain before Run, want none", len(got))
	}
	if acks := f.sources["source.ticks"].ackPositions(); len(acks) != 0 {
		t.Errorf("source acked %v, want nothing", acks)
	}
}
