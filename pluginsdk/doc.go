// Package pluginsdk is the only package a flowctl plugin author imports.
//
// A plugin is a binary that calls Serve with a Plugin value listing its
// components: sources (NewSource), processors (NewProcessor) and sinks
// (NewSink). Each component declares its configuration with a Spec built
// from typed attributes (String, Number, Bool, StringList, StringMap,
// Duration); the host checks a pipeline's values against it and the
// component reads them back, typed, from Config.
//
// The host starts one plugin process per pipeline component, handshakes over
// go-plugin (gRPC only), calls Configure once and opens the stream of the
// component's kind. `flowctl validate` instead starts each plugin binary
// once and sends a Configure with validate_only for every component it
// serves: the SDK parses the configuration and runs the constructor (which
// validates and has no side effects), answers with the diagnostics and
// keeps nothing. The SDK batches what a Source reads, encodes events
// without the host ever decoding them, honours the host's credits (a source
// never has more unacknowledged batches out than it was granted) and
// delivers cumulative acks to Source.Ack. Lifecycles are documented on the
// Source, Processor and Sink interfaces.
//
// A component's error fails its batch or its stream, and the host restarts
// a failed plugin as the pipeline allows. An error a restart cannot cure (a
// port in use, a permission denied) is returned as Permanent(err): the run
// then stops at once, naming the component. Better still, a constructor
// finds such problems from the configuration, so validate reports them.
//
// Events carry their attributes as an ordered slice (Event.Attribute,
// SetAttribute, DeleteAttribute, Clone). Where an event enters a processor
// or sink, the SDK refuses it if it carries more than 1024 attributes, more
// than 64 KiB of them, or a string field that is not valid UTF-8: the
// component never sees it, and the host applies the component's on_error
// to it like to any failed event (ErrEventTooLarge, ErrInvalidEvent;
// Event.Validate lets a source refuse such an event itself). Components
// log through Logger, given in Init; a plugin imports nothing but this
// package, and pluginsdk/sdktest for its tests.
//
// Compatibility: a component that embeds UnimplementedSource (UnimplementedProcessor,
// UnimplementedSink) keeps building when a later SDK adds a method to its
// interface; optional abilities (Health) are methods found by type
// assertion. `make api-check` compares the exported API with a committed
// baseline (golang.org/x/exp/apidiff) and fails on an incompatible change;
// tests cap the exported surface and keep it free of the host's types.
//
// Run with the single argument `describe`, a plugin prints its name,
// version, protocol versions and component schemas as JSON. A plugin whose
// host disappears exits by itself (see watchParent).
//
// This package must not import the host (host/, drivers/, hcl/, cmd/); a
// test enforces it. What serves the host without being API (registering
// the services, parsing a configuration, the wire codec) is reached by
// sdktest through pluginsdk/internal/sdkhooks; what the host and the SDK
// share lives in proto/wire.
package pluginsdk
