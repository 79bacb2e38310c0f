// Package router moves batches along a pipeline DAG between plugin streams.
//
// It is the relay of plugin protocol version 1: every batch crosses the host.
// apply uses it only when the direct data plane (host/plane, protocol 2)
// cannot carry a pipeline: a plugin speaks version 1 only (the Python
// example), or one edge has no direct transport (a container or a Pod
// sending to a local process, a local process sending to a Pod). Both keep
// the same delivery guarantees; host/engine.go chooses.
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
//     more per batch released (delivered everywhere). A source that sends more batches than it was
//     granted breaks the protocol and fails the run.
//   - Each processor and sink has one inbox of capacity MaxInFlight, shared by
//     all of its input edges (fan-in: any interleaving, FIFO per edge). A full
//     inbox blocks the upstream sender.
//   - Each processor and sink stream has a window of MaxInFlight requests
//     awaiting their response or ack, so a slow plugin slows its upstream.
//   - Retries and dead letters hold their ticket, and a ticket holds its
//     source's credit, so they are bounded by the sources' credits too.
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
// first. A release gives the source one credit per ticket at once, in a
// SourceAck without a position. The released positions are then
// checkpointed: Options.Checkpoint is called with the last released position,
// and only once it returns is the source sent a SourceAck with that position.
// Checkpoints of one source are at least Options.CheckpointInterval apart;
// releases in between are checkpointed and acked together (at once when the
// source is finished). Checkpoint calls and acks for one source happen on one
// goroutine, in position order.
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
// # Restarts
//
// A stream that fails (its Recv returns an error other than the orderly
// io.EOF, the plugin ends it early, or Send fails) is a crashed or hung
// plugin. With Node.Restart set the runner calls it, which kills what is left
// of the plugin, starts a new one and returns its stream, and carries on:
//
//   - A processor or sink is sent again, first and in order, every request the
//     failed stream had not answered (numbered from 1 on the new stream). Its
//     tickets are untouched, so nothing is acked twice or lost; a sink that
//     had written a batch without acking it writes it again (at least once).
//   - A source is opened again after the last position the router received
//     from it, with the credits its tickets in flight do not hold; those
//     tickets are acked to the new stream as they complete. A source that
//     had already ended, or is draining, is not restarted: its remaining
//     positions are checkpointed without acks.
//
// Failures of any other kind (ErrProtocol, a failed checkpoint, a batch
// failure under on_error = fail) are final.
//
// # Event errors (on_error)
//
// A processor's batch error, its per-event errors and a sink's nack are
// handled by the node's ErrorPolicy. ErrorFail fails the run. ErrorRetry
// sends the failed events again (only those: a processor's other outputs go
// on) after Delay, doubling up to MaxDelay, at most Attempts times, through a
// retry queue the sender prefers to new input; retried events may overtake
// later batches. ErrorDeadLetter, or ErrorRetry with a DeadLetter sink once
// the retries are spent, sends the failed events to that sink with the error
// in their attributes (AttrError, AttrComponent, AttrAttempts); their ticket
// completes when the dead-letter sink acks them. Only this error path decodes
// events. A dead-letter sink is fed by its senders as if they were inputs,
// and may not have a dead-letter sink of its own.
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
