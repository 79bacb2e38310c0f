package pluginsdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowctl/flowctl/proto/dataplane"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// nodeService serves protocol 2: the component's Node.Run control stream,
// with its batches moving over Edge streams straight to and from other
// plugins (proto/dataplane runs them). The component's code is the same
// as under protocol 1; these adapters are what changes.
type nodeService struct {
	flowctlv1.UnimplementedNodeServer
	srv *server
	mux *dataplane.Mux
}

// nodeStream gives dataplane.Run the stream with the instance's context,
// which also ends when the host stops the plugin.
type nodeStream struct {
	flowctlv1.Node_RunServer
	ctx context.Context
}

func (s nodeStream) Context() context.Context { return s.ctx }

func (svc *nodeService) Run(stream flowctlv1.Node_RunServer) error {
	svc.srv.mu.Lock()
	var kind wire.Kind
	if svc.srv.inst != nil {
		kind = svc.srv.inst.kind
	}
	svc.srv.mu.Unlock()
	inst, ctx, end, err := svc.srv.begin(stream.Context(), kind)
	if err != nil {
		return err
	}
	defer end()
	var h any
	switch {
	case inst.source != nil:
		h = &sourceNode{inst: inst}
	case inst.processor != nil:
		h = &processorNode{inst: inst}
	default:
		h = &sinkNode{inst: inst}
	}
	err = dataplane.Run(nodeStream{stream, ctx}, svc.mux, h, dataplane.Options{Logger: svc.srv.log.Named(inst.address), Component: inst.address})
	// The runtime's errors name their step (open, read, process, write).
	return streamError(inst, "", err)
}

// sourceNode is a Source as a dataplane.SourceHandler: batches are shaped
// as under protocol 1, each encoded into a buffer of its own (the runtime
// keeps it until its ticket is released).
type sourceNode struct {
	inst  *instance
	batch *batcher
	sizes []int // encodeRecords' scratch
}

func (s *sourceNode) Open(ctx context.Context, from []byte, shape dataplane.Shape) error {
	s.batch = newBatcher(s.inst.read, int(shape.MaxEvents), time.Duration(shape.LingerNanos))
	return s.inst.do(func() error { return s.inst.source.Open(ctx, from) })
}

func (s *sourceNode) Next(ctx context.Context) (dataplane.Batch, []byte, bool, error) {
	recs, end, err := s.batch.fill(ctx)
	if err != nil || len(recs) == 0 {
		return dataplane.Batch{}, nil, end, err
	}
	var enc []byte
	enc, s.sizes = encodeRecords(recs, s.sizes)
	b := dataplane.Batch{Events: enc, Count: uint32(len(recs)), Remaining: remainingOf(s.inst)}
	return b, recs[len(recs)-1].Position, end, nil
}

func (s *sourceNode) Ack(ctx context.Context, pos []byte) error {
	return s.inst.do(func() error { return s.inst.source.Ack(ctx, pos) })
}

func (s *sourceNode) Release(uint32) {}

// processorNode is a Processor as a dataplane.ProcessorHandler.
type processorNode struct {
	inst    *instance
	in, out []Event
	invalid []invalidEvent
	dec     decoder
	rec     received
	from    []int     // the input each of out was emitted for
	cur     int       // the input being processed
	plan    []outPlan // encodeOutputs' scratch
	// emit appends to out. It is made once: a closure made per call
	// escapes through the Processor interface, and allocating it for every
	// event cost a transform a tenth of its CPU.
	emit func(Event)
}

func (p *processorNode) Open(ctx context.Context) error {
	p.dec.rec = &p.rec
	p.emit = func(e Event) {
		p.out = append(p.out, e)
		p.from = append(p.from, p.cur)
	}
	return p.inst.do(func() error { return p.inst.processor.Open(ctx) })
}

func (p *processorNode) Process(ctx context.Context, b dataplane.Batch) (dataplane.Result, error) {
	var err error
	p.in, p.invalid, err = p.dec.decode(b.Events, p.in[:0], p.invalid[:0])
	if err == nil {
		err = checkCount(b, len(p.in))
	}
	if err != nil {
		return dataplane.Result{}, err
	}
	var res dataplane.Result
	p.out, p.from = p.out[:0], p.from[:0]
	err = p.inst.do(func() error {
		invalid := p.invalid
		for i := range p.in {
			if len(invalid) > 0 && invalid[0].index == i {
				// Refused at the door: the error takes the on_error path.
				res.Errors = append(res.Errors, &flowctlv1.EventError{Index: uint32(i), Message: invalid[0].err.Error()})
				invalid = invalid[1:]
				continue
			}
			p.cur = i
			if err := p.inst.processor.Process(ctx, p.in[i], p.emit); err != nil {
				res.Errors = append(res.Errors, &flowctlv1.EventError{Index: uint32(i), Message: err.Error()})
			}
		}
		return nil
	})
	if err != nil {
		return dataplane.Result{}, err
	}
	if len(p.out) > 0 {
		var enc []byte
		enc, p.plan = encodeOutputs(b.Events, &p.rec, p.in, p.out, p.from, p.plan)
		res.Out = dataplane.Batch{Events: enc, Count: uint32(len(p.out))}
	}
	clear(p.out)
	return res, nil
}

// checkCount holds a batch's declared count to the n events it decoded to:
// a count is what the host counts and what the summary shows. It is checked
// here, not where the batch arrives, because decoding walks the batch
// anyway: a pass of its own to count was a twentieth of a sink's CPU.
func checkCount(b dataplane.Batch, n int) error {
	if n != int(b.Count) {
		return fmt.Errorf("%w: a batch declares %d events and holds %d", dataplane.ErrProtocol, b.Count, n)
	}
	return nil
}

// sinkNode is a Sink as a dataplane.SinkHandler: an error from Write nacks
// the whole batch, as under protocol 1.
type sinkNode struct {
	inst    *instance
	events  []Event
	invalid []invalidEvent
	dec     decoder
}

func (k *sinkNode) Open(ctx context.Context) error {
	return k.inst.do(func() error { return k.inst.sink.Open(ctx) })
}

func (k *sinkNode) Write(ctx context.Context, b dataplane.Batch) (dataplane.WriteResult, error) {
	var err error
	k.events, k.invalid, err = k.dec.decode(b.Events, k.events[:0], k.invalid[:0])
	if err == nil {
		err = checkCount(b, len(k.events))
	}
	if err != nil {
		return dataplane.WriteResult{}, err
	}
	if len(k.invalid) > 0 {
		// A sink acks whole batches: an event refused at the door nacks it.
		return dataplane.WriteResult{Error: refused(k.invalid).Error()}, nil
	}
	err = k.inst.do(func() error { return k.inst.sink.Write(ctx, k.events) })
	switch {
	case err == nil:
		return dataplane.WriteResult{}, nil
	case errors.Is(err, ErrPluginShutdown) || ctx.Err() != nil:
		return dataplane.WriteResult{}, err
	}
	return dataplane.WriteResult{Error: err.Error()}, nil
}
