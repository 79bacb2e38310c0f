// Package plane is the host's side of the direct data plane (plugin
// protocol version 2, proto/flowctl/v1/dataplane.proto): the coordinator that
// keeps every delivery decision while batches travel plugin to plugin.
//
// # Who owns what
//
// Plugins own the bytes. Each edge of the graph is an Edge.Send stream from
// the upstream plugin to the downstream one (proto/dataplane runs it inside
// every plugin); the host never reads or writes a batch.
//
// The host owns the decisions. Each plugin holds one Node.Run stream (Conn)
// with the coordinator, which opens it (its place in the graph, its peers'
// addresses, a source's resume position and credits) and learns from it in
// small reports: a source's batches (seq, count, last position), the ticket
// shares a component returns when it is done with a batch, the events it
// failed, its counters. From these the coordinator runs what host/router runs
// for protocol version 1: tickets released in position order, checkpoint
// then ack, credits, on_error (fail, retry with backoff, dead letter),
// restarts, drain, the counters of the summary.
//
// # Transport
//
// A peer's address comes from Options.Peer and depends on where both ends
// run (drivers.Instance.Peers). Local plugins reach each other on the unix
// sockets go-plugin serves them on, in the run's private directory (mode
// 0700), in the clear. Containers on one Docker network reach each other at
// their container addresses, Pods of one cluster at their Pod IPs, and a
// local plugin reaches a container at its published loopback port: all of
// these over TCP with mutual TLS, each sender presenting a peer certificate
// from the run's CA (Node.TLS), which the receiving plugin lets call the
// Edge service only. A port-forward to a Pod carries its control stream,
// never batches. An edge none of these covers makes apply use host/router
// for the whole run.
//
// # Tickets
//
// Every source batch is a ticket with the weight dataplane.Full. A component
// that sends a batch on splits its share among its outputs; one that is done
// with a batch returns its share. A ticket is released when its returned
// shares add up to Full: every sink reachable from it wrote everything that
// came of it (a processor that drops an event returns its share, which
// counts as its ack). Sums do not depend on the order in which reports of
// different plugins arrive, so shares may even overtake the source's report
// of the batch (they are parked until it arrives). Released tickets give the
// source its credits back at once; their positions are checkpointed (bbolt,
// Options.Checkpoint) at most every Options.CheckpointInterval and acked to
// the source after. A source holds at most Options.MaxInFlight unreleased
// tickets, which bounds every edge downstream: a slow sink slows its
// sources, and nothing is dropped because a queue is full.
//
// # Parallel components
//
// A component with parallelism N is N nodes, one per instance, that share
// a Stage. Every upstream sees a stage as one output (NodeOpen's peers of
// one group, protocol version 3): a batch goes to one instance, whichever
// is ready first, or is split by event key (Node.Partition), the parts
// dividing the batch's share as a fan-out does. The tickets need nothing
// else: a source batch is released when every part's share has come back,
// from every instance that got one. Each instance is restarted on its own;
// its restart rewinds the sources upstream of it like any other's, so the
// other instances may see batches again too.
//
// # Recovery
//
// A source keeps every batch it sent until its ticket is released. When a
// processor or sink fails, the coordinator has its plugin restarted, sends
// the new plugin's address to its upstreams (PeerUpdate) and rewinds every
// source upstream of it: a new epoch begins, the source sends every batch it
// still keeps again, and shares of the old epoch no longer count (plugins
// drop old-epoch batches they find, EpochNotice). Replaying from the sources'
// windows was chosen over each edge keeping its own window: a source's
// window is the only place a batch is whole (a processor's outputs of a
// batch are spread over time and over its outputs), it costs no copy (the
// source keeps the bytes it sent), and it makes recovery the same for every
// topology. The price is that a failure delivers again what was in flight
// from those sources, at most MaxInFlight batches per source, to every sink
// downstream of them: duplicates stay bounded by the in-flight window.
//
// When a source's own plugin fails, what it kept is gone: the new plugin
// reads again after the last released position, under a new epoch, and the
// unreleased tickets are forgotten (their events are read again).
//
// # Finishing
//
// A source that has ended (or drained) and whose tickets are all released
// and checkpointed is told to Finish; a processor or sink is told to Finish
// once every source upstream of it has. Run returns when every stream has
// ended after Finish.
package plane
