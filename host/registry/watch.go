package registry

import (
	"errors"

	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// watchBuffer is how many events a watcher may lag behind before it is cut
// off; a watcher is a person's terminal or a tool, and must not slow the
// registry down.
const watchBuffer = 256

// ErrWatcherLagged ends a watch whose reader fell more than watchBuffer
// events behind.
var ErrWatcherLagged = errors.New("watch fell too far behind and was ended; watch again")

// Watcher receives the changes of the current run.
type Watcher struct {
	r  *Registry
	ch chan *flowctlv1.ServiceEvent
	// Err is set before Events closes when the registry ended the watch.
	err error
}

// Watch returns the current run's services (as TYPE_EXISTING events) and a
// Watcher that receives every later change. Close it when done.
func (r *Registry) Watch() ([]*flowctlv1.ServiceEvent, *Watcher) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := &Watcher{r: r, ch: make(chan *flowctlv1.ServiceEvent, watchBuffer)}
	var first []*flowctlv1.ServiceEvent
	for _, e := range r.services {
		first = append(first, &flowctlv1.ServiceEvent{Type: flowctlv1.ServiceEvent_TYPE_EXISTING, Service: proto.CloneOf(e.svc)})
	}
	r.watchers[w] = struct{}{}
	return first, w
}

// Events delivers the changes; it is closed by Close, or by the registry
// when the watcher lagged (then Err says so).
func (w *Watcher) Events() <-chan *flowctlv1.ServiceEvent { return w.ch }

// Err is why Events was closed by the registry, if it was.
func (w *Watcher) Err() error {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.err
}

// Close stops the watch. It is safe to call more than once.
func (w *Watcher) Close() {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	if _, ok := w.r.watchers[w]; ok {
		delete(w.r.watchers, w)
		close(w.ch)
	}
}

// notify sends ev to every watcher; r.mu is held.
func (r *Registry) notify(ev *flowctlv1.ServiceEvent) {
	for w := range r.watchers {
		select {
		case w.ch <- ev:
		default:
			w.err = ErrWatcherLagged
			delete(r.watchers, w)
			close(w.ch)
		}
	}
}
