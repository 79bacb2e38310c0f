// Package pipeline builds the DAG of a parsed pipeline: one node per
// component, an edge from each input to the component that lists it, a
// dead-letter edge from each processor or sink with a dead_letter to that
// sink, and the facts the runtime needs about the shape (topological order,
// sources, sinks, the sinks each node's events reach through inputs).
//
// Build is the only constructor. It checks the shape and returns a Graph only
// when the shape can run; otherwise it returns diagnostics, each pointing at
// the component or input reference to fix. The rules are package topology's,
// which the engines (host/router, host/plane) check too; Build words each
// broken rule for the pipeline's author:
//
//   - an input that names no declared component (with the declared names of
//     that kind, or the closest one as "Did you mean");
//   - an input that is a sink (a sink passes no events on);
//   - the same input listed twice by one component;
//   - a processor or sink without inputs, except a sink that is some
//     component's dead_letter (it may receive dead letters only);
//   - a dead_letter that names no declared sink (with the declared sinks,
//     or the closest one), or names its own component;
//   - a dead_letter on a sink that is itself a dead-letter sink: dead
//     letters of dead letters could go round from sink to sink;
//   - a source or processor that nothing reads (its events would go
//     nowhere); not reported when the pipeline has no sink at all, because
//     then "No sink" is the one thing to fix;
//   - a cycle, named as its path (processor.a → processor.b → processor.a)
//     and pointing at the input reference that closes it. Dead-letter edges
//     count, though the rules above leave none that could close a cycle;
//   - a pipeline without any source, or without any sink.
//
// Order is deterministic everywhere: where the graph leaves a choice, the
// component declared first in the file comes first. A Graph and its Nodes are
// read-only after Build and safe for concurrent readers.
//
// The parser (package flowhcl) has already checked what can be seen in one
// block: inputs and dead_letter are kind.name references, a dead_letter
// names a sink, and only processors and sinks have them. Build expects a
// Config that parsed without errors.
package pipeline
