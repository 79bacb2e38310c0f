package router

import (
	"context"
	"io"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// The router benchmarks move batches between in-memory fake plugins, so
// they measure the router's own cost per batch (tickets, credits, acks,
// fan-out) and its allocations; the fakes' id encoding is the same in every
// run. Each op is one batch of benchBatch events from the source.
const benchBatch = 1000

func benchRouter(b *testing.B, build func(f *fixture, events int)) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newFixture(ctx)
	build(f, b.N*benchBatch)
	r, err := New(f.nodes, Options{Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: io.Discard})})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	if err := r.Run(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkRouterLinear(b *testing.B) {
	benchRouter(b, func(f *fixture, events int) {
		f.source("source.gen", &fakeSource{events: events, batch: benchBatch}).
			processor("processor.tag", &fakeProcessor{}, "source.gen").
			sink("sink.out", &fakeSink{}, "processor.tag")
	})
}

func BenchmarkRouterFanOut(b *testing.B) {
	benchRouter(b, func(f *fixture, events int) {
		f.source("source.gen", &fakeSource{events: events, batch: benchBatch})
		for _, s := range []string{"sink.a", "sink.b", "sink.c"} {
			f.sink(s, &fakeSink{}, "source.gen")
		}
	})
}

func BenchmarkRouterFanIn(b *testing.B) {
	benchRouter(b, func(f *fixture, events int) {
		per := events / 3
		f.source("source.a", &fakeSource{events: per, batch: benchBatch}).
			source("source.b", &fakeSource{events: per, batch: benchBatch, base: 1 << 40}).
			source("source.c", &fakeSource{events: events - 2*per, batch: benchBatch, base: 2 << 40}).
			sink("sink.out", &fakeSink{}, "source.a", "source.b", "source.c")
	})
}
