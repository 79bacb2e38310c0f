package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// window bounds the requests in flight on a processor's or sink's streams
// and pairs each answer with its request. It outlives a stream: requests a
// failed stream left unanswered are sent again on the next one.
//
// A request takes a slot when it is sent (or, for a retry, sent again) and
// gives it back once its answer has been handled (forwarded downstream,
// acked, retried or dead-lettered), so holding every slot means nothing is
// in flight.
type window struct {
	slots   chan struct{} // one token per request not yet fully answered
	retries retryQueue

	mu   sync.Mutex
	pend []*request // sent and awaiting their answer, in send order

	// Owned by the sending goroutine (one stream at a time).
	seq        uint64 // last request seq on the current stream
	inputsDone bool   // every input edge has closed
}

// request is one batch on a stream, numbered by seq on the stream it was
// last sent on.
type request struct {
	seq uint64
	it  item
}

func newWindow(size int) *window {
	return &window{
		slots:   make(chan struct{}, size),
		retries: newRetryQueue(),
	}
}

// conn is one stream's state of a window.
type conn struct {
	send      func(seq uint64, b *flowctlv1.Batch) error
	closeSend func() error
	// closeSent is set just before CloseSend: from then on io.EOF from Recv
	// is the orderly end.
	closeSent atomic.Bool
}

// sendLoop first sends again what an earlier stream left unanswered, then
// feeds retries and the node's inbox into the stream, at most a window of
// requests at a time. When every input has closed, every request has been
// answered and no retry is waiting, it closes the node's outputs and the
// stream's send side.
func (w *window) sendLoop(ctx context.Context, n *node, c *conn) error {
	w.mu.Lock()
	w.seq = 0 // every stream numbers its requests from 1
	resend := slices.Clone(w.pend)
	for _, rq := range resend {
		w.seq++
		rq.seq = w.seq
	}
	w.mu.Unlock()
	if len(resend) > 0 {
		n.log.Info("sending again what the failed plugin held", "batches", len(resend))
	}
	for _, rq := range resend {
		n.stats.countIn(rq.it.b.GetCount())
		if err := c.send(rq.seq, rq.it.b); err != nil {
			return w.sendErr(ctx, n, err)
		}
	}

	for {
		it, ok, err := w.next(ctx, n.in)
		if err != nil {
			return err
		}
		if !ok {
			done, err := w.quiesce(ctx)
			if err != nil {
				return err
			}
			if done {
				break
			}
			continue
		}
		w.mu.Lock()
		w.seq++
		rq := &request{seq: w.seq, it: it}
		// Queue the request before sending: its answer may be received
		// before Send returns.
		w.pend = append(w.pend, rq)
		w.mu.Unlock()
		n.stats.countIn(it.b.GetCount())
		if err := c.send(rq.seq, it.b); err != nil {
			return w.sendErr(ctx, n, err)
		}
	}
	if n.out != nil {
		n.out.close()
	}
	if n.dlq != nil {
		n.dlq.close()
	}
	c.closeSent.Store(true)
	if err := c.closeSend(); err != nil {
		return n.fail(fmt.Errorf("close send: %w", err))
	}
	n.log.Debug("inputs done, stream closed", "batches", w.seq)
	return nil
}

// next takes a slot and then the next request: a retry whose time has come
// or else an input. ok is false (and no slot is held) when every input has
// closed and no retry is waiting.
func (w *window) next(ctx context.Context, in *inbox) (it item, ok bool, err error) {
	if err := w.acquire(ctx); err != nil {
		return item{}, false, err
	}
	for {
		if it, ok := w.retries.ready(); ok {
			return it, true, nil
		}
		inputs := in.ch
		if w.inputsDone {
			inputs = nil
		}
		wake, stop := w.retries.timer()
		if inputs == nil && wake == nil {
			<-w.slots
			return item{}, false, nil
		}
		select {
		case it, ok := <-inputs:
			stop()
			if !ok {
				w.inputsDone = true
				continue
			}
			return it, true, nil
		case <-wake:
		case <-w.retries.signal:
		case <-ctx.Done():
			stop()
			<-w.slots
			return item{}, false, ctx.Err()
		}
		stop()
	}
}

// quiesce waits until every request has been answered. done is false when
// a retry was queued meanwhile, which must be sent first. Answers queue
// their retry before giving back their slot, so holding every slot and
// seeing no retry means nothing is left.
func (w *window) quiesce(ctx context.Context) (done bool, err error) {
	held := 0
	defer func() {
		for range held {
			<-w.slots
		}
	}()
	for held < cap(w.slots) {
		if err := w.acquire(ctx); err != nil {
			return false, err
		}
		held++
	}
	return w.retries.len() == 0, nil
}

func (w *window) acquire(ctx context.Context) error {
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// answer returns the oldest request in flight, which an answer carrying seq
// must be for. It stays in flight until done.
func (w *window) answer(seq uint64) (*request, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pend) == 0 {
		return nil, fmt.Errorf("%w: answer for batch %d, which is not in flight", ErrProtocol, seq)
	}
	if rq := w.pend[0]; rq.seq != seq {
		return nil, fmt.Errorf("%w: answer for batch %d, want batch %d", ErrProtocol, seq, rq.seq)
	}
	return w.pend[0], nil
}

// done retires the oldest request, whose answer has been handled, and gives
// back its slot.
func (w *window) done() {
	w.mu.Lock()
	w.pend[0] = nil
	w.pend = w.pend[1:]
	w.mu.Unlock()
	<-w.slots
}

func (w *window) inFlight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pend)
}

// recvEnd turns the error that ended a Recv loop into the stream's result.
func (w *window) recvEnd(n *node, c *conn, err error) error {
	if !errors.Is(err, io.EOF) {
		if c.closeSent.Load() && w.inFlight() == 0 {
			// Everything was answered; the plugin failed on its way out.
			n.log.Warn("stream failed after its last answer", "error", err)
			return nil
		}
		return n.fail(&streamError{fmt.Errorf("stream: %w", err)})
	}
	if c.closeSent.Load() {
		return nil
	}
	return n.fail(&streamError{ErrUnexpectedClose})
}

// sendErr turns a failed Send into the stream's error. gRPC's Send returns
// io.EOF when the stream has ended and leaves the reason to Recv, whose loop
// always runs, so then the receiver reports and this waits for it to cancel
// ctx.
func (w *window) sendErr(ctx context.Context, n *node, err error) error {
	if !errors.Is(err, io.EOF) {
		return n.fail(&streamError{fmt.Errorf("send: %w", err)})
	}
	<-ctx.Done()
	return ctx.Err()
}

// runWindowed drives a processor's or sink's streams: newConn wraps a
// stream's Send and CloseSend, recv is its receive loop. A stream that
// fails is replaced through restart, and the window sends it what the
// failed one held.
func runWindowed[S any](ctx context.Context, r *Router, n *node, w *window, stream S,
	restart func(context.Context, error) (Streams, error), pick func(Streams) (S, bool),
	newConn func(S) *conn, recv func(context.Context, S, *conn) error,
) error {
	for {
		c := newConn(stream)
		pendingRecv, err := r.incarnation(ctx,
			func(ictx context.Context) error { return w.sendLoop(ictx, n, c) },
			func() error { return recv(ctx, stream, c) })
		switch {
		case err == nil:
			return nil
		case !restartable(err) || ctx.Err() != nil || restart == nil:
			return err
		}
		n.log.Warn("plugin failed; restarting it", "error", err, "in_flight", w.inFlight())
		streams, rerr := restart(ctx, err)
		if rerr != nil {
			return n.fail(rerr)
		}
		n.stats.restarts.Add(1)
		if err := waitRecv(ctx, pendingRecv); err != nil {
			return err
		}
		next, ok := pick(streams)
		if !ok {
			return n.fail(fmt.Errorf("restart returned no %s stream", n.kind))
		}
		stream = next
		n.log.Info("plugin restarted")
	}
}
