package router

import (
	"context"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// sinkRunner drives one sink stream: the window's sendLoop sends the merged
// inputs, recvLoop releases each batch's ticket reference when the sink acks
// it.
type sinkRunner struct {
	*node
	stream SinkStream
	w      window
}

func (s *sinkRunner) sendLoop(ctx context.Context) error {
	send := func(seq uint64, b *flowctlv1.Batch) error {
		return s.stream.Send(&flowctlv1.SinkRequest{Seq: seq, Batch: b})
	}
	return s.w.sendLoop(ctx, s.node, send, s.stream.CloseSend)
}

// recvLoop takes the sink's acks, which come in request order. A nack fails
// the run and keeps the ticket, so nothing from it is acked to its source.
func (s *sinkRunner) recvLoop(context.Context) error {
	for {
		ack, err := s.stream.Recv()
		if err != nil {
			return s.w.recvEnd(s.node, err)
		}
		req, err := s.w.answer(ack.GetSeq())
		if err != nil {
			return s.fail(err)
		}
		events := uint64(req.it.b.GetCount())
		if !ack.GetOk() {
			s.stats.eventsFailed.Add(events)
			return s.fail(&BatchError{Kind: KindSink, Seq: req.seq, Event: -1, Reason: ack.GetError()})
		}
		s.stats.eventsAcked.Add(events)
		req.it.t.release()
		s.w.done()
	}
}
