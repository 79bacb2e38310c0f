package router

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/flowctl/flowctl/pluginsdk/backoff"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// ErrorMode is what a processor or sink does with events it failed: the
// protocol's on_error mode.
type ErrorMode = wire.ErrorMode

// The error modes.
const (
	// ErrorFail fails the run; nothing from the failed events is acked.
	ErrorFail = wire.ErrorFail
	// ErrorRetry sends the failed events again with backoff, at most
	// ErrorPolicy.Attempts times; then they go to the dead-letter sink if
	// there is one, or fail the run.
	ErrorRetry = wire.ErrorRetry
	// ErrorDeadLetter sends the failed events to the dead-letter sink.
	ErrorDeadLetter = wire.ErrorDeadLetter
)

// ErrorPolicy is a node's on_error setting.
type ErrorPolicy struct {
	Mode ErrorMode
	// Attempts is how many times failed events are sent again (ErrorRetry).
	Attempts int
	// Delay before the first retry, doubling for each further one up to
	// MaxDelay.
	Delay, MaxDelay time.Duration
	// DeadLetter names the sink that receives failed events: required for
	// ErrorDeadLetter; with ErrorRetry, where events go once their retries
	// run out. Each dead-lettered event carries the error in its attributes
	// (AttrError, AttrComponent, AttrAttempts).
	DeadLetter string
}

// Attributes the router sets on a dead-lettered event.
const (
	AttrError     = "flowctl.error"
	AttrComponent = "flowctl.component"
	AttrAttempts  = "flowctl.attempts"
	// AttrDropped is set, to how many, when the event's own attributes did
	// not all fit within the protocol's limits beside the router's.
	AttrDropped = "flowctl.attributes_dropped"
)

// backoff is the wait before retry number attempt+1, jittered.
func (p ErrorPolicy) backoff(attempt int) time.Duration {
	return backoff.Policy{Base: p.Delay, Max: p.MaxDelay}.Delay(attempt)
}

// failure is events of a request that a plugin failed: the events at index
// within the request's batch, each with its reason, or with index nil the
// whole batch for reasons[0].
type failure struct {
	rq      *request
	index   []int
	reasons []string
}

func (f failure) count() int {
	if f.index == nil {
		return int(f.rq.it.b.GetCount())
	}
	return len(f.index)
}

func (f failure) reason(i int) string {
	if f.index == nil {
		return f.reasons[0]
	}
	return f.reasons[i]
}

// events decodes the failed events. Only the error path decodes payloads.
// A lenient decode makes string fields valid UTF-8 (see decodeLenient), for
// events that leave the pipeline; a strict one refuses them instead, for
// events sent again, which must not change.
func (f failure) events(lenient bool) ([]*flowctlv1.Event, error) {
	decode := decodeLenient
	if !lenient {
		decode = decodeStrict
	}
	list, err := decode(f.rq.it.b.GetEvents())
	if err != nil {
		return nil, fmt.Errorf("decode failed batch: %w", err)
	}
	if f.index == nil {
		return list.GetEvents(), nil
	}
	out := make([]*flowctlv1.Event, 0, len(f.index))
	for _, i := range f.index {
		if i < 0 || i >= len(list.GetEvents()) {
			return nil, fmt.Errorf("%w: failed event %d of a batch of %d", ErrProtocol, i, len(list.GetEvents()))
		}
		out = append(out, list.GetEvents()[i])
	}
	return out, nil
}

func encode(events []*flowctlv1.Event) (*flowctlv1.Batch, error) {
	data, err := proto.Marshal(&flowctlv1.EventList{Events: events})
	if err != nil {
		return nil, err
	}
	return &flowctlv1.Batch{Count: uint32(len(events)), Events: data}, nil
}

// onFailure applies n's error policy to f. It keeps the request's ticket
// reference; the caller releases it afterwards as for a success. Retries
// and dead letters take references of their own.
func (n *node) onFailure(w *window, f failure, sendDLQ func(item) error) error {
	if n.redact != nil {
		for i, r := range f.reasons {
			f.reasons[i] = n.redact(r)
		}
	}
	pol := n.policy
	it := f.rq.it
	count := uint64(f.count())
	retry := pol.Mode == ErrorRetry && it.attempt < pol.Attempts
	b := it.b
	if retry && f.index != nil {
		events, err := f.events(false)
		switch {
		case err != nil && n.dlq != nil:
			// Unreadable as it is (invalid UTF-8, say): sending it again
			// cannot help, so it goes where exhausted retries go.
			n.log.Warn("failed events cannot be retried; sending them to the dead-letter sink", "error", err)
			retry = false
		case err != nil:
			return n.fail(err)
		default:
			if b, err = encode(events); err != nil {
				return n.fail(err)
			}
		}
	}
	if retry {
		wait := pol.backoff(it.attempt)
		n.log.Warn("events failed; retrying", "events", count, "retry", it.attempt+1, "of", pol.Attempts, "in", wait, "error", f.reason(0))
		n.stats.retried.Add(count)
		it.t.acquire()
		w.retries.push(item{t: it.t, b: b, attempt: it.attempt + 1}, time.Now().Add(wait))
		return nil
	}
	n.stats.eventsFailed.Add(count)
	if n.dlq != nil {
		events, err := f.events(true)
		if err != nil {
			return n.fail(err)
		}
		for i, e := range events {
			events[i] = deadLetter(e, f.reason(i), n.name, it.attempt+1)
		}
		b, err := encode(events)
		if err != nil {
			return n.fail(err)
		}
		n.log.Warn("events failed; sent to the dead-letter sink", "events", count, "attempts", it.attempt+1, "error", f.reason(0))
		n.stats.deadLettered.Add(count)
		return sendDLQ(item{t: it.t, b: b})
	}
	be := &BatchError{Kind: n.kind, Seq: f.rq.seq, Event: -1, Reason: f.reason(0), Attempts: it.attempt + 1}
	if f.index != nil {
		be.Event, be.More = f.index[0], len(f.index)-1
	}
	return n.fail(be)
}

// retryQueue holds failed batches until their retry is due. Every item holds
// a ticket reference and no credit is granted for its ticket meanwhile, so
// the queue is bounded by the sources' credits.
type retryQueue struct {
	signal chan struct{} // capacity 1: an item was pushed

	mu    sync.Mutex
	items []retryItem
}

type retryItem struct {
	it item
	at time.Time
}

func newRetryQueue() retryQueue { return retryQueue{signal: make(chan struct{}, 1)} }

func (q *retryQueue) push(it item, at time.Time) {
	q.mu.Lock()
	q.items = append(q.items, retryItem{it: it, at: at})
	q.mu.Unlock()
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// ready takes the oldest item that is due.
func (q *retryQueue) ready() (item, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := time.Now()
	for i, ri := range q.items {
		if !ri.at.After(now) {
			q.items = slices.Delete(q.items, i, i+1)
			return ri.it, true
		}
	}
	return item{}, false
}

// timer fires when the earliest item is due; nil when there is none. stop
// releases it.
func (q *retryQueue) timer() (<-chan time.Time, func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, func() {}
	}
	at := q.items[0].at
	for _, ri := range q.items[1:] {
		if ri.at.Before(at) {
			at = ri.at
		}
	}
	t := time.NewTimer(time.Until(at))
	return t.C, func() { t.Stop() }
}

func (q *retryQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
