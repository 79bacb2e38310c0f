package router

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	// ErrUnexpectedClose is a plugin ending its stream before the orderly end
	// (before the host half-closed it, or for a source, before SourceEnd).
	ErrUnexpectedClose = errors.New("plugin closed its stream unexpectedly")

	// ErrProtocol is a plugin breaking the stream protocol: a response or ack
	// out of order, more batches than credits, a batch after SourceEnd.
	ErrProtocol = errors.New("protocol violation")
)

// NodeError is the error a component's runner fails with; Run returns it as
// is, so a caller can tell which plugin to blame (errors.As) and what went
// wrong (errors.Is on the wrapped error).
type NodeError struct {
	Node string // component address, e.g. "sink.out"
	Err  error
}

func (e *NodeError) Error() string { return e.Node + ": " + e.Err.Error() }

func (e *NodeError) Unwrap() error { return e.Err }

// BatchError is a batch a plugin answered with a failure: a processor's error
// for the whole batch or for one of its events, or a sink's nack.
type BatchError struct {
	Kind Kind   // KindProcessor or KindSink
	Seq  uint64 // request seq on the component's stream
	// Event is the index of the failed input event within the batch, or -1
	// when the whole batch failed.
	Event  int
	Reason string
	// More counts further failed events of the same batch that are not
	// reported in Event and Reason.
	More int
	// Attempts is how often the events were tried (on_error = "retry");
	// 0 or 1 means once.
	Attempts int
}

func (e *BatchError) Error() string {
	reason := e.Reason
	if reason == "" {
		reason = "no reason given"
	}
	if e.Attempts > 1 {
		reason += fmt.Sprintf(" (after %d attempts)", e.Attempts)
	}
	switch {
	case e.Kind == KindSink:
		return fmt.Sprintf("batch %d not written: %s", e.Seq, reason)
	case e.Event < 0:
		return fmt.Sprintf("batch %d: %s", e.Seq, reason)
	case e.More > 0:
		return fmt.Sprintf("batch %d: event %d: %s (and %d more failed events)", e.Seq, e.Event, reason, e.More)
	default:
		return fmt.Sprintf("batch %d: event %d: %s", e.Seq, e.Event, reason)
	}
}

// streamError marks a failure of the stream itself (the plugin crashed,
// hung and was killed, or the connection broke), which a restart may cure;
// every other failure (protocol violations, failed batches, checkpoints) is
// final.
type streamError struct{ err error }

func (e *streamError) Error() string { return e.err.Error() }

func (e *streamError) Unwrap() error { return e.err }

func restartable(err error) bool {
	var se *streamError
	if !errors.As(err, &se) {
		return false
	}
	// A plugin says a restart cannot cure its failure (pluginsdk.Permanent:
	// a port in use, a permission denied) with FailedPrecondition.
	st, ok := status.FromError(se.err)
	return !ok || st.Code() != codes.FailedPrecondition
}
