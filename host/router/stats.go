package router

import "sync/atomic"

// NodeStats are one node's counters. Events are counted with Batch.Count.
//
//   - Source: EventsOut and BatchesOut are what the source sent and the
//     router forwarded (once, whatever the fan-out); EventsAcked are the events
//     every sink confirmed, whose positions were checkpointed (and acked to
//     the source, unless its stream had failed by then). Batches dropped by
//     Drain are not counted.
//   - Processor: EventsIn and BatchesIn are what was sent to the plugin;
//     EventsOut and BatchesOut the non-empty results forwarded downstream;
//     EventsFailed the events of failed batches (the whole batch for a batch
//     error, one per event error).
//   - Sink: EventsIn and BatchesIn are what was sent to the plugin;
//     EventsAcked the events the sink acked; EventsFailed the events of the
//     batch it nacked.
//
// For processors and sinks, EventsFailed counts events that failed for good
// (dead-lettered, or failing the run), Retried the events sent again under
// on_error = "retry", and DeadLettered the events sent to the dead-letter
// sink. Restarts counts the plugin restarts of any node; the batches a
// restarted processor or sink held are sent again and counted again in
// EventsIn.
type NodeStats struct {
	Name         string
	Kind         Kind
	EventsIn     uint64
	EventsOut    uint64
	BatchesIn    uint64
	BatchesOut   uint64
	EventsAcked  uint64
	EventsFailed uint64
	Retried      uint64
	DeadLettered uint64
	Restarts     uint64
	// Queued is the batches waiting at the node now, where the engine
	// knows it (host/plane: a processor's or sink's inbox, a source's
	// batches not yet delivered everywhere); zero otherwise.
	Queued uint64
}

// counters are a node's live NodeStats.
type counters struct {
	eventsIn, eventsOut   atomic.Uint64
	batchesIn, batchesOut atomic.Uint64
	eventsAcked           atomic.Uint64
	eventsFailed          atomic.Uint64
	retried, deadLettered atomic.Uint64
	restarts              atomic.Uint64
}

func (c *counters) countIn(events uint32) {
	c.batchesIn.Add(1)
	c.eventsIn.Add(uint64(events))
}

func (c *counters) countOut(events uint32) {
	c.batchesOut.Add(1)
	c.eventsOut.Add(uint64(events))
}

func (c *counters) snapshot(name string, kind Kind) NodeStats {
	return NodeStats{
		Name:         name,
		Kind:         kind,
		EventsIn:     c.eventsIn.Load(),
		EventsOut:    c.eventsOut.Load(),
		BatchesIn:    c.batchesIn.Load(),
		BatchesOut:   c.batchesOut.Load(),
		EventsAcked:  c.eventsAcked.Load(),
		EventsFailed: c.eventsFailed.Load(),
		Retried:      c.retried.Load(),
		DeadLettered: c.deadLettered.Load(),
		Restarts:     c.restarts.Load(),
	}
}
