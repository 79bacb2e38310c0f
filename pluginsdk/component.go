package pluginsdk

import (
	"context"
	"errors"
	"fmt"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// Errors of the SDK; match them with errors.Is.
var (
	// ErrEndOfInput is returned by Source.Read when a finite source has no
	// more events. The SDK then tells the host, and keeps delivering acks.
	ErrEndOfInput = errors.New("end of input")

	// ErrPluginShutdown is returned by SDK calls made after the plugin was
	// told to stop.
	ErrPluginShutdown = errors.New("plugin is shutting down")

	// ErrEventTooLarge is the cause of an event refused for carrying more
	// than 1024 attributes, or more than 64 KiB of attribute keys and
	// values. The limits bound what one event costs every stage.
	ErrEventTooLarge = errors.New("event too large")

	// ErrInvalidEvent is the cause of an event refused for a string field
	// (id, type, content type, attribute key or value) that is not valid
	// UTF-8.
	ErrInvalidEvent = errors.New("invalid event")
)

// Source reads events from the outside world.
//
// Embed UnimplementedSource in the type that implements Source: a method
// that a later SDK adds to Source then has its default there, and the
// plugin still builds. A component may also implement Health(ctx) error to
// report its health beyond "the process answers"; the host's health checks
// then call it. A source that knows how many records it still has to read
// may implement Remaining() (n uint64, known bool): the host shows an ETA
// from it.
//
// Lifecycle, per instance: the constructor given to NewSource validates the
// configuration and has no side effects. Open is called once, with the
// position to resume after (nil: from the start); it acquires resources.
// Then Read is called repeatedly from one goroutine while Ack is called from
// another, concurrently with Read. Teardown is called exactly once when the
// instance ends — also when Open failed or was never called — and nothing is
// called after it. Each context covers only its call.
type Source interface {
	Open(ctx context.Context, from Position) error
	// Read returns between 1 and max records, blocking until at least one is
	// available, ctx is done (return ctx.Err(), having consumed nothing), or
	// the input ends (return ErrEndOfInput). It should not wait to fill max:
	// the SDK batches across calls. The SDK is done with the slice and its
	// records when it calls Read again, so a source may return the same
	// slice each time, filled anew; it keeps each batch's last Position
	// until that is acked, so the bytes of a Position must not be reused.
	Read(ctx context.Context, max int) ([]Record, error)
	// Ack says every record up to and including pos was delivered to all
	// sinks; acks arrive in position order. A source that must confirm reads
	// upstream (a queue, a database cursor) does it here.
	Ack(ctx context.Context, pos Position) error
	Teardown(ctx context.Context) error
}

// Processor transforms events. Embed UnimplementedProcessor, as for
// Source; Health is optional here too.
//
// Lifecycle: the constructor validates and has no side effects; Open is
// called once; Process is called for one event at a time, in stream order,
// never concurrently; Teardown is called exactly once at the end (also after
// a failed Open) and nothing is called after it.
type Processor interface {
	Open(ctx context.Context) error
	// Process handles one event and calls emit for each output (zero, one or
	// many). Outputs keep the order of their inputs. An error fails this
	// event only; the host applies the component's on_error policy to it.
	Process(ctx context.Context, in Event, emit func(Event)) error
	Teardown(ctx context.Context) error
}

// Sink writes events to the outside world. Embed UnimplementedSink, as for
// Source; Health is optional here too.
//
// Lifecycle: the constructor validates and has no side effects; Open is
// called once; Write is called for one batch at a time, in stream order,
// never concurrently; Teardown is called exactly once at the end (also after
// a failed Open) and nothing is called after it.
type Sink interface {
	Open(ctx context.Context) error
	// Write returns nil only once every event of the batch is durably
	// written: the host then acks the events' source positions. An error
	// nacks the whole batch with the error as reason. The SDK reuses batch
	// after Write returns; keep copies, not the slice.
	Write(ctx context.Context, batch []Event) error
	Teardown(ctx context.Context) error
}

// remainder is the optional Remaining method of a source that knows how
// many records it still has to read (a generator with a count, a file of
// known length). The host shows people an ETA from it; delivery never
// depends on it. It is called after each Read, from the same goroutine,
// never after Teardown.
type remainder interface {
	Remaining() (n uint64, known bool)
}

// healthChecker is the optional Health method of a component.
type healthChecker interface {
	Health(ctx context.Context) error
}

// UnimplementedSource, embedded in a source, keeps it building when the
// SDK adds a method to Source: the new method's default is defined here.
// Source has no such method yet, so it has no methods today.
type UnimplementedSource struct{}

// UnimplementedProcessor is UnimplementedSource for processors.
type UnimplementedProcessor struct{}

// UnimplementedSink is UnimplementedSource for sinks.
type UnimplementedSink struct{}

// Logger writes a component's log: leveled messages with key/value pairs
// (Info("read", "events", n)). The SDK's logger writes JSON to stderr,
// which the host relays under the component's address; its level comes
// from the host.
type Logger interface {
	Debug(msg string, args ...any)
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
	// With returns a logger that adds args to every message.
	With(args ...any) Logger
	// Named returns a logger whose name has name appended.
	Named(name string) Logger
}

// Init is what a component constructor receives.
type Init struct {
	Config Config
	// Logger writes to the host's log under the component's address.
	Logger Logger
	// Address is the component's address in the pipeline, e.g. "sink.out".
	Address string
}

// Component is one source, processor or sink that a plugin binary serves.
// Build it with NewSource, NewProcessor or NewSink.
type Component struct {
	kind         wire.Kind
	name         string
	description  string
	spec         *Spec
	newSource    func(Init) (Source, error)
	newProcessor func(Init) (Processor, error)
	newSink      func(Init) (Sink, error)
}

// NewSource declares a source component named name (the type written in
// HCL: `source "<name>" "..."`).
func NewSource(name, description string, spec *Spec, fn func(Init) (Source, error)) Component {
	return Component{kind: wire.KindSource, name: name, description: description, spec: spec, newSource: fn}
}

// NewProcessor declares a processor component.
func NewProcessor(name, description string, spec *Spec, fn func(Init) (Processor, error)) Component {
	return Component{kind: wire.KindProcessor, name: name, description: description, spec: spec, newProcessor: fn}
}

// NewSink declares a sink component.
func NewSink(name, description string, spec *Spec, fn func(Init) (Sink, error)) Component {
	return Component{kind: wire.KindSink, name: name, description: description, spec: spec, newSink: fn}
}

func (c Component) proto() *flowctlv1.ComponentSchema {
	return &flowctlv1.ComponentSchema{
		Kind: c.kind.Proto(), Name: c.name, Description: c.description, Attributes: c.spec.proto(),
	}
}

// Plugin is everything one plugin binary serves. It is a plain value: build
// it in main (or a constructor) and pass it to Serve.
type Plugin struct {
	// Name of the plugin, e.g. "file"; it should match the last part of its
	// catalog address.
	Name string
	// Version is the plugin's semantic version, e.g. "1.4.0".
	Version    string
	Components []Component
}

// validate reports plugin definition mistakes: missing name or version, no
// components, or two components of the same kind and name.
func (p Plugin) validate() error {
	if p.Name == "" || p.Version == "" {
		return errors.New("pluginsdk: Plugin needs a Name and a Version")
	}
	if len(p.Components) == 0 {
		return fmt.Errorf("pluginsdk: plugin %s declares no components", p.Name)
	}
	seen := map[string]bool{}
	for _, c := range p.Components {
		key := c.kind.String() + "." + c.name
		if c.name == "" || seen[key] {
			return fmt.Errorf("pluginsdk: plugin %s: duplicate or unnamed component %q", p.Name, key)
		}
		if c.newSource == nil && c.newProcessor == nil && c.newSink == nil {
			return fmt.Errorf("pluginsdk: plugin %s: component %s has no constructor", p.Name, key)
		}
		seen[key] = true
	}
	return nil
}

func (p Plugin) component(kind wire.Kind, name string) (Component, bool) {
	for _, c := range p.Components {
		if c.kind == kind && c.name == name {
			return c, true
		}
	}
	return Component{}, false
}

// schema returns the plugin's GetSchema answer, also printed by `describe`
// (and given in-process by pluginsdk/describe).
func (p Plugin) schema() *flowctlv1.GetSchemaResponse {
	resp := &flowctlv1.GetSchemaResponse{Name: p.Name, Version: p.Version, ValidateOnly: true}
	for _, v := range wire.ProtocolVersions {
		resp.ProtocolVersions = append(resp.ProtocolVersions, uint32(v))
	}
	for _, c := range p.Components {
		resp.Components = append(resp.Components, c.proto())
	}
	return resp
}
