package router

import (
	"context"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// processorRunner drives one processor stream: the window's sendLoop sends
// the merged inputs, recvLoop forwards each result with its input's ticket.
type processorRunner struct {
	*node
	stream ProcessorStream
	w      window
}

func (p *processorRunner) sendLoop(ctx context.Context) error {
	send := func(seq uint64, b *flowctlv1.Batch) error {
		return p.stream.Send(&flowctlv1.ProcessRequest{Seq: seq, Batch: b})
	}
	return p.w.sendLoop(ctx, p.node, send, p.stream.CloseSend)
}

func (p *processorRunner) recvLoop(ctx context.Context) error {
	for {
		resp, err := p.stream.Recv()
		if err != nil {
			return p.w.recvEnd(p.node, err)
		}
		req, err := p.w.answer(resp.GetSeq())
		if err != nil {
			return p.fail(err)
		}
		if err := p.onResponse(ctx, req, resp); err != nil {
			return err
		}
		p.w.done()
	}
}

// onResponse forwards a non-empty result under the input's ticket and then
// releases the input: a filtered batch is simply released, which counts as
// its ack. A failure keeps the ticket, so nothing from it is acked.
func (p *processorRunner) onResponse(ctx context.Context, req pending, resp *flowctlv1.ProcessResponse) error {
	if msg := resp.GetError(); msg != "" {
		p.stats.eventsFailed.Add(uint64(req.it.b.GetCount()))
		return p.fail(&BatchError{Kind: KindProcessor, Seq: req.seq, Event: -1, Reason: msg})
	}
	if errs := resp.GetErrors(); len(errs) > 0 {
		p.stats.eventsFailed.Add(uint64(len(errs)))
		first := errs[0]
		return p.fail(&BatchError{
			Kind:   KindProcessor,
			Seq:    req.seq,
			Event:  int(first.GetIndex()),
			Reason: first.GetMessage(),
			More:   len(errs) - 1,
		})
	}
	if out := resp.GetBatch(); out.GetCount() > 0 {
		p.stats.countOut(out.GetCount())
		if _, err := p.out.send(ctx, item{t: req.it.t, b: out}, nil); err != nil {
			return err
		}
	}
	req.it.t.release()
	return nil
}
