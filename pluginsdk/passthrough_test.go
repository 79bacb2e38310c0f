package pluginsdk

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/flowctl/flowctl/proto/dataplane"
)

// funcProcessor is a Processor made of a function.
type funcProcessor struct {
	UnimplementedProcessor
	fn func(in Event, emit func(Event))
}

func (p funcProcessor) Open(context.Context) error { return nil }

func (p funcProcessor) Teardown(context.Context) error { return nil }

func (p funcProcessor) Process(_ context.Context, in Event, emit func(Event)) error {
	p.fn(in, emit)
	return nil
}

// TestProcessorOutputsAsEncoded runs processors that change their inputs in
// every way the Event API allows through the protocol 2 processor node,
// and checks that each batch it sends decodes to exactly the events the
// processor emitted, whether the node wrote an output as its received
// bytes plus added attributes or field by field.
func TestProcessorOutputsAsEncoded(t *testing.T) {
	var kept []Event // for "emits an earlier batch's event"
	cases := []struct {
		name string
		fn   func(in Event, emit func(Event))
		// passed is how many outputs of the first batch must be written
		// as received bytes: the path this test exists for must be taken.
		passed int
	}{
		{"unchanged", func(in Event, emit func(Event)) { emit(in) }, 4},
		{"attribute added", func(in Event, emit func(Event)) { in.SetAttribute("env", "prod"); emit(in) }, 4},
		// The second added attribute moves a's and b's to a new slice.
		{"two attributes added", func(in Event, emit func(Event)) {
			in.SetAttribute("env", "prod")
			in.SetAttribute("zone", "b")
			emit(in)
		}, 2},
		{"attribute set in place", func(in Event, emit func(Event)) { in.SetAttribute("seq", "x"); emit(in) }, 2},
		{"attribute deleted", func(in Event, emit func(Event)) { in.DeleteAttribute("seq"); emit(in) }, 2},
		{"attributes swapped", func(in Event, emit func(Event)) {
			if len(in.Attributes) == 2 {
				in.Attributes[0], in.Attributes[1] = in.Attributes[1], in.Attributes[0]
			}
			emit(in)
		}, 3},
		{"value emptied", func(in Event, emit func(Event)) {
			if len(in.Attributes) > 0 {
				in.Attributes[0].Value = in.Attributes[0].Value[:0]
			}
			emit(in)
		}, 2},
		{"attributes replaced", func(in Event, emit func(Event)) {
			in.Attributes = []Attribute{{"only", "one"}}
			emit(in)
		}, 2}, // c and d had none: all of theirs are added
		{"id changed", func(in Event, emit func(Event)) { in.ID += "-x"; emit(in) }, 0},
		{"type changed", func(in Event, emit func(Event)) { in.Type = "t2"; emit(in) }, 0},
		{"data cut", func(in Event, emit func(Event)) { in.Data = in.Data[:len(in.Data)/2]; emit(in) }, 1},
		{"key set", func(in Event, emit func(Event)) { in.Key = []byte("k"); emit(in) }, 0},
		{"time moved", func(in Event, emit func(Event)) { in.Time = in.Time.Add(time.Second); emit(in) }, 0},
		{"time in UTC", func(in Event, emit func(Event)) { in.Time = in.Time.UTC(); emit(in) }, 2}, // b and c have none
		{"dropped", func(in Event, emit func(Event)) {}, 0},
		{"emitted twice", func(in Event, emit func(Event)) {
			emit(in)
			in.SetAttribute("copy", "2")
			emit(in)
		}, 8},
		{"emits another input", func(in Event, emit func(Event)) {
			if len(kept) > 0 {
				emit(kept[len(kept)-1])
			}
			kept = append(kept, in)
		}, 0},
		{"emits an earlier batch's event", func(in Event, emit func(Event)) {
			kept = append(kept, in.Clone())
			emit(kept[0])
		}, 0},
		{"new event", func(in Event, emit func(Event)) { emit(Event{ID: "n", Type: "t"}) }, 0},
		{"empty event", func(in Event, emit func(Event)) { emit(Event{}) }, 0},
	}
	batches := [][]Event{
		{
			{ID: "a", Type: "t", Time: time.Unix(1, 5), Attributes: []Attribute{{"seq", "1"}}, ContentType: "text/plain", Data: []byte("one")},
			{ID: "b", Type: "t", Attributes: []Attribute{{"seq", "2"}, {"k", "v"}}, Key: []byte("key"), Data: []byte("two")},
			{ID: "c"},
			{ID: "d", Type: "t", Time: time.Unix(0, 0).Add(time.Hour), Data: []byte("four")},
		},
		generatorLike(50),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kept = nil
			var emitted []Event
			p := &processorNode{inst: &instance{processor: funcProcessor{fn: func(in Event, emit func(Event)) {
				c.fn(in, func(e Event) {
					emitted = append(emitted, e)
					emit(e)
				})
			}}}}
			if err := p.Open(t.Context()); err != nil {
				t.Fatal(err)
			}
			for bi, batch := range batches {
				emitted = emitted[:0]
				res, err := p.Process(t.Context(), dataplane.Batch{Events: appendEvents(nil, batch), Count: uint32(len(batch))})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Errors) > 0 {
					t.Fatalf("batch %d: errors %v", bi, res.Errors)
				}
				got, err := decodeEvents(res.Out.Events, nil)
				if err != nil {
					t.Fatalf("batch %d: the node's output does not decode: %v", bi, err)
				}
				// The events as emitted, encoded field by field.
				want, _ := decodeEvents(appendEvents(nil, emitted), nil)
				if int(res.Out.Count) != len(want) || !reflect.DeepEqual(got, want) {
					t.Fatalf("batch %d:\n got %d %+v\nwant %d %+v", bi, res.Out.Count, got, len(want), want)
				}
				if bi == 0 {
					passed := 0
					for _, pl := range p.plan {
						if pl.passed {
							passed++
						}
					}
					if passed != c.passed {
						t.Errorf("%d outputs written as received, want %d", passed, c.passed)
					}
				}
			}
		})
	}
}

// BenchmarkProcessorNode is a transform's work on one batch of
// generator-like events in the protocol 2 node: decode, set an attribute on
// each, encode the outputs.
func BenchmarkProcessorNode(b *testing.B) {
	events := generatorLike(1000)
	for i := range events {
		events[i].Attributes = []Attribute{{"seq", strconv.Itoa(i + 1)}}
	}
	batch := dataplane.Batch{Events: appendEvents(nil, events), Count: 1000}
	p := &processorNode{inst: &instance{processor: funcProcessor{fn: func(in Event, emit func(Event)) {
		in.SetAttribute("env", "bench")
		emit(in)
	}}}}
	if err := p.Open(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(batch.Events)))
	for b.Loop() {
		if _, err := p.Process(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}
