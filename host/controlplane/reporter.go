package controlplane

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
	"github.com/flowctl/flowctl/host/health"
	"github.com/flowctl/flowctl/host/registry"
	"github.com/flowctl/flowctl/host/status"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Reporter is the host.Observer that reports a run to its registry: it
// registers each plugin the host starts, heartbeats for it from its health
// checks (with its counters as metrics), serves the run's live counters and
// closes the run with the final summary, so the control plane's counters
// are the summary's.
type Reporter struct {
	reg     *registry.Registry
	log     hclog.Logger
	sampler *status.Sampler

	mu   sync.Mutex
	view host.RunView
	stop chan struct{} // ends the sampling started by RunStarted
	done chan struct{}
}

var _ host.Observer = (*Reporter)(nil)

// NewReporter reports to reg.
func NewReporter(reg *registry.Registry, log hclog.Logger) *Reporter {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Reporter{reg: reg, log: log.Named("controlplane"), sampler: status.NewSampler()}
}

// sampleInterval is how often the Reporter samples the counters on its
// own, so that rates are there at the first look of a client.
const sampleInterval = time.Second

// RunStarted implements host.Observer.
func (p *Reporter) RunStarted(v host.RunView) {
	p.mu.Lock()
	p.view = v
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	stop, done := p.stop, p.done
	p.mu.Unlock()
	p.reg.SetCounters(func() []*flowctlv1.ComponentCounters { return p.sampler.Counters(v.Stats()) })
	go func() {
		defer close(done)
		t := time.NewTicker(sampleInterval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				p.sampler.Counters(v.Stats())
			}
		}
	}()
}

// ComponentChanged implements host.Observer.
func (p *Reporter) ComponentChanged(ev host.ComponentEvent) {
	id := ev.Name()
	var err error
	switch ev.Type {
	case host.EventStarted:
		_, err = p.reg.Register(&flowctlv1.RegisterRequest{
			Id: id, Kind: ev.Address.Kind.Proto(), Plugin: ev.Plugin, Version: ev.Version,
			Metadata: map[string]string{"driver": ev.Driver, "pid": strconv.Itoa(ev.Pid)},
		}, true)
	case host.EventServing:
		_, err = p.reg.Heartbeat(id, "", health.StatusOK, "", p.metrics(id))
	case host.EventUnwell:
		_, err = p.reg.Heartbeat(id, "", health.StatusDegraded, errText(ev.Err), p.metrics(id))
	case host.EventFailed:
		_, err = p.reg.Heartbeat(id, "", health.StatusFailing, errText(ev.Err), p.metrics(id))
	case host.EventStopped:
		err = p.reg.Deregister(id, "", "plugin stopped")
	}
	if err != nil {
		p.log.Debug("could not record component event", "component", id, "event", ev.Type, "error", err)
	}
}

// BatchDone implements host.Observer; the control plane keeps no latencies.
func (p *Reporter) BatchDone(flowhcl.Address, flowhcl.Kind, time.Duration) {}

// RunEnded implements host.Observer.
func (p *Reporter) RunEnded(sum *host.Summary) {
	p.mu.Lock()
	stop, done := p.stop, p.done
	p.stop = nil
	p.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
	state := flowctlv1.RunState_RUN_STATE_COMPLETED
	switch {
	case sum.Interrupted && (sum.Err == nil || errors.Is(sum.Err, context.Canceled) || sum.Abandoned):
		state = flowctlv1.RunState_RUN_STATE_INTERRUPTED
	case sum.Err != nil:
		state = flowctlv1.RunState_RUN_STATE_FAILED
	}
	if err := p.reg.End(state, sum.Err, Counters(sum.Components)); err != nil {
		p.log.Error("could not record the end of the run", "error", err)
	}
}

func (p *Reporter) metrics(id string) map[string]float64 {
	p.mu.Lock()
	v := p.view
	p.mu.Unlock()
	if v == nil {
		return nil
	}
	for _, c := range v.Stats() {
		if c.Name() == id {
			return map[string]float64{
				"events_received": float64(c.EventsIn), "events_emitted": float64(c.EventsOut),
				"events_acked": float64(c.EventsAcked), "events_failed": float64(c.EventsFailed),
				"restarts": float64(c.Restarts), "backlog_batches": float64(c.Backlog),
			}
		}
	}
	return nil
}

// Counters converts the host's per-component counters to the wire.
func Counters(cs []host.ComponentSummary) []*flowctlv1.ComponentCounters {
	return status.Counters(cs)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
