package router

import (
	"context"
	"fmt"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// processorRunner drives a processor's streams: the window's sendLoop sends
// the merged inputs and retries, recvLoop forwards each result with its
// input's ticket.
type processorRunner struct {
	*node
	r       *Router
	stream  ProcessorStream
	restart func(context.Context, error) (Streams, error)
	w       *window
}

func (p *processorRunner) run(ctx context.Context) error {
	return runWindowed(ctx, p.r, p.node, p.w, p.stream, p.restart,
		func(s Streams) (ProcessorStream, bool) { return s.Processor, s.Processor != nil },
		func(s ProcessorStream) *conn {
			return &conn{
				send: func(seq uint64, b *flowctlv1.Batch) error {
					return s.Send(&flowctlv1.ProcessRequest{Seq: seq, Batch: b})
				},
				closeSend: s.CloseSend,
			}
		},
		p.recvLoop)
}

// recvLoop handles the results of one stream. ctx is the run's: a result is
// forwarded whole even when the stream fails meanwhile.
func (p *processorRunner) recvLoop(ctx context.Context, stream ProcessorStream, c *conn) error {
	for {
		resp, err := stream.Recv()
		if err != nil {
			return p.w.recvEnd(p.node, c, err)
		}
		rq, err := p.w.answer(resp.GetSeq())
		if err != nil {
			return p.fail(err)
		}
		if err := checkCount(resp.GetBatch()); err != nil {
			return p.fail(fmt.Errorf("result of batch %d: %w", resp.GetSeq(), err))
		}
		if err := p.onResponse(ctx, rq, resp); err != nil {
			return err
		}
		p.w.done()
	}
}

// onResponse applies the error policy to failed events, forwards a
// non-empty result under the input's ticket and then releases the input: a
// filtered batch is simply released, which counts as its ack. A failure
// keeps the ticket, so nothing from it is acked.
func (p *processorRunner) onResponse(ctx context.Context, rq *request, resp *flowctlv1.ProcessResponse) error {
	sendDLQ := func(it item) error {
		_, err := p.dlq.send(ctx, it, nil)
		return err
	}
	if msg := resp.GetError(); msg != "" {
		if err := p.onFailure(p.w, failure{rq: rq, reasons: []string{msg}}, sendDLQ); err != nil {
			return err
		}
		rq.it.t.release()
		return nil
	}
	if errs := resp.GetErrors(); len(errs) > 0 {
		f := failure{rq: rq}
		for _, e := range errs {
			f.index = append(f.index, int(e.GetIndex()))
			f.reasons = append(f.reasons, e.GetMessage())
		}
		if err := p.onFailure(p.w, f, sendDLQ); err != nil {
			return err
		}
	}
	if out := resp.GetBatch(); out.GetCount() > 0 {
		p.stats.countOut(out.GetCount())
		if _, err := p.out.send(ctx, item{t: rq.it.t, b: out}, nil); err != nil {
			return err
		}
	}
	rq.it.t.release()
	return nil
}
