package router

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestCheckCount(t *testing.T) {
	events := encodeEvents([]uint64{1, 2, 3}).GetEvents()
	tests := []struct {
		name  string
		batch *flowctlv1.Batch
		want  string // "" = valid
	}{
		{"nil", nil, ""},
		{"empty", &flowctlv1.Batch{}, ""},
		{"true count", &flowctlv1.Batch{Count: 3, Events: events}, ""},
		{"unknown fields are skipped", &flowctlv1.Batch{Count: 3, Events: append([]byte{0x10, 0x05}, events...)}, ""},
		{"inflated", &flowctlv1.Batch{Count: 1_000_000_000, Events: events}, "protocol violation: count 1000000000, but its events hold 3"},
		{"hidden", &flowctlv1.Batch{Count: 0, Events: events}, "count 0, but its events hold 3"},
		{"count without bytes", &flowctlv1.Batch{Count: 5}, "count 5, but its events hold 0"},
		{"truncated record", &flowctlv1.Batch{Count: 3, Events: events[:len(events)-1]}, "batch events are not an EventList"},
		{"not protobuf", &flowctlv1.Batch{Count: 1, Events: []byte{0xff, 0xff, 0xff}}, "batch events are not an EventList"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkCount(tt.batch)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("checkCount: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrProtocol)):
				t.Fatalf("checkCount: %v, want ErrProtocol with %q", err, tt.want)
			}
		})
	}
}

// lyingSource claims a different count on the batch with sequence number at.
type lyingSource struct {
	SourceStream
	at    uint64
	count uint32
}

func (l *lyingSource) Recv() (*flowctlv1.SourceResponse, error) {
	resp, err := l.SourceStream.Recv()
	if b := resp.GetBatch(); b != nil && b.GetSeq() == l.at {
		resp = proto.Clone(resp).(*flowctlv1.SourceResponse)
		resp.GetBatch().GetBatch().Count = l.count
	}
	return resp, err
}

// lyingProcessor claims a different count on its result for batch at.
type lyingProcessor struct {
	ProcessorStream
	at    uint64
	count uint32
}

func (l *lyingProcessor) Recv() (*flowctlv1.ProcessResponse, error) {
	resp, err := l.ProcessorStream.Recv()
	if resp.GetSeq() == l.at {
		resp = proto.Clone(resp).(*flowctlv1.ProcessResponse)
		resp.Batch.Count = l.count
	}
	return resp, err
}

// A plugin that misstates a batch's count fails the run with a protocol
// error naming it, before the count reaches any counter.
func TestLyingCountFailsThePlugin(t *testing.T) {
	t.Run("source", func(t *testing.T) {
		f := newFixture(testCtx(t))
		f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
			sink("sink.out", &fakeSink{}, "source.ticks")
		f.with("source.ticks", func(n *Node) {
			n.Streams.Source = &lyingSource{SourceStream: n.Streams.Source, at: 3, count: 1_000_000_000}
		})
		r, err := f.run(t, Options{})
		const want = "source.ticks: batch 3: protocol violation: count 1000000000, but its events hold 10"
		if err == nil || err.Error() != want || !errors.Is(err, ErrProtocol) {
			t.Fatalf("Run: %v, want %q", err, want)
		}
		for _, s := range r.Stats() {
			if s.EventsOut > 100 {
				t.Errorf("%s counted %d events out of 100", s.Name, s.EventsOut)
			}
		}
		for _, at := range f.sources["source.ticks"].ackPositions() {
			if at >= 20 {
				t.Errorf("source acked position %d, at or past the lying batch", at)
			}
		}
	})
	t.Run("processor", func(t *testing.T) {
		f := newFixture(testCtx(t))
		f.source("source.ticks", &fakeSource{events: 100, batch: 10}).
			processor("processor.tag", &fakeProcessor{}, "source.ticks").
			sink("sink.out", &fakeSink{}, "processor.tag")
		f.with("processor.tag", func(n *Node) {
			n.Streams.Processor = &lyingProcessor{ProcessorStream: n.Streams.Processor, at: 2, count: 0}
		})
		_, err := f.run(t, Options{})
		const want = "processor.tag: result of batch 2: protocol violation: count 0, but its events hold 10"
		if err == nil || err.Error() != want || !errors.Is(err, ErrProtocol) {
			t.Fatalf("Run: %v, want %q", err, want)
		}
	})
}

// FuzzCheckCount: for any bytes, checkCount never panics and fails only
// with ErrProtocol; for bytes that are an EventList, it accepts exactly the
// number of events proto.Unmarshal finds.
func FuzzCheckCount(f *testing.F) {
	f.Add(encodeEvents([]uint64{1, 2, 3}).GetEvents(), uint32(3))
	f.Add(encodeIDs([]uint64{7}).GetEvents(), uint32(1))
	f.Add([]byte{0x0b, 0x0c}, uint32(0)) // an empty group
	f.Fuzz(func(t *testing.T, events []byte, count uint32) {
		err := checkCount(&flowctlv1.Batch{Count: count, Events: events})
		if err != nil && !errors.Is(err, ErrProtocol) {
			t.Fatalf("checkCount: %v is not ErrProtocol", err)
		}
		var list flowctlv1.EventList
		if proto.Unmarshal(events, &list) != nil {
			return
		}
		n := uint32(len(list.GetEvents()))
		if err := checkCount(&flowctlv1.Batch{Count: n, Events: events}); err != nil {
			t.Fatalf("an EventList of %d events refused: %v", n, err)
		}
		if err := checkCount(&flowctlv1.Batch{Count: n + 1, Events: events}); !errors.Is(err, ErrProtocol) {
			t.Fatalf("count %d for %d events: %v, want ErrProtocol", n+1, n, err)
		}
	})
}
