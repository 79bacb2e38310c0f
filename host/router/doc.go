// Package router moves batches along a pipeline DAG between plugin streams.
//
// The supervisor opens one gRPC stream per component and hands the router a
// []Node: a name, the names of its inputs, and exactly one of a SourceStream,
// ProcessorStream or SinkStream. New checks the topology; Run moves batches
// until every source has ended and everything it produced has been acked, the
// caller cancels, or a component fails.
//
// # Payloads
//
// The router never decodes event payloads. A batch is a *flowctlv1.Batch: a
// count (which is all the router reads, for credits and statistics) and the
// opaque wire encoding of the events. It is forwarded as received; fan-out
// hands the same pointer to every output, so nothing may mutate a batch once
// it has entered the router.
//
// # Bounds and backpressure
//
// Every queue is bounded and nothing is ever dropped:
//
//   - A source gets Options.MaxInFlight credits when its stream opens and one
//     more per batch acked. A source that sends more batches than it was
//     granted breaks the protocol and fails the run.
//   - Each processor and sink has one inbox of capacity MaxInFlight, shared by
//     all of its input edges (fan-in: any interleaving, FIFO per edge). A full
//     inbox blocks the upstream sender.
//   - Each processor and sink stream has a window of MaxInFlight requests
//     awaiting their response or ack, so a slow plugin slows its upstream.
//
// # Tickets and acks (at-least-once)
//
// Every batch a source sends becomes a ticket: the source, the position of the
// batch's last event, its event count and a reference count. Each edge the
// ticket (or a batch derived from it by a processor) is sent along takes a
// reference; the reference is released when the sink acks the batch, or when
// a processor answers with an empty batch (an event a processor filters out
// counts as acked). The runner that distributes a ticket holds one reference
// of its own while it does, so a ticket cannot complete before it has reached
// every output.
//
// When a ticket's last reference is released it is done. Per source, the
// router releases the longest run of done tickets in the order the source sent
// them, so positions are acked in order even when a later batch completes
// first. For each release it calls Options.Checkpoint (when set) with the last
// released position and then sends the source a SourceAck with that position
// and one credit per released ticket. Releases that happen close together may
// be coalesced into one ack. Checkpoint calls and acks for one source happen on
// one goroutine, in position order.
//
// # Ends
//
// A source's SourceEnd closes its output edges; processors and sinks close
// their outputs once every input is closed and every outstanding request has
// been answered, and then half-close their stream (CloseSend). A source stream
// is half-closed once it has ended and every ticket it produced has been acked
// to it. After CloseSend each runner keeps reading its stream until the plugin
// ends it (io.EOF); a source plugin may also end its stream on its own once it
// has sent SourceEnd and received its last ack. Run returns nil when every
// stream has ended this way.
//
// # Errors
//
// One failing component fails the run: Run cancels every runner and returns
// the first error, a *NodeError naming the component. A processor's batch or
// event error and a sink's nack are a *BatchError (for example
// "processor.tag: batch 7: event 3: boom", "sink.out: batch 7 not written:
// disk full"); a stream that fails is reported as "sink.out: stream: ..."
// wrapping the stream's error; a plugin that ends its stream before the
// orderly end yields ErrUnexpectedClose; a plugin that answers out of order or
// exceeds its credits yields ErrProtocol. Nothing past a failure is acked.
// When the caller cancels ctx, Run returns ctx.Err().
//
// # Goroutines and stream contexts
//
// A gRPC stream's Recv only returns when a message arrives or the stream ends;
// it does not watch Run's context. Every goroutine Run starts has finished
// when Run returns, except that a goroutine blocked in a stream's Recv keeps
// waiting for that stream to end. After a successful Run there is none. When
// Run returns an error, or the caller cancelled ctx, the caller must cancel
// the streams' context (or close their connections) to end those Recv calls.
// The simplest way is to open every stream with a context that is cancelled
// as soon as Run returns. Such a goroutine touches only the router's
// internal, synchronised state on its way out.
//
// # Drain
//
// Drain stops the pipeline gracefully, like net/http.Server.Shutdown: sources
// get no further credits, batches that sources send after Drain are dropped
// without being forwarded or acked (so they are read again when the pipeline
// resumes from its checkpoint), and everything already in flight is delivered,
// acked and checkpointed. Each source stream is then half-closed and Run
// returns nil. To give up on a drain that takes too long, cancel Run's
// context.
package router
