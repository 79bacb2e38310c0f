package pluginsdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/proto/dataplane"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// Batch shaping used when the host leaves it unset.
const (
	defaultMaxBatchEvents = 1000
	defaultLinger         = 10 * time.Millisecond
)

// errHostClosed is the cause when the host closes its side of a source
// stream before the input ended: it is stopping the source (drain), which
// is not a failure.
var errHostClosed = errors.New("host closed the stream")

type sourceService struct {
	flowctlv1.UnimplementedSourceServer
	srv *server
}

// Stream runs a source: it reads and sends batches while it holds credit,
// and applies the host's cumulative acks as they come.
func (svc *sourceService) Stream(stream flowctlv1.Source_StreamServer) error {
	inst, sctx, end, err := svc.srv.begin(stream.Context(), wire.KindSource)
	if err != nil {
		return err
	}
	defer end()

	first, err := stream.Recv()
	if err != nil {
		return err
	}
	open := first.GetOpen()
	if open == nil {
		return status.Error(codes.InvalidArgument, "first source message must be open")
	}
	ctx, cancel := context.WithCancelCause(sctx)
	defer cancel(nil)
	if err := inst.do(func() error { return inst.source.Open(ctx, open.GetPosition()) }); err != nil {
		return streamError(inst, "open", err)
	}

	cr := dataplane.NewCredits(open.GetCredits())
	acksDone := make(chan error, 1)
	go func() { acksDone <- svc.receiveAcks(ctx, stream, inst, cr, cancel) }()

	b := newBatcher(inst.read, int(open.GetMaxBatchEvents()), time.Duration(open.GetLingerNanos()))
	remaining := func() *uint64 { return remainingOf(inst) }
	err = produce(ctx, stream, b, remaining, cr)
	if err != nil {
		cause := context.Cause(ctx)
		switch {
		case errors.Is(cause, errHostClosed):
			return nil
		case cause != nil && !errors.Is(cause, context.Canceled):
			err = cause // the ack side failed first
		}
		return streamError(inst, "read", err)
	}
	if err := stream.Send(&flowctlv1.SourceResponse{Msg: &flowctlv1.SourceResponse_End{End: &flowctlv1.SourceEnd{}}}); err != nil {
		return err
	}
	// The host closes its side once it has sent the last ack.
	return streamError(inst, "ack", <-acksDone)
}

func (svc *sourceService) receiveAcks(ctx context.Context, stream flowctlv1.Source_StreamServer, inst *instance, cr *dataplane.Credits, cancel context.CancelCauseFunc) error {
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			cancel(errHostClosed)
			return nil
		}
		if err != nil {
			cancel(err)
			return err
		}
		ack := req.GetAck()
		if ack == nil {
			continue
		}
		if len(ack.GetPosition()) > 0 {
			if err := inst.do(func() error { return inst.source.Ack(ctx, ack.GetPosition()) }); err != nil {
				cancel(err)
				return err
			}
		}
		cr.Add(ack.GetCredits())
	}
}

// readFunc is Source.Read, guarded against Teardown (instance.read).
type readFunc func(ctx context.Context, max int) ([]Record, error)

// produce sends batches until the source ends (nil) or fails.
func produce(ctx context.Context, stream flowctlv1.Source_StreamServer, b *batcher, remaining func() *uint64, cr *dataplane.Credits) error {
	var (
		seq    uint64
		buf    []byte
		events []Event
	)
	for {
		if err := cr.Take(ctx); err != nil {
			return err
		}
		recs, end, err := b.fill(ctx)
		if err != nil {
			return err
		}
		if len(recs) > 0 {
			events = events[:0]
			for i := range recs {
				events = append(events, recs[i].Event)
			}
			buf = appendEvents(buf[:0], events)
			seq++
			msg := &flowctlv1.SourceResponse{Msg: &flowctlv1.SourceResponse_Batch{Batch: &flowctlv1.SourceBatch{
				Seq:       seq,
				Batch:     &flowctlv1.Batch{Count: uint32(len(recs)), Events: buf},
				Position:  recs[len(recs)-1].Position,
				Remaining: remaining(),
			}}}
			// Send has serialized msg when it returns, so buf is reused.
			if err := stream.Send(msg); err != nil {
				return err
			}
		}
		if end {
			return nil
		}
	}
}

// batcher makes a source's batches, the same way under every protocol.
type batcher struct {
	read   readFunc
	max    int           // events in a batch
	linger time.Duration // how long a batch waits for more after its first record
	// kept is fill's scratch space, where a batch's records wait while it
	// reads more.
	kept []Record
}

// newBatcher makes batches of read's records as the host shaped them; zero
// (or less) is the default.
func newBatcher(read readFunc, max int, linger time.Duration) *batcher {
	b := &batcher{read: read, max: max, linger: linger}
	if b.max <= 0 {
		b.max = defaultMaxBatchEvents
	}
	if b.linger <= 0 {
		b.linger = defaultLinger
	}
	return b
}

// fill reads one batch: it waits for the first record, then keeps reading
// until the batch is full or linger has passed since the first record.
// A source may hand back the same slice from every Read (Source.Read), so
// before it reads again fill moves what it has into kept, whose memory is
// the SDK's: so does an empty first read, which may be the source's slice.
func (b *batcher) fill(ctx context.Context) (recs []Record, end bool, err error) {
	recs, err = b.read(ctx, b.max)
	if errors.Is(err, ErrEndOfInput) {
		return recs, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	deadline := time.Now().Add(b.linger)
	for len(recs) < b.max {
		if time.Until(deadline) <= 0 {
			return recs, false, nil
		}
		if len(recs) == 0 || len(b.kept) == 0 || &recs[0] != &b.kept[0] {
			b.kept = append(b.kept[:0], recs...)
			recs = b.kept
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		more, err := b.read(rctx, b.max-len(recs))
		cancel()
		recs = append(recs, more...)
		b.kept = recs
		switch {
		case errors.Is(err, ErrEndOfInput):
			return recs, true, nil
		case err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
			return recs, false, nil
		case err != nil:
			return nil, false, err
		}
	}
	return recs, false, nil
}

type processorService struct {
	flowctlv1.UnimplementedProcessorServer
	srv *server
}

// Stream answers each batch with its outputs, in request order.
func (svc *processorService) Stream(stream flowctlv1.Processor_StreamServer) error {
	inst, ctx, end, err := svc.srv.begin(stream.Context(), wire.KindProcessor)
	if err != nil {
		return err
	}
	defer end()
	if err := inst.do(func() error { return inst.processor.Open(ctx) }); err != nil {
		return streamError(inst, "open", err)
	}
	var (
		in, out []Event
		invalid []invalidEvent
		dec     decoder
		buf     []byte
		resp    *flowctlv1.ProcessResponse
		idx     uint32 // the input being processed
	)
	// One closure for the stream: made per event, it escapes through the
	// Processor interface and costs an allocation each time.
	emit := func(e Event) {
		out = append(out, e)
		resp.Origins = append(resp.Origins, idx)
	}
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		in, invalid, err = dec.decode(req.GetBatch().GetEvents(), in[:0], invalid[:0])
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "%s: batch %d: %v", inst.address, req.GetSeq(), err)
		}
		resp = &flowctlv1.ProcessResponse{Seq: req.GetSeq()}
		out = out[:0]
		err = inst.do(func() error {
			for i := range in {
				idx = uint32(i)
				if len(invalid) > 0 && invalid[0].index == i {
					// Refused at the door: the error takes the on_error path.
					resp.Errors = append(resp.Errors, &flowctlv1.EventError{Index: idx, Message: invalid[0].err.Error()})
					invalid = invalid[1:]
					continue
				}
				if err := inst.processor.Process(ctx, in[i], emit); err != nil {
					resp.Errors = append(resp.Errors, &flowctlv1.EventError{Index: idx, Message: err.Error()})
				}
			}
			return nil
		})
		if err != nil {
			return streamError(inst, "process", err)
		}
		buf = appendEvents(buf[:0], out)
		resp.Batch = &flowctlv1.Batch{Count: uint32(len(out)), Events: buf}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

type sinkService struct {
	flowctlv1.UnimplementedSinkServer
	srv *server
}

// Stream writes each batch and acks it once Write returned.
func (svc *sinkService) Stream(stream flowctlv1.Sink_StreamServer) error {
	inst, ctx, end, err := svc.srv.begin(stream.Context(), wire.KindSink)
	if err != nil {
		return err
	}
	defer end()
	if err := inst.do(func() error { return inst.sink.Open(ctx) }); err != nil {
		return streamError(inst, "open", err)
	}
	var (
		events  []Event
		invalid []invalidEvent
		dec     decoder
	)
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		ack := &flowctlv1.SinkAck{Seq: req.GetSeq(), Ok: true}
		events, invalid, err = dec.decode(req.GetBatch().GetEvents(), events[:0], invalid[:0])
		if err == nil && len(invalid) > 0 {
			// A sink acks whole batches: one event refused at the door
			// nacks the batch, and on_error takes all of it.
			err = refused(invalid)
		}
		if err == nil {
			err = inst.do(func() error { return inst.sink.Write(ctx, events) })
		}
		if err != nil {
			ack.Ok, ack.Error = false, err.Error()
		}
		if err := stream.Send(ack); err != nil {
			return err
		}
	}
}

// refused is the error of a batch holding events refused where they enter
// a sink.
func refused(invalid []invalidEvent) error {
	err := fmt.Errorf("event %d: %w", invalid[0].index, invalid[0].err)
	if len(invalid) > 1 {
		err = fmt.Errorf("%w (and %d more events refused)", err, len(invalid)-1)
	}
	return err
}

// remainingOf asks a source with the optional Remaining method what it has
// left; nil when it has no such method or does not know.
func remainingOf(inst *instance) *uint64 {
	r, ok := inst.source.(remainder)
	if !ok {
		return nil
	}
	var n uint64
	known := false
	_ = inst.do(func() error { n, known = r.Remaining(); return nil })
	if !known {
		return nil
	}
	return &n
}
