// Command embeds is a plugin written against pluginsdk v1 the recommended
// way: its components embed the Unimplemented types. TestForwardCompatible
// builds it against an SDK whose interfaces gained a method.
package main

import (
	"context"

	"github.com/flowctl/flowctl/pluginsdk"
)

type source struct {
	pluginsdk.UnimplementedSource
	n int
}

var _ pluginsdk.Source = (*source)(nil)

func (s *source) Open(context.Context, pluginsdk.Position) error { return nil }
func (s *source) Read(context.Context, int) ([]pluginsdk.Record, error) {
	if s.n > 0 {
		return nil, pluginsdk.ErrEndOfInput
	}
	s.n++
	return []pluginsdk.Record{{Event: pluginsdk.Event{ID: "1"}, Position: pluginsdk.Position{1}}}, nil
}
func (s *source) Ack(context.Context, pluginsdk.Position) error { return nil }
func (s *source) Teardown(context.Context) error                { return nil }

type processor struct {
	pluginsdk.UnimplementedProcessor
}

var _ pluginsdk.Processor = processor{}

func (processor) Open(context.Context) error     { return nil }
func (processor) Teardown(context.Context) error { return nil }
func (processor) Process(_ context.Context, in pluginsdk.Event, emit func(pluginsdk.Event)) error {
	emit(in)
	return nil
}

type sink struct{ pluginsdk.UnimplementedSink }

var _ pluginsdk.Sink = sink{}

func (sink) Open(context.Context) error                     { return nil }
func (sink) Teardown(context.Context) error                 { return nil }
func (sink) Write(context.Context, []pluginsdk.Event) error { return nil }

func main() {
	none := pluginsdk.NewSpec()
	pluginsdk.Serve(pluginsdk.Plugin{Name: "embeds", Version: "1.0.0", Components: []pluginsdk.Component{
		pluginsdk.NewSource("one", "one event", none, func(pluginsdk.Init) (pluginsdk.Source, error) { return &source{}, nil }),
		pluginsdk.NewProcessor("pass", "passes events", none, func(pluginsdk.Init) (pluginsdk.Processor, error) { return processor{}, nil }),
		pluginsdk.NewSink("drop", "drops events", none, func(pluginsdk.Init) (pluginsdk.Sink, error) { return sink{}, nil }),
	}})
}
