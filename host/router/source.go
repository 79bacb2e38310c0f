package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// sourceRunner drives one source through as many streams as restarts take.
// Each stream is a sourceConn: its recvLoop reads batches, turns each into a
// ticket and forwards it; its sendLoop is the only sender on the stream (the
// open message, then acks and credits) and decides when the source is
// finished. The tracker, and with it every ticket in flight, outlives a
// stream, so a restarted source is acked for what its predecessor sent.
type sourceRunner struct {
	*node
	r       *Router
	stream  SourceStream // the first stream
	restart func(context.Context, error) (Streams, error)
	tr      tracker

	// open is the template of every open message. Its Position moves to the
	// last batch received, so a restarted plugin resumes after what the
	// router already holds. Touched by one stream's receiver at a time and
	// between streams by run.
	open *flowctlv1.SourceOpen

	ended    atomic.Bool // SourceEnd received
	draining bool        // owned by the current sendLoop, then by run

	// unsaved is what was released (and credited back) but not yet
	// checkpointed: checkpoints are written at most every
	// Options.CheckpointInterval. savedAt is when the last one was. Owned
	// like draining.
	unsaved release
	savedAt time.Time
}

func newSourceRunner(r *Router, n *node, spec Node) *sourceRunner {
	// Copy Open rather than modifying the caller's message.
	open := &flowctlv1.SourceOpen{}
	if spec.Open != nil {
		open = proto.Clone(spec.Open).(*flowctlv1.SourceOpen)
	}
	return &sourceRunner{
		node:    n,
		r:       r,
		stream:  spec.Source,
		restart: spec.Restart,
		tr:      newTracker(),
		open:    open,
	}
}

// run drives the source's streams until it is finished, restarting the
// plugin when a stream fails while the source still has input to give.
func (s *sourceRunner) run(ctx context.Context) error {
	stream := s.stream
	for {
		c := &sourceConn{s: s, runCtx: ctx, stream: stream, peerClosed: make(chan struct{})}
		pendingRecv, err := s.r.incarnation(ctx, c.sendLoop, func() error { return c.recvLoop(ctx) })
		switch {
		case err == nil:
			return nil
		case !restartable(err) || ctx.Err() != nil:
			return err
		case s.ended.Load() || s.draining:
			// Everything the source will send is in flight: deliver and
			// checkpoint it; there is no one left to ack.
			s.log.Warn("source plugin failed after its last batch; its remaining positions are still checkpointed", "error", err)
			if err := s.settle(ctx); err != nil {
				return err
			}
			return waitRecv(ctx, pendingRecv)
		case s.restart == nil:
			return err
		}
		s.log.Warn("source plugin failed; restarting it", "error", err)
		streams, rerr := s.restart(ctx, err)
		if rerr != nil {
			return s.fail(rerr)
		}
		s.stats.restarts.Add(1)
		// The old plugin is gone, so its receiver returns; wait for it
		// before the new one takes over the state it shares.
		if err := waitRecv(ctx, pendingRecv); err != nil {
			return err
		}
		if streams.Source == nil {
			return s.fail(errors.New("restart returned no source stream"))
		}
		stream = streams.Source
		s.log.Info("source restarted", "resume", len(s.open.Position) > 0)
	}
}

// settle checkpoints the rest of the tickets without a stream to ack them on.
func (s *sourceRunner) settle(ctx context.Context) error {
	for {
		rel := s.tr.take()
		s.unsaved.add(rel)
		if s.unsaved.tickets > 0 {
			if err := s.checkpoint(ctx, s.unsaved); err != nil {
				return err
			}
			s.stats.eventsAcked.Add(s.unsaved.events)
			s.unsaved = release{}
		}
		if rel.finished {
			return nil
		}
		select {
		case <-s.tr.signal:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (s *sourceRunner) checkpoint(ctx context.Context, rel release) error {
	if ctx.Err() != nil {
		// The run is failing; checkpoint nothing more.
		return ctx.Err()
	}
	if cp := s.r.opts.Checkpoint; cp != nil {
		if err := cp(s.name, rel.position, rel.events); err != nil {
			return s.fail(fmt.Errorf("checkpoint: %w", err))
		}
	}
	return nil
}

// sourceConn is one stream of a source.
type sourceConn struct {
	s      *sourceRunner
	stream SourceStream
	// runCtx is the run's context. A release taken from the tracker is
	// checkpointed under it, not under the stream's, so a stream failing
	// meanwhile cannot lose it.
	runCtx context.Context

	// granted counts the credits sent on this stream. sendLoop adds to it
	// before each Send, so it never lags behind what the plugin may use.
	granted atomic.Uint64

	// closeSent is set by sendLoop just before CloseSend: from then on io.EOF
	// from Recv is the orderly end.
	closeSent atomic.Bool

	// peerClosed is closed by recvLoop when the plugin ended its stream after
	// SourceEnd. The remaining acks are then checkpointed but not sent.
	peerClosed chan struct{}

	// Owned by recvLoop.
	received uint64 // batches received on this stream, dropped ones included
	dropped  uint64 // batches dropped because of Drain
}

// sendLoop opens the source, then, until the source is finished (ended or
// drained, and every ticket acked): gives the source one credit per
// released ticket as soon as it is released, and acks the released
// positions once they are checkpointed. Checkpoints are written at most
// every Options.CheckpointInterval, so a source that sends many small
// batches does not cost a synced write each, and credits never wait for one.
func (c *sourceConn) sendLoop(ctx context.Context) error {
	s := c.s
	open := proto.Clone(s.open).(*flowctlv1.SourceOpen)
	// Tickets still in flight from an earlier stream keep their credits:
	// their acks grant them again.
	open.Credits = uint32(max(0, s.r.opts.MaxInFlight-s.tr.outstanding()))
	c.granted.Add(uint64(open.Credits))
	s.log.Debug("opening source", "credits", open.Credits, "resume", len(open.Position) > 0)
	if err := c.stream.Send(&flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Open{Open: open}}); err != nil {
		return c.sendErr(ctx, err)
	}

	drain := s.r.drain
	if s.draining {
		drain = nil
	}
	var (
		timer *time.Timer
		due   <-chan time.Time // fires when unsaved positions are due
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	peerGone := false
	for {
		select {
		case <-s.tr.signal:
		case <-drain:
			drain = nil // a closed channel would fire forever
			s.draining = true
			// After close no batch is forwarded or registered, so the
			// tracker can tell when the last one in flight is acked.
			s.out.close()
			s.tr.close()
			s.log.Debug("draining source")
		case <-due:
			due = nil
		case <-ctx.Done():
			return ctx.Err()
		}

		rel := s.tr.take()
		if !peerGone && (rel.tickets > 0 || s.unsaved.tickets > 0) {
			select {
			case <-c.peerClosed:
				peerGone = true
				s.log.Warn("source plugin ended its stream before its last acks; positions are still checkpointed")
			default:
			}
		}
		// Released tickets are owed a checkpoint from here on, whatever
		// happens to the stream: a restarted source's stream takes over.
		s.unsaved.add(rel)
		if rel.tickets > 0 {
			if err := c.credit(ctx, rel.tickets, peerGone); err != nil {
				return err
			}
		}
		if s.unsaved.tickets > 0 {
			wait := s.r.opts.CheckpointInterval - time.Since(s.savedAt)
			switch {
			case rel.finished || wait <= 0:
				if err := c.save(ctx, peerGone); err != nil {
					return err
				}
			case due == nil:
				if timer == nil {
					timer = time.NewTimer(wait)
				} else {
					timer.Reset(wait)
				}
				due = timer.C
			}
		}
		if rel.finished {
			c.closeSent.Store(true)
			if err := c.stream.CloseSend(); err != nil {
				return s.fail(fmt.Errorf("close send: %w", err))
			}
			s.log.Debug("source finished", "acked_events", s.stats.eventsAcked.Load())
			return nil
		}
	}
}

// credit gives the source n more batches to send; nothing while draining,
// and no message at all when the plugin has already gone.
func (c *sourceConn) credit(ctx context.Context, n int, peerGone bool) error {
	if peerGone || c.s.draining {
		return nil
	}
	c.granted.Add(uint64(n))
	req := &flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Ack{Ack: &flowctlv1.SourceAck{Credits: uint32(n)}}}
	if err := c.stream.Send(req); err != nil {
		return c.sendErr(ctx, err)
	}
	return nil
}

// save checkpoints the unsaved releases and acks their last position to the
// source (unless the plugin has gone). Once checkpointed they are done: if
// the ack cannot be sent, the source's next stream resumes after them anyway.
func (c *sourceConn) save(ctx context.Context, peerGone bool) error {
	s := c.s
	rel := s.unsaved
	if err := s.checkpoint(c.runCtx, rel); err != nil {
		return err
	}
	s.stats.eventsAcked.Add(rel.events)
	s.unsaved, s.savedAt = release{}, time.Now()
	if peerGone {
		return nil
	}
	req := &flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Ack{Ack: &flowctlv1.SourceAck{Position: rel.position}}}
	if err := c.stream.Send(req); err != nil {
		return c.sendErr(ctx, err)
	}
	return nil
}

// sendErr turns a failed Send into the stream's error. gRPC's Send returns
// io.EOF when the stream has ended and leaves the reason to Recv, so then
// the receiver reports (and this waits for the incarnation to stop); if it
// ended with SourceEnd behind it, the plugin left early and the acks still
// owed are skipped.
func (c *sourceConn) sendErr(ctx context.Context, err error) error {
	if !errors.Is(err, io.EOF) {
		return c.s.fail(&streamError{fmt.Errorf("send: %w", err)})
	}
	select {
	case <-c.peerClosed:
		return c.s.fail(&streamError{ErrUnexpectedClose})
	case <-ctx.Done():
		return ctx.Err()
	}
}

// recvLoop reads the source's batches until the stream ends. ctx is the
// run's: forwarding a batch the router has taken must not stop halfway
// because this stream failed.
func (c *sourceConn) recvLoop(ctx context.Context) error {
	s := c.s
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			return c.recvEnd(err)
		}
		switch m := resp.GetMsg().(type) {
		case *flowctlv1.SourceResponse_Batch:
			if err := c.onBatch(ctx, m.Batch); err != nil {
				return err
			}
		case *flowctlv1.SourceResponse_End:
			if s.ended.Load() {
				return s.fail(fmt.Errorf("%w: SourceEnd sent twice", ErrProtocol))
			}
			s.ended.Store(true)
			s.out.close()
			s.tr.close()
			s.log.Debug("source ended", "batches", c.received, "dropped", c.dropped)
		default:
			return s.fail(fmt.Errorf("%w: empty SourceResponse", ErrProtocol))
		}
	}
}

func (c *sourceConn) recvEnd(err error) error {
	s := c.s
	if !errors.Is(err, io.EOF) {
		if c.closeSent.Load() {
			// Finished and acked: nothing is lost by the plugin's failure.
			s.log.Warn("source stream failed after the source finished", "error", err)
			return nil
		}
		return s.fail(&streamError{fmt.Errorf("stream: %w", err)})
	}
	switch {
	case c.closeSent.Load():
		return nil
	case s.ended.Load():
		// Everything was sent; only acks were still owed (see sendLoop).
		close(c.peerClosed)
		return nil
	default:
		return s.fail(&streamError{ErrUnexpectedClose})
	}
}

// onBatch turns a batch into a ticket and forwards it, or drops it after
// Drain.
func (c *sourceConn) onBatch(ctx context.Context, sb *flowctlv1.SourceBatch) error {
	s := c.s
	if s.ended.Load() {
		return s.fail(fmt.Errorf("%w: batch %d after SourceEnd", ErrProtocol, sb.GetSeq()))
	}
	c.received++
	if granted := c.granted.Load(); c.received > granted {
		return s.fail(fmt.Errorf("%w: batch %d is beyond the %d credits granted", ErrProtocol, sb.GetSeq(), granted))
	}
	if err := checkCount(sb.GetBatch()); err != nil {
		return s.fail(fmt.Errorf("batch %d: %w", sb.GetSeq(), err))
	}
	select {
	case <-s.r.drain:
		// Drained, though sendLoop may not have closed the outputs yet:
		// not forwarded, never acked, read again after a resume.
		c.dropped++
		return nil
	default:
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
		c.dropped++
		return nil
	}
	s.open.Position = sb.GetPosition()
	s.stats.countOut(b.GetCount())
	t.release()
	return nil
}
