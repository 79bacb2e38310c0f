package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// sourceRunner drives one source stream with two goroutines: recvLoop reads
// batches, turns each into a ticket and forwards it; sendLoop is the only
// sender on the stream (the open message, then acks and credits) and decides
// when the source is finished.
type sourceRunner struct {
	*node
	r      *Router
	stream SourceStream
	open   *flowctlv1.SourceOpen
	tr     tracker

	// granted counts the credits sent so far. sendLoop adds to it before each
	// Send, so it never lags behind what the plugin may use.
	granted atomic.Uint64

	// closeSent is set by sendLoop just before CloseSend: from then on io.EOF
	// from Recv is the orderly end.
	closeSent atomic.Bool

	// peerClosed is closed by recvLoop when the plugin ended its stream after
	// SourceEnd. The remaining acks are then checkpointed but not sent.
	peerClosed chan struct{}

	// Owned by recvLoop.
	received uint64 // batches received, dropped ones included
	ended    bool   // SourceEnd received
	dropped  uint64 // batches dropped because of Drain
}

func newSourceRunner(r *Router, n *node, stream SourceStream, open *flowctlv1.SourceOpen) *sourceRunner {
	// Copy Open rather than setting Credits on the caller's message.
	if open == nil {
		open = &flowctlv1.SourceOpen{}
	} else {
		open = proto.Clone(open).(*flowctlv1.SourceOpen)
	}
	open.Credits = uint32(r.opts.MaxInFlight)
	return &sourceRunner{
		node:       n,
		r:          r,
		stream:     stream,
		open:       open,
		tr:         newTracker(),
		peerClosed: make(chan struct{}),
	}
}

// sendLoop opens the source, then sends an ack for every release of tickets
// until the source is finished: ended or drained, and every ticket acked.
func (s *sourceRunner) sendLoop(ctx context.Context) error {
	s.granted.Add(uint64(s.open.Credits))
	s.log.Debug("opening source", "credits", s.open.Credits, "resume", len(s.open.Position) > 0)
	open := &flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Open{Open: s.open}}
	if err := s.stream.Send(open); err != nil {
		return s.sendErr(ctx, err)
	}

	drain := s.r.drain
	draining, peerGone := false, false
	for {
		select {
		case <-s.tr.signal:
		case <-drain:
			drain = nil // a closed channel would fire forever
			draining = true
			// After close no batch is forwarded or registered, so the
			// tracker can tell when the last one in flight is acked.
			s.out.close()
			s.tr.close()
			s.log.Debug("draining source")
		case <-ctx.Done():
			return ctx.Err()
		}

		rel := s.tr.take()
		if rel.tickets > 0 {
			if !peerGone {
				select {
				case <-s.peerClosed:
					peerGone = true
					s.log.Warn("source plugin ended its stream before its last acks; positions are still checkpointed")
				default:
				}
			}
			if err := s.ack(ctx, rel, draining, peerGone); err != nil {
				return err
			}
		}
		if rel.finished {
			s.closeSent.Store(true)
			if err := s.stream.CloseSend(); err != nil {
				return s.fail(fmt.Errorf("close send: %w", err))
			}
			s.log.Debug("source finished", "acked_events", s.stats.eventsAcked.Load())
			return nil
		}
	}
}

// ack checkpoints rel and acks it to the source with one credit per released
// ticket; none while draining, and no message at all when the plugin has
// already gone.
func (s *sourceRunner) ack(ctx context.Context, rel release, draining, peerGone bool) error {
	if ctx.Err() != nil {
		// The run is failing; ack nothing more.
		return ctx.Err()
	}
	if cp := s.r.opts.Checkpoint; cp != nil {
		if err := cp(s.name, rel.position); err != nil {
			return s.fail(fmt.Errorf("checkpoint: %w", err))
		}
	}
	if !peerGone {
		credits := uint32(rel.tickets)
		if draining {
			credits = 0
		}
		s.granted.Add(uint64(credits))
		req := &flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Ack{Ack: &flowctlv1.SourceAck{
			Position: rel.position,
			Credits:  credits,
		}}}
		if err := s.stream.Send(req); err != nil {
			return s.sendErr(ctx, err)
		}
	}
	s.stats.eventsAcked.Add(rel.events)
	return nil
}

// sendErr turns a failed Send into the run's error. gRPC's Send returns
// io.EOF when the stream has ended and leaves the reason to Recv, so then
// the receiver reports; if it ends with SourceEnd behind it, the plugin left
// early and the acks still owed are skipped.
func (s *sourceRunner) sendErr(ctx context.Context, err error) error {
	if !errors.Is(err, io.EOF) {
		return s.fail(fmt.Errorf("send: %w", err))
	}
	select {
	case <-s.peerClosed:
		return s.fail(ErrUnexpectedClose)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recvLoop reads the source's batches until the stream ends.
func (s *sourceRunner) recvLoop(ctx context.Context) error {
	for {
		resp, err := s.stream.Recv()
		if err != nil {
			return s.recvEnd(err)
		}
		switch m := resp.GetMsg().(type) {
		case *flowctlv1.SourceResponse_Batch:
			if err := s.onBatch(ctx, m.Batch); err != nil {
				return err
			}
		case *flowctlv1.SourceResponse_End:
			if s.ended {
				return s.fail(fmt.Errorf("%w: SourceEnd sent twice", ErrProtocol))
			}
			s.ended = true
			s.out.close()
			s.tr.close()
			s.log.Debug("source ended", "batches", s.received, "dropped", s.dropped)
		default:
			return s.fail(fmt.Errorf("%w: empty SourceResponse", ErrProtocol))
		}
	}
}

func (s *sourceRunner) recvEnd(err error) error {
	if !errors.Is(err, io.EOF) {
		return s.fail(fmt.Errorf("stream: %w", err))
	}
	switch {
	case s.closeSent.Load():
		return nil
	case s.ended:
		// Everything was sent; only acks were still owed (see sendLoop).
		close(s.peerClosed)
		return nil
	default:
		return s.fail(ErrUnexpectedClose)
	}
}

// onBatch turns a batch into a ticket and forwards it, or drops it after
// Drain.
func (s *sourceRunner) onBatch(ctx context.Context, sb *flowctlv1.SourceBatch) error {
	if s.ended {
		return s.fail(fmt.Errorf("%w: batch %d after SourceEnd", ErrProtocol, sb.GetSeq()))
	}
	s.received++
	if granted := s.granted.Load(); s.received > granted {
		return s.fail(fmt.Errorf("%w: batch %d is beyond the %d credits granted", ErrProtocol, sb.GetSeq(), granted))
	}
	b := sb.GetBatch()
	t := &ticket{tr: &s.tr, position: sb.GetPosition(), count: b.GetCount()}
	t.refs.Store(1) // held while distributing
	sent, err := s.out.send(ctx, item{t: t, b: b}, func() { s.tr.add(t) })
	if err != nil {
		return err
	}
	if !sent {
		// Drained: not forwarded, never acked, read again after a resume.
		s.dropped++
		return nil
	}
	s.stats.countOut(b.GetCount())
	t.release()
	return nil
}
