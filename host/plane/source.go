package plane

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowctl/flowctl/host/router"
	"github.com/flowctl/flowctl/proto/dataplane"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// ticket is a batch a source reported and the host has not released yet.
type ticket struct {
	count    uint32
	position []byte
	at       time.Time
	returned uint64 // shares returned under the current epoch
}

// sourceState is the coordinator's bookkeeping of one source: its tickets
// in seq order, their returned shares, what is released but not yet
// credited or checkpointed. It outlives the source's plugin: a restarted
// source is acked and checkpointed for what its predecessor sent.
type sourceState struct {
	n          *node
	open       *flowctlv1.SourceOpen // template of every open
	downstream []*node               // every node a batch of this source can reach
	signal     chan struct{}         // capacity 1: something for ackLoop

	mu       sync.Mutex
	epoch    uint32
	released uint64   // seq of the last released ticket
	next     uint64   // seq the next reported batch has
	tickets  []ticket // seqs released+1 .. next-1
	parked   map[uint64]uint64
	ended    bool
	draining bool
	finished bool
	// gen counts the source's incarnations like node.gen, but moves with
	// credits under mu (abandon resets both), so ackLoop never sends an old
	// plugin's credits to its successor.
	gen     uint64
	credits int
	unsaved release
	// armed: ackLoop's checkpoint timer is set, and it takes unsaved when
	// the timer fires; releases meanwhile need not wake it.
	armed  bool
	resume []byte // where a restarted plugin reads again

	eventsOut, batchesOut, acked atomic.Uint64
	pending                      atomic.Int64 // len(tickets), for unreleased

	// creditMu makes taking credits and sending them one step, and a
	// rewind with the credits it hands over another, so that credits for
	// batches a rewind makes the plugin send again never follow its Rewind.
	// It is taken before mu and before any node's send lock, never while
	// holding either: the hooks called under mu may read Stats, which takes
	// every node's send lock.
	creditMu sync.Mutex
}

// release is what is owed a checkpoint: tickets released since the last
// one, their events and the last position.
type release struct {
	tickets  int
	events   uint64
	position []byte
}

func newSourceState(n *node, open *flowctlv1.SourceOpen) *sourceState {
	o := &flowctlv1.SourceOpen{}
	if open != nil {
		o = proto.Clone(open).(*flowctlv1.SourceOpen)
	}
	return &sourceState{n: n, open: o, next: 1, resume: o.GetPosition(), signal: make(chan struct{}, 1), parked: map[uint64]uint64{}}
}

// unreleased is the number of batches reported and not yet delivered
// everywhere. It takes no lock: Stats may be called from the hooks the
// coordinator calls with the source's lock held (TicketDone).
func (s *sourceState) unreleased() int { return int(s.pending.Load()) }

func (s *sourceState) notify() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

func (s *sourceState) currentEpoch() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch
}

// openMsg is the source part of the node's open: resume after the last
// released position, with every credit the tickets in flight do not hold.
func (s *sourceState) openMsg() (*flowctlv1.SourceOpen, uint32, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := proto.Clone(s.open).(*flowctlv1.SourceOpen)
	o.Position = s.resume
	o.Credits = uint32(s.n.c.opts.MaxInFlight - len(s.tickets))
	return o, s.epoch, s.next
}

// register records the batches a source reported, in seq order. due
// reports that credits are due (see releaseLocked).
func (s *sourceState) register(batches []*flowctlv1.BatchReport, ended bool) (due bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range batches {
		switch {
		case s.ended:
			return false, fmt.Errorf("%w: batch %d after the source ended", router.ErrProtocol, b.GetSeq())
		case b.GetSeq() != s.next:
			return false, fmt.Errorf("%w: batch %d reported, %d expected", router.ErrProtocol, b.GetSeq(), s.next)
		case len(s.tickets) >= s.n.c.opts.MaxInFlight:
			return false, fmt.Errorf("%w: batch %d is beyond the %d credits granted", router.ErrProtocol, b.GetSeq(), s.n.c.opts.MaxInFlight)
		}
		// A batch reported under an older epoch was sent before a rewind
		// and is sent again under the current one: it is the same ticket.
		t := ticket{count: b.GetCount(), position: b.GetPosition(), at: time.Now(), returned: s.parked[s.next]}
		delete(s.parked, s.next)
		s.tickets = append(s.tickets, t)
		s.pending.Store(int64(len(s.tickets)))
		s.next++
		s.eventsOut.Add(uint64(b.GetCount()))
		s.batchesOut.Add(1)
	}
	if ended {
		if s.ended {
			return false, fmt.Errorf("%w: the source ended twice", router.ErrProtocol)
		}
		s.ended = true
	}
	return s.releaseLocked(), nil
}

// giveBack adds a returned share to its ticket. due reports that credits
// are due (see releaseLocked).
func (s *sourceState) giveBack(t *flowctlv1.Ticket, w uint64) (due bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case t.GetEpoch() < s.epoch:
		return false, nil // void: the batch is sent again
	case t.GetEpoch() > s.epoch:
		return false, fmt.Errorf("%w: a share of epoch %d, which has not begun", router.ErrProtocol, t.GetEpoch())
	case t.GetSeq() <= s.released:
		return false, fmt.Errorf("%w: a share of batch %d, which was released", router.ErrProtocol, t.GetSeq())
	case t.GetSeq() >= s.next:
		// Shares may overtake the source's report of the batch.
		if s.parked[t.GetSeq()]+w > dataplane.Full || t.GetSeq() >= s.next+uint64(s.n.c.opts.MaxInFlight) {
			return false, fmt.Errorf("%w: shares of unreported batch %d", router.ErrProtocol, t.GetSeq())
		}
		s.parked[t.GetSeq()] += w
		return false, nil
	}
	tk := &s.tickets[t.GetSeq()-s.released-1]
	if tk.returned+w > dataplane.Full || tk.returned+w < tk.returned {
		return false, fmt.Errorf("%w: more than the whole of batch %d returned", router.ErrProtocol, t.GetSeq())
	}
	tk.returned += w
	return s.releaseLocked(), nil
}

// releaseLocked releases the complete tickets at the front, in seq order,
// and reports whether credits are due: the caller sends them (sendCredits)
// once it holds no lock. ackLoop hears only of what it must act on: the
// source's end, and a release while it neither holds one owed a checkpoint
// nor has its checkpoint timer set (see armed). Each wake-up of another
// goroutine costs the host a futex call or two, and releases come with
// nearly every report.
func (s *sourceState) releaseLocked() (due bool) {
	first := s.unsaved.tickets == 0 && !s.armed
	n := 0
	for n < len(s.tickets) && s.tickets[n].returned == dataplane.Full {
		t := s.tickets[n]
		s.unsaved.tickets++
		s.unsaved.events += uint64(t.count)
		s.unsaved.position = t.position
		s.resume = t.position
		if done := s.n.c.opts.TicketDone; done != nil {
			done(s.n.name, time.Since(t.at))
		}
		n++
	}
	if n > 0 {
		clear(s.tickets[:n])
		s.tickets = s.tickets[n:]
		s.pending.Store(int64(len(s.tickets)))
		s.released += uint64(n)
		s.credits += n
	}
	if s.ended || (n > 0 && first) {
		s.notify()
	}
	return !s.ended && (s.credits >= s.creditBatch() || (n > 0 && len(s.tickets) < s.creditBatch()))
}

// creditBatch is how many credits the host gathers before it sends them:
// a quarter of the window, so that a busy source costs the host a send per
// four released batches, not one each. Holding them back cannot stall the
// source: while fewer are gathered, at least this many tickets are still
// unreleased, and their releases bring the rest (below that, every release
// is sent at once).
func (s *sourceState) creditBatch() int {
	return max(1, s.n.c.opts.MaxInFlight/4)
}

// stale reports whether t belongs to a void epoch.
func (s *sourceState) stale(t *flowctlv1.Ticket) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.GetEpoch() < s.epoch
}

// rewind starts a new epoch after a plugin downstream failed: every
// unreleased ticket is sent again and counted from nothing. ok is false
// when the source has finished (nothing is unreleased). It also takes the
// credits not yet sent, for incarnation gen: the plugin must have them
// before the Rewind, or it would send again batches already released.
func (s *sourceState) rewind() (epoch uint32, gen uint64, credits int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		return 0, 0, 0, false
	}
	s.epoch++
	for i := range s.tickets {
		s.tickets[i].returned = 0
	}
	clear(s.parked)
	credits, s.credits = s.credits, 0
	return s.epoch, s.gen, credits, true
}

// abandon starts a new epoch after the source's own plugin failed: it lost
// the batches it kept, so the new one reads again after the last released
// position and every unreleased ticket is forgotten.
func (s *sourceState) abandon() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch++
	for _, t := range s.tickets {
		s.eventsOut.Add(-uint64(t.count))
		s.batchesOut.Add(^uint64(0))
	}
	s.tickets = nil
	s.pending.Store(0)
	s.released = s.next - 1
	clear(s.parked)
	s.ended = false
	s.gen++
	s.credits = 0
	return s.epoch
}

// setArmed records whether ackLoop's checkpoint timer is set.
func (s *sourceState) setArmed(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = v
}

func (s *sourceState) isDraining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

func (s *sourceState) isFinished() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finished
}

// take takes what was released: the credits not yet sent, for incarnation
// gen, and, for ackLoop (withRelease), everything owed a checkpoint. done
// reports that the source ended and every ticket was released.
func (s *sourceState) take(withRelease bool) (gen uint64, credits int, rel release, done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gen, credits = s.gen, s.credits
	s.credits = 0
	if withRelease {
		rel, s.unsaved = s.unsaved, release{}
	}
	return gen, credits, rel, s.ended && len(s.tickets) == 0
}

// sendCredits sends the plugin the credits released so far.
func (s *sourceState) sendCredits() { s.credit(false) }

// credit sends the plugin the credits released so far and returns what
// else take took (under creditMu: see there).
func (s *sourceState) credit(withRelease bool) (gen uint64, rel release, done bool) {
	s.creditMu.Lock()
	defer s.creditMu.Unlock()
	gen, credits, rel, done := s.take(withRelease)
	if credits > 0 && !done {
		s.n.sendIf(gen, creditsMsg(credits))
	}
	return gen, rel, done
}

// rewindPlugin starts a new epoch (rewind) and tells the plugin: first the
// credits still held, then the epoch notice downstream, then the Rewind
// (under creditMu: see there). A finished source is left alone.
func (s *sourceState) rewindPlugin() {
	s.creditMu.Lock()
	defer s.creditMu.Unlock()
	epoch, gen, credits, ok := s.rewind()
	if !ok {
		return
	}
	if credits > 0 {
		s.n.sendIf(gen, creditsMsg(credits))
	}
	s.n.notify(epoch)
	s.n.send(&flowctlv1.NodeRequest{Msg: &flowctlv1.NodeRequest_Rewind{Rewind: &flowctlv1.Rewind{Epoch: epoch}}})
}

func creditsMsg(n int) *flowctlv1.NodeRequest {
	return &flowctlv1.NodeRequest{Msg: &flowctlv1.NodeRequest_Ack{Ack: &flowctlv1.SourceAck{Credits: uint32(n)}}}
}

// ackLoop credits the source for released tickets as soon as they are
// released, checkpoints released positions at most every
// Options.CheckpointInterval and acks them to the source once checkpointed,
// drains the source on Drain, and finishes it, and then what depends only on
// it, once it has ended and every ticket is released.
func (s *sourceState) ackLoop(ctx context.Context) error {
	n := s.n
	var (
		unsaved release
		gen     uint64
		savedAt time.Time
		timer   *time.Timer
		due     <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	drain := n.c.drain
	save := func() error {
		if unsaved.tickets == 0 {
			return nil
		}
		if ctx.Err() != nil {
			// The run is failing: checkpoint nothing more.
			return ctx.Err()
		}
		if cp := n.c.opts.Checkpoint; cp != nil {
			if err := cp(n.name, unsaved.position, unsaved.events); err != nil {
				return n.fail(fmt.Errorf("checkpoint: %w", err))
			}
		}
		s.acked.Add(unsaved.events)
		n.sendIf(gen, &flowctlv1.NodeRequest{Msg: &flowctlv1.NodeRequest_Ack{Ack: &flowctlv1.SourceAck{Position: unsaved.position}}})
		unsaved, savedAt = release{}, time.Now()
		return nil
	}
	for {
		select {
		case <-s.signal:
		case <-due:
			due = nil
			s.setArmed(false)
		case <-drain:
			drain = nil
			s.mu.Lock()
			s.draining = true
			s.mu.Unlock()
			n.send(&flowctlv1.NodeRequest{Msg: &flowctlv1.NodeRequest_Drain{Drain: &flowctlv1.Drain{}}})
		case <-ctx.Done():
			return ctx.Err()
		}
		var (
			rel  release
			done bool
		)
		gen, rel, done = s.credit(true)
		if rel.tickets > 0 {
			unsaved.tickets += rel.tickets
			unsaved.events += rel.events
			unsaved.position = rel.position
		}
		if done {
			if err := save(); err != nil {
				return err
			}
			s.mu.Lock()
			s.finished = true
			s.mu.Unlock()
			n.sendFinish()
			for _, d := range s.downstream {
				if d != n {
					d.maybeFinish()
				}
			}
			n.log.Debug("source finished", "acked_events", s.acked.Load())
			return nil
		}
		if unsaved.tickets == 0 {
			continue
		}
		wait := n.c.opts.CheckpointInterval - time.Since(savedAt)
		switch {
		case wait <= 0:
			if err := save(); err != nil {
				return err
			}
		case due == nil:
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			due = timer.C
			s.setArmed(true)
		}
	}
}
