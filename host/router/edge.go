package router

import (
	"context"
	"sync"
	"sync/atomic"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// item is what travels along an edge: a batch and the ticket it belongs to.
// The batch is shared, never copied or modified.
type item struct {
	t *ticket
	b *flowctlv1.Batch
	// attempt counts the retries of b (on_error = "retry"); 0 at first.
	attempt int
}

// inbox is a processor's or sink's input queue, shared by all of its input
// edges. Each upstream sends on it in order, so every edge stays FIFO; the
// bound applies to the node as a whole. The channel is closed when the last
// input edge closes.
type inbox struct {
	ch   chan item
	open atomic.Int32 // input edges not yet closed
}

func newInbox(capacity, edges int) *inbox {
	in := &inbox{ch: make(chan item, capacity)}
	in.open.Store(int32(edges))
	return in
}

func (in *inbox) closeEdge() {
	if in.open.Add(-1) == 0 {
		close(in.ch)
	}
}

// outputs are a node's output edges. The mutex lets a source's sender close
// them on Drain while its receiver may be sending: a batch is either sent
// along every edge or along none.
type outputs struct {
	mu     sync.Mutex
	closed bool
	to     []*inbox
}

// send admits it and forwards it along every edge, taking one reference of
// it.t per edge before queueing. admit, when set, runs first under the lock
// (a source registers its ticket there, so a Drain that closes the outputs
// sees it). A batch without events is admitted but not forwarded. send
// reports false, having done nothing, when the outputs are closed. When ctx
// is done it returns ctx.Err() and keeps the references it took, so the
// ticket never completes and is never acked.
func (o *outputs) send(ctx context.Context, it item, admit func()) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return false, nil
	}
	if admit != nil {
		admit()
	}
	if it.b.GetCount() == 0 {
		return true, nil
	}
	for _, in := range o.to {
		it.t.acquire()
		select {
		case in.ch <- it:
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
	return true, nil
}

// close closes every output edge once; later sends do nothing.
func (o *outputs) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	for _, in := range o.to {
		in.closeEdge()
	}
}
