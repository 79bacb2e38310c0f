package dataplane

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// counters are a node's NodeCounters, kept live.
type counters struct {
	batchesIn, eventsIn   atomic.Uint64
	batchesOut, eventsOut atomic.Uint64
	eventsAcked           atomic.Uint64
	batchesVoid           atomic.Uint64
	// queued, when set, is the node's inbox depth now.
	queued func() uint64
}

func (c *counters) snapshot() *flowctlv1.NodeCounters {
	nc := &flowctlv1.NodeCounters{
		BatchesIn: c.batchesIn.Load(), EventsIn: c.eventsIn.Load(),
		BatchesOut: c.batchesOut.Load(), EventsOut: c.eventsOut.Load(),
		EventsAcked: c.eventsAcked.Load(), BatchesVoid: c.batchesVoid.Load(),
	}
	if c.queued != nil {
		nc.QueuedBatches = c.queued()
	}
	return nc
}

// reporter sends a node's reports on its control stream. Whatever piles up
// while a Send is in progress goes out in the next one, so under load many
// batches cost one message; counters ride along, and go out on their own at
// most every counterInterval when nothing else does. What the host needs
// for its decisions (batches, returns, failures, the end) is urgent; what
// only feeds its metrics (batch times) waits for the next report, so a
// processor that passes every batch on costs the host a read per
// counterInterval, not per batch.
type reporter struct {
	send     func(*flowctlv1.NodeReport) error
	counters *counters
	gap      time.Duration // least time between two reports

	mu      sync.Mutex
	pending *flowctlv1.NodeReport
	signal  chan struct{} // capacity 1
	stopped chan struct{} // closed when run returns
	err     error         // run's result, set before stopped closes
}

// counterInterval is how often counters are reported when nothing else is.
const counterInterval = 200 * time.Millisecond

// reportGap is the least time between two reports. Each costs the host a
// read and a wakeup; a busy plugin's batches then share one report, at the
// price of at most this much delay before the host hears of them (credits
// cover many batches, so throughput does not wait for it). In `linear`,
// 4 ms instead of 2 took 10 to 20 % off the host's CPU per event in four
// A B pairs out of four, at the same throughput (BENCHMARKS.md).
const reportGap = 4 * time.Millisecond

// sourceReportGap is a source's reportGap. A batch's ticket is released
// when the shares of what came of it are back, which takes at least a trip
// through the pipeline and a report of each consumer; the source's own
// report only has to arrive before those, and may wait longer. In `linear`
// at 1,200,000 events/s it took the host from 0.10 to 0.08 s of CPU per
// million events, with no loss of throughput (BENCHMARKS.md).
const sourceReportGap = 5 * time.Millisecond

func newReporter(send func(*flowctlv1.NodeReport) error, c *counters, gap time.Duration) *reporter {
	return &reporter{send: send, counters: c, gap: gap, pending: &flowctlv1.NodeReport{}, signal: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// add merges fn's changes into the pending report and has it sent soon.
func (r *reporter) add(fn func(*flowctlv1.NodeReport)) {
	r.later(fn)
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// later merges fn's changes into the pending report, which goes out with
// the next urgent one or the counters.
func (r *reporter) later(fn func(*flowctlv1.NodeReport)) {
	r.mu.Lock()
	fn(r.pending)
	r.mu.Unlock()
}

// hasPending reports whether anything waits to be sent.
func (r *reporter) hasPending() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return proto.Size(r.pending) > 0
}

func (r *reporter) take() *flowctlv1.NodeReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.pending
	r.pending = &flowctlv1.NodeReport{}
	return rep
}

// run sends reports until ctx ends; then it sends what is pending, with the
// final counters, and returns.
func (r *reporter) run(ctx context.Context) {
	defer close(r.stopped)
	tick := time.NewTicker(counterInterval)
	defer tick.Stop()
	var last *flowctlv1.NodeCounters
	var sent time.Time
	gap := time.NewTimer(0)
	defer gap.Stop()
	for {
		select {
		case <-r.signal:
			if wait := r.gap - time.Since(sent); wait > 0 {
				gap.Reset(wait)
				select {
				case <-gap.C:
				case <-ctx.Done():
				}
			}
		case <-tick.C:
			if proto.Equal(last, r.counters.snapshot()) && !r.hasPending() {
				continue
			}
		case <-ctx.Done():
			rep := r.take()
			rep.Counters = r.counters.snapshot()
			r.err = r.send(rep)
			return
		}
		if ctx.Err() != nil {
			continue // the final report goes out above
		}
		rep := r.take()
		rep.Counters = r.counters.snapshot()
		last = rep.Counters
		sent = time.Now()
		if err := r.send(rep); err != nil {
			r.err = err
			return
		}
	}
}
