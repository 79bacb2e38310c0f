package router

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// BenchmarkLinear measures events per second through source → processor →
// sink over in-memory fakes, so it is the router's own overhead (plus the
// fakes' encoding) without gRPC. One op is one event.
func BenchmarkLinear(b *testing.B) {
	const batch = 100
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := max(b.N, batch)
	nodes := []Node{
		{Name: "source.ticks", Streams: Streams{Source: (&fakeSource{events: events, batch: batch}).stream(ctx)}},
		{Name: "processor.tag", Inputs: []string{"source.ticks"}, Streams: Streams{Processor: (&fakeProcessor{}).stream(ctx)}},
		{Name: "sink.out", Inputs: []string{"processor.tag"}, Streams: Streams{Sink: (&fakeSink{}).stream(ctx)}},
	}
	r, err := New(nodes, Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	if err := r.Run(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := r.Stats()[2].EventsAcked; got != uint64(events) {
		b.Fatalf("sink acked %d events, want %d", got, events)
	}
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
}
