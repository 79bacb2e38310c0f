package host

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// recorder is an Observer that remembers what it heard.
type recorder struct {
	mu      sync.Mutex
	view    RunView
	events  map[string][]EventType
	batches map[string]int
	midRun  []ComponentSummary
	ended   []*Summary
}

func (r *recorder) RunStarted(v RunView) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.view, r.events, r.batches = v, map[string][]EventType{}, map[string]int{}
}

func (r *recorder) ComponentChanged(ev ComponentEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.Pid == 0 || ev.Plugin == "" || ev.Driver != "process" {
		panic(fmt.Sprintf("event without pid, plugin or driver: %+v", ev))
	}
	r.events[ev.Address.String()] = append(r.events[ev.Address.String()], ev.Type)
}

func (r *recorder) BatchDone(c flowhcl.Address, _ flowhcl.Kind, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d <= 0 {
		panic("non-positive latency")
	}
	r.batches[c.String()]++
	if r.batches[c.String()] == 5 {
		r.midRun = r.view.Stats()
	}
}

func (r *recorder) RunEnded(s *Summary) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = append(r.ended, s)
}

// TestObserverSeesTheRun: an observer hears every component start, serve
// and stop, gets batch latencies, reads live counters mid-run, and hears
// the end once, with the summary Apply returns.
func TestObserverSeesTheRun(t *testing.T) {
	h, ui := testHost(t)
	plan := load(t, h, `
source "generator" "ticks" {
  count = 2000
  batch {
    size = 100
  }
}
processor "transform" "tag" {
  inputs = [source.ticks]
}
sink "discard" "out" {
  inputs = [processor.tag]
}`, nil)
	rec := &recorder{}
	sum, err := h.Apply(t.Context(), plan, ApplyOptions{Observers: []Observer{rec}})
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, ui.String())
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ended) != 1 || rec.ended[0] != sum {
		t.Fatalf("RunEnded called %d times, want once with Apply's summary", len(rec.ended))
	}
	for _, c := range []string{"source.ticks", "processor.tag", "sink.out"} {
		ev := rec.events[c]
		if len(ev) < 3 || ev[0] != EventStarted || ev[1] != EventServing || ev[len(ev)-1] != EventStopped || slices.Contains(ev, EventFailed) {
			t.Errorf("%s: events %v, want started, serving, ..., stopped", c, ev)
		}
		if rec.batches[c] < 5 {
			t.Errorf("%s: %d batch latencies, want one per batch (20)", c, rec.batches[c])
		}
	}
	if len(rec.midRun) != 3 {
		t.Fatalf("live stats mid-run: %+v", rec.midRun)
	}
	for i, c := range sum.Components {
		mid := rec.midRun[i]
		if mid.Address != c.Address || mid.EventsIn > c.EventsIn || mid.EventsOut > c.EventsOut || mid.EventsAcked > c.EventsAcked {
			t.Errorf("mid-run %+v is not on the way to the end %+v", mid, c)
		}
		if c.Backlog != 0 {
			t.Errorf("%s ended with a backlog of %d", c.Address, c.Backlog)
		}
	}
	if got := sum.Components[2].EventsAcked; got != 2000 {
		t.Errorf("sink acked %d, want 2000", got)
	}
}
