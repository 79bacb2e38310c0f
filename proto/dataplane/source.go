package dataplane

import (
	"context"
	"fmt"
	"sync"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// kept is a source batch the host has not released yet: what a rewind sends
// again.
type kept struct {
	seq   uint64
	batch *flowctlv1.Batch
}

// keeper holds a source's kept batches, oldest first. The main loop adds,
// credits (on the control loop) release the oldest.
type keeper struct {
	mu    sync.Mutex
	items []kept
}

func (k *keeper) add(it kept) {
	k.mu.Lock()
	k.items = append(k.items, it)
	k.mu.Unlock()
}

// release drops the n oldest batches: the host released their tickets.
func (k *keeper) release(n int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if n > len(k.items) {
		return fmt.Errorf("%w: %d tickets released, %d batches outstanding", ErrProtocol, n, len(k.items))
	}
	clear(k.items[:n])
	k.items = k.items[n:]
	return nil
}

func (k *keeper) snapshot() []kept {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]kept(nil), k.items...)
}

// Credits counts the batches a source may still read: the host grants
// them, reading a batch takes one. Protocol 1's source stream (pluginsdk)
// counts its credits with it too.
type Credits struct {
	mu    sync.Mutex
	n     uint32
	ready chan struct{} // closed and replaced whenever credit is added
}

// NewCredits returns n credits.
func NewCredits(n uint32) *Credits { return &Credits{n: n, ready: make(chan struct{})} }

// Add grants n more.
func (c *Credits) Add(n uint32) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	c.n += n
	close(c.ready)
	c.ready = make(chan struct{})
	c.mu.Unlock()
}

// Take takes one, waiting for it until ctx ends.
func (c *Credits) Take(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.n > 0 {
			c.n--
			c.mu.Unlock()
			return nil
		}
		ready := c.ready
		c.mu.Unlock()
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// read is one result of the source's reader.
type read struct {
	b        Batch
	position []byte
	end      bool
	err      error
}

// runSource reads batches while the source holds credit, keeps each until
// its ticket is released, reports it and sends it along every output.
func (n *node) runSource(ctx context.Context, h SourceHandler, open *flowctlv1.NodeOpen) error {
	so := open.GetSource()
	if err := h.Open(ctx, so.GetPosition(), Shape{MaxEvents: so.GetMaxBatchEvents(), LingerNanos: so.GetLingerNanos()}); err != nil {
		return fmt.Errorf("open: %w", err)
	}
	cr := NewCredits(so.GetCredits())
	var keep keeper
	n.onAck = func(ctx context.Context, ack *flowctlv1.SourceAck) error {
		if c := ack.GetCredits(); c > 0 {
			if err := keep.release(int(c)); err != nil {
				return err
			}
			cr.Add(c)
			h.Release(c)
		}
		if p := ack.GetPosition(); len(p) > 0 {
			if err := h.Ack(ctx, p); err != nil {
				return fmt.Errorf("ack: %w", err)
			}
		}
		return nil
	}

	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	reads := make(chan read)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			if err := cr.Take(readCtx); err != nil {
				return
			}
			b, pos, end, err := h.Next(readCtx)
			select {
			case reads <- read{b: b, position: pos, end: end, err: err}:
			case <-readCtx.Done():
				return
			}
			if end || err != nil {
				return
			}
		}
	}()

	epoch, seq := open.GetEpoch(), max(open.GetFirstSeq(), 1)-1
	send := func(sq uint64, b *flowctlv1.Batch) error {
		t := &flowctlv1.Ticket{Source: n.id, Epoch: epoch, Seq: sq}
		return n.emit(ctx, t, Full, b)
	}
	ended := false
	end := func() {
		ended = true
		n.rep.add(func(r *flowctlv1.NodeReport) { r.Ended = true })
	}
	for {
		select {
		case r := <-reads:
			if r.err != nil {
				if ctx.Err() == nil && readCtx.Err() != nil {
					// Drained while reading: the read is given up.
					continue
				}
				return fmt.Errorf("read: %w", r.err)
			}
			if r.b.Count > 0 {
				seq++
				b := &flowctlv1.Batch{Count: r.b.Count, Events: r.b.Events}
				keep.add(kept{seq: seq, batch: b})
				report := &flowctlv1.BatchReport{Seq: seq, Epoch: epoch, Count: r.b.Count, Position: r.position, Remaining: r.b.Remaining}
				n.rep.add(func(rep *flowctlv1.NodeReport) { rep.Batches = append(rep.Batches, report) })
				if err := send(seq, b); err != nil {
					return err
				}
			}
			if r.end {
				end()
			}
		case e := <-n.rewinds:
			epoch = e
			again := keep.snapshot()
			n.log.Info("sending again what was not yet delivered", "batches", len(again), "epoch", e)
			for _, k := range again {
				if err := send(k.seq, k.batch); err != nil {
					return err
				}
			}
		case <-n.drains:
			if !ended {
				// A batch being read is given up: it was never reported,
				// so it is read again after a resume.
				stopReading()
				<-readerDone
				end()
			}
		case <-n.finish:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
