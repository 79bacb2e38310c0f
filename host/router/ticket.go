package router

import (
	"sync"
	"sync/atomic"
)

// ticket follows one source batch, and every batch derived from it, through
// the DAG. Each edge a batch of the ticket is queued on holds one reference,
// and so does a runner while it distributes the ticket; the ticket is done
// when the last reference is released.
type ticket struct {
	tr       *tracker
	position []byte // position of the source batch's last event
	count    uint32 // events in the source batch
	refs     atomic.Int32
	done     bool // guarded by tr.mu
}

func (t *ticket) acquire() { t.refs.Add(1) }

func (t *ticket) release() {
	switch n := t.refs.Add(-1); {
	case n == 0:
		t.tr.complete(t)
	case n < 0:
		panic("router: ticket released more often than acquired")
	}
}

// tracker orders one source's tickets and releases them as a prefix, so the
// source is acked in position order even when later tickets finish first.
// It never blocks the goroutine that completes a ticket: the source's sender
// picks the release up through signal.
type tracker struct {
	signal chan struct{} // capacity 1: there is something to take

	mu     sync.Mutex
	queue  []*ticket // registered and not yet released, in source order
	closed bool      // no ticket will be registered any more
	// Released and not yet taken.
	tickets  int
	events   uint64
	position []byte
}

func newTracker() tracker { return tracker{signal: make(chan struct{}, 1)} }

// add registers t as the source's newest ticket.
func (tr *tracker) add(t *ticket) {
	tr.mu.Lock()
	tr.queue = append(tr.queue, t)
	tr.mu.Unlock()
}

// complete marks t done and releases the prefix of done tickets.
func (tr *tracker) complete(t *ticket) {
	tr.mu.Lock()
	t.done = true
	released := false
	for len(tr.queue) > 0 && tr.queue[0].done {
		head := tr.queue[0]
		tr.queue[0] = nil
		tr.queue = tr.queue[1:]
		tr.tickets++
		tr.events += uint64(head.count)
		tr.position = head.position
		released = true
	}
	tr.mu.Unlock()
	if released {
		tr.notify()
	}
}

// close says no ticket will be added any more (the source ended or drained).
func (tr *tracker) close() {
	tr.mu.Lock()
	tr.closed = true
	tr.mu.Unlock()
	tr.notify()
}

func (tr *tracker) notify() {
	select {
	case tr.signal <- struct{}{}:
	default: // a signal is already pending; take collects everything.
	}
}

// release is what take hands the source's sender.
type release struct {
	tickets  int    // released tickets; 0 means nothing to ack
	events   uint64 // their events
	position []byte // the last one's position
	// finished: the tracker is closed and every ticket has been released,
	// this release included.
	finished bool
}

// add merges a later release into r.
func (r *release) add(later release) {
	if later.tickets == 0 {
		return
	}
	r.tickets += later.tickets
	r.events += later.events
	r.position = later.position
}

// take returns and resets what was released since the last take.
func (tr *tracker) take() release {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	rel := release{
		tickets:  tr.tickets,
		events:   tr.events,
		position: tr.position,
		finished: tr.closed && len(tr.queue) == 0,
	}
	tr.tickets, tr.events, tr.position = 0, 0, nil
	return rel
}

// outstanding counts the tickets that hold a credit: registered and not yet
// acked to the source.
func (tr *tracker) outstanding() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.queue) + tr.tickets
}
