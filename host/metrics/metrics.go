// Package metrics exposes a run to Prometheus: per-component event
// counters (the numbers of apply's summary, read from the router at
// scrape time), batch latency histograms, backlog (queue depth), restarts
// and each source's checkpoint lag, plus flowctl_build_info,
// flowctl_plugin_info and the Go and process collectors, on `/metrics`;
// and `/healthz`, which answers 200 while every component is healthy (or
// starting, or degraded) and 503 when one is UNHEALTHY.
//
// Every per-component series, the latency histogram included, carries the
// same labels: pipeline, component, kind and plugin (the plugin's address,
// without its version, so that an upgrade does not start new series). The
// version is on flowctl_plugin_info{plugin, version}, to join on when
// wanted.
//
// Metrics is a host.Observer; Serve runs the HTTP endpoint. Nothing is
// registered globally: each Metrics has its own prometheus.Registry.
package metrics

import (
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
)

const namespace = "flowctl"

// Build describes the flowctl binary, for flowctl_build_info.
type Build struct {
	Version string
}

// Metrics collects one run's metrics.
type Metrics struct {
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
	now     func() time.Time

	mu      sync.Mutex
	view    host.RunView
	started time.Time
	plugins map[flowhcl.Address]string // each component's plugin label
	// observers are the latency histogram's series, found once per
	// component: a batch's observation then costs no label hashing.
	observers map[flowhcl.Address]prometheus.Observer
}

var _ host.Observer = (*Metrics)(nil)

// New returns the metrics of one run, empty until RunStarted.
func New(build Build) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), now: time.Now, plugins: map[flowhcl.Address]string{}, observers: map[flowhcl.Address]prometheus.Observer{}}
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "batch_latency_seconds",
		Help: "Time a batch took: for processors and sinks from sending it to the plugin to its answer; for sources from receiving it to acking its position.",
		// 100µs to ~26s.
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	}, labels)
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info", Help: "The flowctl binary: always 1, with its version and Go version as labels.",
		ConstLabels: prometheus.Labels{"version": build.Version, "goversion": runtime.Version()},
	})
	info.Set(1)
	m.reg.MustRegister(m.latency, info, &collector{m: m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry is the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RunStarted implements host.Observer.
func (m *Metrics) RunStarted(v host.RunView) {
	m.mu.Lock()
	m.view, m.started = v, m.now()
	clear(m.observers)
	m.mu.Unlock()
}

// ComponentChanged implements host.Observer; restarts are counted by the
// router.
func (m *Metrics) ComponentChanged(host.ComponentEvent) {}

// BatchDone implements host.Observer.
func (m *Metrics) BatchDone(c flowhcl.Address, kind flowhcl.Kind, d time.Duration) {
	m.mu.Lock()
	o, ok := m.observers[c]
	m.mu.Unlock()
	if !ok {
		pipeline, plugin := m.labelsOf(c)
		o = m.latency.WithLabelValues(pipeline, c.String(), kind.String(), plugin)
		if pipeline != "" {
			m.mu.Lock()
			m.observers[c] = o
			m.mu.Unlock()
		}
	}
	o.Observe(d.Seconds())
}

// RunEnded implements host.Observer: the last counters stay scrapeable
// until the endpoint stops.
func (m *Metrics) RunEnded(*host.Summary) {}

// labelsOf returns the pipeline and c's plugin label; the plugins are
// read from the run once, not per batch.
func (m *Metrics) labelsOf(c flowhcl.Address) (pipeline, plugin string) {
	m.mu.Lock()
	v := m.view
	plugin, ok := m.plugins[c]
	m.mu.Unlock()
	if v == nil {
		return "", ""
	}
	if !ok {
		for _, s := range v.Stats() {
			if s.Address == c {
				plugin = s.PluginSource
			}
		}
		m.mu.Lock()
		m.plugins[c] = plugin
		m.mu.Unlock()
	}
	return v.Pipeline(), plugin
}

func (m *Metrics) stats() (string, time.Time, []host.ComponentSummary) {
	m.mu.Lock()
	v, started := m.view, m.started
	m.mu.Unlock()
	if v == nil {
		return "", started, nil
	}
	return v.Pipeline(), started, v.Stats()
}

// collector turns the run's counters into metrics at scrape time, so they
// are exactly the router's.
type collector struct{ m *Metrics }

var labels = []string{"pipeline", "component", "kind", "plugin"}

func desc(subsystem, name, help string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, subsystem, name), help, labels, nil)
}

var (
	descReceived = desc("component", "events_received_total", "Events sent to the component (processors and sinks).")
	descEmitted  = desc("component", "events_emitted_total", "Events the component emitted downstream (sources and processors).")
	descAcked    = desc("component", "events_acked_total", "Events acknowledged: for a source, by every sink it feeds; for a sink, written.")
	descFailed   = desc("component", "events_failed_total", "Events that failed for good (dead-lettered, or failing the run).")
	descRetried  = desc("component", "events_retried_total", "Events sent again under on_error = \"retry\".")
	descDead     = desc("component", "events_dead_lettered_total", "Events sent to the dead-letter sink.")
	descRestarts = desc("component", "restarts_total", "Plugin restarts.")
	descBacklog  = desc("component", "queue_depth_batches", "Batches sent to the plugin (sources: received from it) awaiting their answer or ack.")

	descLagEvents  = desc("checkpoint", "lag_events", "Events a source emitted in this run that are not checkpointed yet: a crash now delivers them again.")
	descLagBatches = desc("checkpoint", "lag_batches", "Batches a source sent on its current stream that are not checkpointed yet.")
	descLagAge     = desc("checkpoint", "age_seconds", "Seconds since the source's last checkpoint in this run (since the run started when it has none yet).")

	descPluginInfo = prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "plugin_info"),
		"A plugin the run uses: always 1, with its address and version as labels.", []string{"plugin", "version"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReceived, descEmitted, descAcked, descFailed, descRetried, descDead, descRestarts, descBacklog,
		descLagEvents, descLagBatches, descLagAge, descPluginInfo} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	pipeline, started, stats := c.m.stats()
	now := c.m.now()
	plugins := map[[2]string]bool{}
	for _, s := range stats {
		lv := []string{pipeline, s.Name(), s.Address.Kind.String(), s.PluginSource}
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), lv...)
		}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
		}
		switch s.Address.Kind {
		case flowhcl.KindSource:
			counter(descEmitted, s.EventsOut)
			counter(descAcked, s.EventsAcked)
			last := s.LastCheckpoint
			if last.IsZero() {
				last = started
			}
			gauge(descLagEvents, float64(s.UncheckpointedEvents))
			gauge(descLagBatches, float64(s.UncheckpointedBatches))
			gauge(descLagAge, max(now.Sub(last).Seconds(), 0))
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
		gauge(descBacklog, float64(s.Backlog))
		if p := [2]string{s.PluginSource, s.PluginVersion}; !plugins[p] {
			plugins[p] = true
			ch <- prometheus.MustNewConstMetric(descPluginInfo, prometheus.GaugeValue, 1, p[0], p[1])
		}
	}
}
