package transform

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
)

// BenchmarkBatch is a transform's share of a pipeline's work on one batch
// of generator-like events: decode, Process each event, encode the outputs,
// as the SDK does between receiving a batch and sending its result.
func BenchmarkBatch(b *testing.B) {
	in := make([]pluginsdk.Event, 1000)
	for i := range in {
		in[i] = pluginsdk.Event{
			ID: fmt.Sprintf("%08d", i+1), Type: "flowctl.generator.tick", Time: time.Unix(1700000000, int64(i)),
			Attributes:  []pluginsdk.Attribute{{Key: "seq", Value: strconv.Itoa(i + 1)}},
			ContentType: "application/json", Data: make([]byte, 100),
		}
	}
	enc := sdktest.AppendEvents(nil, in)
	p := &Processor{set: []pluginsdk.Attribute{{Key: "env", Value: "bench"}}}
	var (
		events, out []pluginsdk.Event
		buf         []byte
	)
	emit := func(e pluginsdk.Event) { out = append(out, e) }
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		events, _ = sdktest.DecodeEvents(enc, events[:0])
		out = out[:0]
		for i := range events {
			_ = p.Process(b.Context(), events[i], emit)
		}
		buf = sdktest.AppendEvents(buf[:0], out)
	}
	b.ReportMetric(float64(b.N*len(in))/b.Elapsed().Seconds(), "events/s")
}
