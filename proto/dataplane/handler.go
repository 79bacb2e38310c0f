package dataplane

import (
	"context"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Batch is an encoded EventList and the number of events in it.
type Batch struct {
	Events []byte
	Count  uint32
	// Remaining, from a source: the events it has left after this batch
	// (nil: it does not know). Reported to the host for progress.
	Remaining *uint64
}

// Shape is a source's batch shaping: at most MaxEvents per batch, sent once
// LingerNanos have passed since its first event even when not full. Zero
// fields mean the component's defaults.
type Shape struct {
	MaxEvents   uint32
	LingerNanos int64
}

// A SourceHandler is the component behind a source node.
//
// Open is called once, first. Next is then called from one goroutine, only
// while the source holds a credit; Ack and Release are called from another,
// concurrently with Next. Nothing is called after Run returns; the caller
// tears the component down.
type SourceHandler interface {
	// Open starts reading after position from (nil: from the start).
	Open(ctx context.Context, from []byte, shape Shape) error
	// Next returns the next batch and the position of its last event; it
	// blocks until there is one. end reports that the input is exhausted:
	// b may then hold a last batch (Count 0 for none) and Next is not called
	// again. ctx is cancelled when the source is drained or finished.
	Next(ctx context.Context) (b Batch, position []byte, end bool, err error)
	// Ack says every event up to and including position was delivered.
	Ack(ctx context.Context, position []byte) error
	// Release says n more batches may be read (their predecessors were
	// delivered); a handler that reads only when Next is called ignores it.
	Release(n uint32)
}

// Result is a processor's answer to one batch: its outputs, and the input
// events that failed (Errors, by index) or a failure of the whole batch
// (Error; Out and Errors are then empty).
type Result struct {
	Out    Batch
	Errors []*flowctlv1.EventError
	Error  string
}

// A ProcessorHandler is the component behind a processor node. Open is
// called once, then Process for one batch at a time, in order.
type ProcessorHandler interface {
	Open(ctx context.Context) error
	// Process answers one batch. An error (not a Result's) is a broken
	// component: the node's stream fails and the host restarts the plugin.
	// The handler holds in.Count to the events it finds in in.Events, and
	// returns an ErrProtocol error when they differ: it decodes them anyway,
	// and the count is what the host counts.
	Process(ctx context.Context, in Batch) (Result, error)
}

// WriteResult is a sink's answer to one batch: nothing failed, the whole
// batch failed (Error: a nack), or single events failed (Errors, by index:
// the others are written).
type WriteResult struct {
	Errors []*flowctlv1.EventError
	Error  string
}

// A SinkHandler is the component behind a sink node. Open is called once,
// then Write for one batch at a time, in order.
type SinkHandler interface {
	Open(ctx context.Context) error
	// Write returns once the batch is durably written (or failed). An error
	// (not a WriteResult's) is a broken component, as for Process, which
	// also says how the count is checked.
	Write(ctx context.Context, in Batch) (WriteResult, error)
}
