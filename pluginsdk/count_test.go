package pluginsdk

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flowctl/flowctl/proto/dataplane"
)

// countingSink is a Sink that counts what it is given.
type countingSink struct{ events *int }

func (s countingSink) Open(context.Context) error { return nil }

func (s countingSink) Teardown(context.Context) error { return nil }

func (s countingSink) Write(_ context.Context, batch []Event) error {
	*s.events += len(batch)
	return nil
}

// TestNodesHoldCountToEvents: a protocol 2 processor or sink node refuses a
// batch whose declared count is not the number of events it holds (a
// protocol error, which fails the node's stream), and hands the component
// nothing of it; a batch whose count is right goes through.
func TestNodesHoldCountToEvents(t *testing.T) {
	events := appendEvents(nil, generatorLike(3))
	var processed, written int
	p := &processorNode{inst: &instance{processor: funcProcessor{fn: func(in Event, emit func(Event)) {
		processed++
		emit(in)
	}}}}
	k := &sinkNode{inst: &instance{sink: countingSink{&written}}}
	if err := p.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := k.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	nodes := map[string]func(dataplane.Batch) error{
		"processor": func(b dataplane.Batch) error { _, err := p.Process(t.Context(), b); return err },
		"sink":      func(b dataplane.Batch) error { _, err := k.Write(t.Context(), b); return err },
	}
	for name, handle := range nodes {
		for _, count := range []uint32{0, 2, 4} {
			err := handle(dataplane.Batch{Events: events, Count: count})
			if !errors.Is(err, dataplane.ErrProtocol) || !strings.Contains(err.Error(), "holds 3") {
				t.Errorf("%s, count %d: %v, want a protocol error saying it holds 3", name, count, err)
			}
		}
		if err := handle(dataplane.Batch{Events: events, Count: 3}); err != nil {
			t.Errorf("%s, count 3: %v", name, err)
		}
	}
	if processed != 3 || written != 3 {
		t.Errorf("the components got %d and %d events, want 3 each (of the right batch only)", processed, written)
	}
}
