package generator

import (
	"testing"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
)

// BenchmarkBatch is the generator's share of a pipeline's work on one batch:
// Read a thousand events and encode them, as the SDK does before sending.
func BenchmarkBatch(b *testing.B) {
	s := &Source{cfg: config{payloadSize: DefaultPayloadSize, typ: DefaultType, realtime: true}, next: 1}
	var (
		buf    []byte
		events []pluginsdk.Event
	)
	b.ReportAllocs()
	for b.Loop() {
		recs, err := s.Read(b.Context(), 1000)
		if err != nil {
			b.Fatal(err)
		}
		events = events[:0]
		for i := range recs {
			events = append(events, recs[i].Event)
		}
		buf = sdktest.AppendEvents(buf[:0], events)
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}
