package dataplane

import (
	"context"
	"fmt"
	"time"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// consumer runs a processor or sink node: it takes batches from its inbox,
// has the component process or write them, sends a processor's outputs on
// and returns the shares of what is done. Events that fail are held, with
// their share, until the host decides (retry, dead letter, drop).
type consumer struct {
	*node
	kind      wire.Kind
	processor ProcessorHandler
	sink      SinkHandler

	seq      uint64 // batches received
	failures uint64 // last failure id
	held     map[uint64]*held
}

// held is events a component failed, awaiting the host's decision.
type held struct {
	ticket  *flowctlv1.Ticket
	weight  uint64
	batch   *flowctlv1.Batch
	seq     uint64
	idx     []uint32 // failed events; nil: the whole batch
	reasons []string // per idx, or one for the whole batch
	retries uint32
}

func (h *held) reason(i int) string {
	if h.idx == nil {
		return h.reasons[0]
	}
	return h.reasons[i]
}

func newConsumer(n *node, kind wire.Kind, h any) (*consumer, error) {
	c := &consumer{node: n, kind: kind, held: map[uint64]*held{}}
	var ok bool
	switch kind {
	case wire.KindProcessor:
		c.processor, ok = h.(ProcessorHandler)
	case wire.KindSink:
		c.sink, ok = h.(SinkHandler)
	}
	if !ok {
		return nil, fmt.Errorf("%w: opened as a %v, but the component is not one", ErrProtocol, kind)
	}
	return c, nil
}

func (c *consumer) run(ctx context.Context) error {
	var err error
	if c.processor != nil {
		err = c.processor.Open(ctx)
	} else {
		err = c.sink.Open(ctx)
	}
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	for {
		select {
		case it := <-c.in.ch:
			if c.epochs.void(it.ticket) {
				c.counters.batchesVoid.Add(1)
				continue
			}
			c.seq++
			c.counters.batchesIn.Add(1)
			c.counters.eventsIn.Add(uint64(it.batch.GetCount()))
			if err := c.handle(ctx, it, c.seq, 0); err != nil {
				return err
			}
			if !it.at.IsZero() {
				d := uint64(time.Since(it.at))
				c.rep.later(func(r *flowctlv1.NodeReport) { r.BatchNanos = append(r.BatchNanos, d) })
			}
		case d := <-c.decisions:
			if err := c.decide(ctx, d); err != nil {
				return err
			}
		case ev := <-c.notices:
			c.dropVoid(ev)
		case <-c.finish:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// handle processes or writes one batch of ticket it.ticket; seq numbers it
// for messages and retries counts earlier tries of its events.
func (c *consumer) handle(ctx context.Context, it item, seq uint64, retries uint32) error {
	// The handler holds the count to the events (pluginsdk decodes them).
	in := Batch{Events: it.batch.GetEvents(), Count: it.batch.GetCount()}
	if c.processor != nil {
		res, err := c.processor.Process(ctx, in)
		if err != nil {
			return fmt.Errorf("process: %w", err)
		}
		return c.processed(ctx, it, seq, retries, res)
	}
	res, err := c.sink.Write(ctx, in)
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return c.written(it, seq, retries, res)
}

func (c *consumer) processed(ctx context.Context, it item, seq uint64, retries uint32, res Result) error {
	if res.Error != "" {
		c.hold(it.ticket, it.weight, it.batch, seq, retries, nil, []string{res.Error})
		return nil
	}
	outs, failed := 0, len(res.Errors) > 0
	if res.Out.Count > 0 {
		outs = len(c.outs)
	}
	parts := outs
	if failed {
		parts++
	}
	if parts == 0 {
		// Dropped, every event: that counts as delivered.
		c.giveBack(it.ticket, it.weight)
		return nil
	}
	shares, err := split(it.weight, parts)
	if err != nil {
		return err
	}
	if outs > 0 {
		out := &flowctlv1.Batch{Count: res.Out.Count, Events: res.Out.Events}
		var sum uint64
		for _, w := range shares[:outs] {
			sum += w
		}
		if err := c.emit(ctx, it.ticket, sum, out); err != nil {
			return err
		}
	}
	if failed {
		idx, reasons := eventErrors(res.Errors)
		c.hold(it.ticket, shares[parts-1], it.batch, seq, retries, idx, reasons)
	}
	return nil
}

func (c *consumer) written(it item, seq uint64, retries uint32, res WriteResult) error {
	switch {
	case res.Error != "":
		c.hold(it.ticket, it.weight, it.batch, seq, retries, nil, []string{res.Error})
	case len(res.Errors) > 0:
		shares, err := split(it.weight, 2)
		if err != nil {
			return err
		}
		written := it.batch.GetCount() - uint32(len(res.Errors))
		c.counters.eventsAcked.Add(uint64(written))
		c.giveBack(it.ticket, shares[0])
		idx, reasons := eventErrors(res.Errors)
		c.hold(it.ticket, shares[1], it.batch, seq, retries, idx, reasons)
	default:
		c.counters.eventsAcked.Add(uint64(it.batch.GetCount()))
		c.giveBack(it.ticket, it.weight)
	}
	return nil
}

func eventErrors(errs []*flowctlv1.EventError) (idx []uint32, reasons []string) {
	for _, e := range errs {
		idx = append(idx, e.GetIndex())
		reasons = append(reasons, e.GetMessage())
	}
	return idx, reasons
}

// hold keeps failed events and reports them.
func (c *consumer) hold(t *flowctlv1.Ticket, w uint64, b *flowctlv1.Batch, seq uint64, retries uint32, idx []uint32, reasons []string) {
	c.failures++
	id := c.failures
	c.held[id] = &held{ticket: t, weight: w, batch: b, seq: seq, idx: idx, reasons: reasons, retries: retries}
	f := &flowctlv1.Failure{Id: id, Ticket: t, Seq: seq, BatchEvents: b.GetCount(), Retries: retries}
	if idx == nil {
		f.Events, f.Error = b.GetCount(), reasons[0]
	} else {
		f.Events = uint32(len(idx))
		for i, at := range idx {
			f.Errors = append(f.Errors, &flowctlv1.EventError{Index: at, Message: reasons[i]})
		}
	}
	c.rep.add(func(r *flowctlv1.NodeReport) { r.Failures = append(r.Failures, f) })
}

// decide carries out the host's decision on a held failure.
func (c *consumer) decide(ctx context.Context, d *flowctlv1.Decision) error {
	h, ok := c.held[d.GetFailure()]
	if !ok {
		// Dropped already (its epoch became void); nothing to do.
		return nil
	}
	delete(c.held, d.GetFailure())
	switch d.GetAction() {
	case flowctlv1.Decision_ACTION_RETRY:
		b := h.batch
		if h.idx != nil {
			events, err := subset(h.batch.GetEvents(), h.idx)
			if err != nil {
				return err
			}
			b = &flowctlv1.Batch{Count: uint32(len(h.idx)), Events: events}
		}
		c.counters.batchesIn.Add(1)
		c.counters.eventsIn.Add(uint64(b.GetCount()))
		return c.handle(ctx, item{ticket: h.ticket, weight: h.weight, batch: b}, h.seq, h.retries+1)
	case flowctlv1.Decision_ACTION_DEAD_LETTER:
		if c.dlq == nil {
			return fmt.Errorf("%w: dead letter decided, but the node has no dead-letter peer", ErrProtocol)
		}
		if rs := d.GetReasons(); len(rs) == len(h.reasons) {
			h.reasons = rs // the host's words: it scrubs what is sensitive
		}
		events, err := deadLetters(h.batch.GetEvents(), h.idx, h.reason, c.component, int(d.GetAttempt()))
		if err != nil {
			return err
		}
		n := h.batch.GetCount()
		if h.idx != nil {
			n = uint32(len(h.idx))
		}
		return c.dlq.push(ctx, item{ticket: h.ticket, weight: h.weight, batch: &flowctlv1.Batch{Count: n, Events: events}})
	case flowctlv1.Decision_ACTION_DROP:
		return nil
	}
	return fmt.Errorf("%w: decision %v", ErrProtocol, d.GetAction())
}

// dropVoid forgets held failures whose epoch became void: the source sends
// their events again.
func (c *consumer) dropVoid(*flowctlv1.EpochNotice) {
	for id, h := range c.held {
		if c.epochs.void(h.ticket) {
			delete(c.held, id)
		}
	}
}
