// Package metrics exposes a run to Prometheus: per-component event
// counters (the numbers of apply's summary, read from the router at
// scrape time), batch latency histograms, backlog (queue depth) and
// restarts, plus the Go and process collectors, on `/metrics`; and
// `/healthz`, which answers 200 while every component is healthy (or
// starting, or degraded) and 503 when one is UNHEALTHY.
//
// Metrics is a host.Observer; Serve runs the HTTP endpoint. Nothing is
// registered globally: each Metrics has its own prometheus.Registry.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
)

const namespace = "flowctl"

// Metrics collects one run's metrics.
type Metrics struct {
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec

	mu   sync.Mutex
	view host.RunView
}

var _ host.Observer = (*Metrics)(nil)

// New returns the metrics of one run, empty until RunStarted.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "batch_latency_seconds",
		Help: "Time a batch took: for processors and sinks from sending it to the plugin to its answer; for sources from receiving it to acking its position.",
		// 100µs to ~26s.
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	}, []string{"pipeline", "component", "kind"})
	m.reg.MustRegister(m.latency, &collector{m: m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RunStarted implements host.Observer.
func (m *Metrics) RunStarted(v host.RunView) {
	m.mu.Lock()
	m.view = v
	m.mu.Unlock()
}

// ComponentChanged implements host.Observer; restarts are counted by the
// router.
func (m *Metrics) ComponentChanged(host.ComponentEvent) {}

// BatchDone implements host.Observer.
func (m *Metrics) BatchDone(c flowhcl.Address, kind flowhcl.Kind, d time.Duration) {
	m.latency.WithLabelValues(m.pipeline(), c.String(), kind.String()).Observe(d.Seconds())
}

// RunEnded implements host.Observer: the last counters stay scrapeable
// until the endpoint stops.
func (m *Metrics) RunEnded(*host.Summary) {}

func (m *Metrics) pipeline() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.view == nil {
		return ""
	}
	return m.view.Pipeline()
}

func (m *Metrics) stats() (string, []host.ComponentSummary) {
	m.mu.Lock()
	v := m.view
	m.mu.Unlock()
	if v == nil {
		return "", nil
	}
	return v.Pipeline(), v.Stats()
}

// collector turns the run's counters into metrics at scrape time, so they
// are exactly the router's.
type collector struct{ m *Metrics }

var labels = []string{"pipeline", "component", "kind", "plugin"}

func desc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "component", name), help, labels, nil)
}

var (
	descReceived = desc("events_received_total", "Events sent to the component (processors and sinks).")
	descEmitted  = desc("events_emitted_total", "Events the component emitted downstream (sources and processors).")
	descAcked    = desc("events_acked_total", "Events acknowledged: for a source, by every sink it feeds; for a sink, written.")
	descFailed   = desc("events_failed_total", "Events that failed for good (dead-lettered, or failing the run).")
	descRetried  = desc("events_retried_total", "Events sent again under on_error = \"retry\".")
	descDead     = desc("events_dead_lettered_total", "Events sent to the dead-letter sink.")
	descRestarts = desc("restarts_total", "Plugin restarts.")
	descBacklog  = desc("queue_depth_batches", "Batches sent to the plugin (sources: received from it) awaiting their answer or ack.")
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReceived, descEmitted, descAcked, descFailed, descRetried, descDead, descRestarts, descBacklog} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	pipeline, stats := c.m.stats()
	for _, s := range stats {
		lv := []string{pipeline, s.Address.String(), s.Address.Kind.String(), s.Plugin}
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
		}
		switch s.Address.Kind {
		case flowhcl.KindSource:
			counter(descEmitted, s.EventsOut)
			counter(descAcked, s.EventsAcked)
		case flowhcl.KindProcessor:
			counter(descReceived, s.EventsIn)
			counter(descEmitted, s.EventsOut)
		case flowhcl.KindSink:
			counter(descReceived, s.EventsIn)
			counter(descAcked, s.EventsAcked)
		}
		if s.Address.Kind != flowhcl.KindSource {
			counter(descFailed, s.EventsFailed)
			counter(descRetried, s.Retried)
			counter(descDead, s.DeadLettered)
		}
		counter(descRestarts, s.Restarts)
		ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(s.Backlog), lv...)
	}
}
