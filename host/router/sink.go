package router

import (
	"context"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// sinkRunner drives a sink's streams: the window's sendLoop sends the merged
// inputs and retries, recvLoop releases each batch's ticket reference when
// the sink acks it.
type sinkRunner struct {
	*node
	r       *Router
	stream  SinkStream
	restart func(context.Context, error) (Streams, error)
	w       *window
}

func (s *sinkRunner) run(ctx context.Context) error {
	return runWindowed(ctx, s.r, s.node, s.w, s.stream, s.restart,
		func(st Streams) (SinkStream, bool) { return st.Sink, st.Sink != nil },
		func(st SinkStream) *conn {
			return &conn{
				send: func(seq uint64, b *flowctlv1.Batch) error {
					return st.Send(&flowctlv1.SinkRequest{Seq: seq, Batch: b})
				},
				closeSend: st.CloseSend,
			}
		},
		s.recvLoop)
}

// recvLoop takes one stream's acks, which come in request order. A nack is
// the batch's failure, handled by the error policy.
func (s *sinkRunner) recvLoop(ctx context.Context, stream SinkStream, c *conn) error {
	sendDLQ := func(it item) error {
		_, err := s.dlq.send(ctx, it, nil)
		return err
	}
	for {
		ack, err := stream.Recv()
		if err != nil {
			return s.w.recvEnd(s.node, c, err)
		}
		rq, err := s.w.answer(ack.GetSeq())
		if err != nil {
			return s.fail(err)
		}
		if ack.GetOk() {
			s.stats.eventsAcked.Add(uint64(rq.it.b.GetCount()))
		} else if err := s.onFailure(s.w, failure{rq: rq, reasons: []string{ack.GetError()}}, sendDLQ); err != nil {
			return err
		}
		rq.it.t.release()
		s.w.done()
	}
}
