package plane

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/flowctl/flowctl/proto/dataplane"
)

// pacedCounter is a counter that takes gap to make each batch.
type pacedCounter struct {
	*counter
	gap time.Duration
}

func (s pacedCounter) Next(ctx context.Context) (dataplane.Batch, []byte, bool, error) {
	time.Sleep(s.gap)
	return s.counter.Next(ctx)
}

// TestCheckpointsFollowReleasesAtTheInterval: while batches keep being
// released, the source is checkpointed again and again, at least
// CheckpointInterval apart; releases while the checkpoint timer is set are
// not left for the end of the run.
func TestCheckpointsFollowReleasesAtTheInterval(t *testing.T) {
	const (
		interval = 20 * time.Millisecond
		total    = 1000
	)
	st, cp := newStore(), newCheckpoints()
	var (
		mu    sync.Mutex
		times []time.Time
	)
	save := func(source string, p []byte, events uint64) error {
		mu.Lock()
		times = append(times, time.Now())
		mu.Unlock()
		return cp.save(source, p, events)
	}
	source := pacedCounter{&counter{t: t, total: total, size: 10}, 3 * time.Millisecond}
	start := time.Now()
	_, err := runPipeline(t, []spec{
		{name: "source.gen", kind: src, handler: func(int) any { return source }},
		{name: "sink.out", kind: sink, inputs: []string{"source.gen"}, handler: func(int) any { return &collect{t: t, name: "sink.out", st: st} }},
	}, Options{Checkpoint: save, MaxInFlight: 4, CheckpointInterval: interval}, nil)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	every(t, st, "sink.out", total, 1)
	if cp.last["source.gen"] != total-1 || cp.events["source.gen"] != total {
		t.Fatalf("checkpoint at %d with %d events, want %d and %d", cp.last["source.gen"], cp.events["source.gen"], total-1, total)
	}
	// A hundred batches 3 ms apart take 300 ms or more: a checkpoint at
	// least every third interval (a busy machine delays timers), where
	// releases left for the end would give two.
	if min := int(took/interval) / 3; len(times) < min {
		t.Fatalf("%d checkpoints in %v, want at least %d", len(times), took, min)
	}
	// The last comes when the source has ended, whenever that is.
	for i := 1; i < len(times)-1; i++ {
		if gap := times[i].Sub(times[i-1]); gap < interval-time.Millisecond {
			t.Errorf("checkpoints %d and %d only %v apart", i-1, i, gap)
		}
	}
}
