package pluginsdk_test

import (
	"context"
	"strings"
	"testing"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
)

// passthrough emits every event it is given and counts them.
type passthrough struct {
	pluginsdk.UnimplementedProcessor
	seen *int
}

var _ pluginsdk.Processor = passthrough{}

func (passthrough) Open(context.Context) error     { return nil }
func (passthrough) Teardown(context.Context) error { return nil }
func (p passthrough) Process(_ context.Context, in pluginsdk.Event, emit func(pluginsdk.Event)) error {
	*p.seen++
	emit(in)
	return nil
}

type countingSink struct {
	pluginsdk.UnimplementedSink
	written *int
}

var _ pluginsdk.Sink = countingSink{}

func (countingSink) Open(context.Context) error     { return nil }
func (countingSink) Teardown(context.Context) error { return nil }
func (s countingSink) Write(_ context.Context, batch []pluginsdk.Event) error {
	*s.written += len(batch)
	return nil
}

// An event with invalid UTF-8 is refused where it enters a component: a
// processor never sees it and answers a per-event error naming the
// problem (which the host routes by on_error); a sink, which acks whole
// batches, nacks the batch with that reason.
func TestInvalidEventsAreRefusedAtTheDoor(t *testing.T) {
	var seen, written int
	p := pluginsdk.Plugin{Name: "door", Version: "0.0.1", Components: []pluginsdk.Component{
		pluginsdk.NewProcessor("pass", "passes events", pluginsdk.NewSpec(), func(pluginsdk.Init) (pluginsdk.Processor, error) {
			return passthrough{seen: &seen}, nil
		}),
		pluginsdk.NewSink("count", "counts events", pluginsdk.NewSpec(), func(pluginsdk.Init) (pluginsdk.Sink, error) {
			return countingSink{written: &written}, nil
		}),
	}}
	batch := []pluginsdk.Event{{ID: "1"}, {ID: "2", Attributes: []pluginsdk.Attribute{{Key: "k", Value: "bad\xff"}}}, {ID: "3"}}

	h := sdktest.New(t, p)
	h.MustConfigure(t, sdktest.KindProcessor, "pass", nil)
	res, err := h.Process(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if seen != 2 || len(res[0].Out) != 2 || len(res[0].Errors) != 1 || res[0].Errors[0].GetIndex() != 1 {
		t.Fatalf("processed %d, out %d, errors %v; want event 1 refused", seen, len(res[0].Out), res[0].Errors)
	}
	if msg := res[0].Errors[0].GetMessage(); !strings.Contains(msg, `attribute "k": value "bad\xff" is not valid UTF-8`) {
		t.Errorf("refusal reads %q", msg)
	}

	h = sdktest.New(t, p)
	h.MustConfigure(t, sdktest.KindSink, "count", nil)
	acks, err := h.Write(t.Context(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if acks[0].GetOk() || written != 0 || !strings.Contains(acks[0].GetError(), "event 1: invalid event") {
		t.Fatalf("ack %v after %d written; want the batch nacked for event 1", acks[0], written)
	}
}
