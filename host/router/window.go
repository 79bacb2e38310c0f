package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// window bounds the requests in flight on a processor or sink stream and
// pairs each answer with its request. Its sender takes a slot per request;
// its receiver gives the slot back once the answer has been handled
// (forwarded downstream or acked), so holding every slot means nothing is in
// flight.
type window struct {
	slots   chan struct{} // one token per request not yet fully answered
	pending chan pending  // requests awaiting their answer, in send order
	// closeSent is set just before CloseSend: from then on io.EOF from Recv
	// is the orderly end.
	closeSent atomic.Bool
}

type pending struct {
	seq uint64
	it  item
}

func newWindow(size int) window {
	return window{
		slots:   make(chan struct{}, size),
		pending: make(chan pending, size),
	}
}

// sendLoop feeds the node's inbox into the stream, at most a window of
// requests at a time, numbered from 1. When every input has closed and every
// request has been answered it closes the node's outputs and the stream's
// send side.
func (w *window) sendLoop(ctx context.Context, n *node, send func(seq uint64, b *flowctlv1.Batch) error, closeSend func() error) error {
	var seq uint64
	for {
		it, ok, err := w.next(ctx, n.in)
		if err != nil {
			return err
		}
		if !ok {
			break
		}
		seq++
		// Queue the request before sending: its answer may be received
		// before Send returns.
		w.pending <- pending{seq: seq, it: it}
		n.stats.countIn(it.b.GetCount())
		if err := send(seq, it.b); err != nil {
			return w.sendErr(ctx, n, err)
		}
	}
	for range cap(w.slots) {
		if err := w.acquire(ctx); err != nil {
			return err
		}
	}
	if n.out != nil {
		n.out.close()
	}
	w.closeSent.Store(true)
	if err := closeSend(); err != nil {
		return n.fail(fmt.Errorf("close send: %w", err))
	}
	n.log.Debug("inputs done, stream closed", "batches", seq)
	return nil
}

// next takes a slot and then the next input; ok is false (and no slot is
// held) when every input has closed.
func (w *window) next(ctx context.Context, in *inbox) (it item, ok bool, err error) {
	if err := w.acquire(ctx); err != nil {
		return item{}, false, err
	}
	select {
	case it, ok = <-in.ch:
		if !ok {
			<-w.slots
		}
		return it, ok, nil
	case <-ctx.Done():
		return item{}, false, ctx.Err()
	}
}

func (w *window) acquire(ctx context.Context) error {
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// answer pairs an answer carrying seq with the oldest request in flight.
func (w *window) answer(seq uint64) (pending, error) {
	select {
	case p := <-w.pending:
		if p.seq != seq {
			return p, fmt.Errorf("%w: answer for batch %d, want batch %d", ErrProtocol, seq, p.seq)
		}
		return p, nil
	default:
		return pending{}, fmt.Errorf("%w: answer for batch %d, which is not in flight", ErrProtocol, seq)
	}
}

// done gives back the slot of an answer that has been handled.
func (w *window) done() { <-w.slots }

// recvEnd turns the error that ended a Recv loop into the runner's result.
func (w *window) recvEnd(n *node, err error) error {
	if !errors.Is(err, io.EOF) {
		return n.fail(fmt.Errorf("stream: %w", err))
	}
	if w.closeSent.Load() {
		return nil
	}
	return n.fail(ErrUnexpectedClose)
}

// sendErr turns a failed Send into the run's error. gRPC's Send returns
// io.EOF when the stream has ended and leaves the reason to Recv, whose loop
// always runs, so then the receiver reports and this waits for the run to
// stop.
func (w *window) sendErr(ctx context.Context, n *node, err error) error {
	if !errors.Is(err, io.EOF) {
		return n.fail(fmt.Errorf("send: %w", err))
	}
	<-ctx.Done()
	return ctx.Err()
}
