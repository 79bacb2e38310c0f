package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // a test against loopback
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// sample returns the value of name for component (counter, gauge, or a
// histogram's count), and whether it is there.
func metricSample(fams map[string]*dto.MetricFamily, name, component string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "component" && l.GetValue() == component {
				switch {
				case m.Counter != nil:
					return m.GetCounter().GetValue(), true
				case m.Gauge != nil:
					return m.GetGauge().GetValue(), true
				case m.Histogram != nil:
					return float64(m.GetHistogram().GetSampleCount()), true
				}
			}
		}
	}
	return 0, false
}

// TestMetricsDuringRun scrapes /metrics and /healthz while a run goes on:
// the per-component counters are the router's, with latencies, queue
// depth and restarts; without a terminal, progress lines are printed.
func TestMetricsDuringRun(t *testing.T) {
	p, _ := startRunCP(t, idleAfter(2000), "--metrics-address", "127.0.0.1:0", "--progress-interval", "200ms")
	base := p.waitFor(`Metrics: (http://127\.0\.0\.1:\d+)/metrics`)
	want := []struct {
		metric, component string
		value             float64
	}{
		{"flowctl_component_events_emitted_total", "source.fast", 2000},
		{"flowctl_component_events_acked_total", "source.fast", 2000},
		{"flowctl_component_events_emitted_total", "source.trickle", 1},
		{"flowctl_component_events_received_total", "processor.tag", 2001},
		{"flowctl_component_events_emitted_total", "processor.tag", 2001},
		{"flowctl_component_events_received_total", "sink.out", 2001},
		{"flowctl_component_events_acked_total", "sink.out", 2001},
		{"flowctl_component_events_failed_total", "sink.out", 0},
		{"flowctl_component_restarts_total", "processor.tag", 0},
		{"flowctl_component_queue_depth_batches", "sink.out", 0},
	}
	var fams map[string]*dto.MetricFamily
	cpEventually(t, 30*time.Second, func() string {
		fams = scrapeMetrics(t, base+"/metrics")
		for _, w := range want {
			if v, ok := metricSample(fams, w.metric, w.component); !ok || v != w.value {
				return fmt.Sprintf("%s{component=%q} = %v (present %v), want %v", w.metric, w.component, v, ok, w.value)
			}
		}
		return ""
	})
	for _, c := range []string{"source.fast", "processor.tag", "sink.out"} {
		if n, ok := metricSample(fams, "flowctl_batch_latency_seconds", c); !ok || n == 0 {
			t.Errorf("no batch latencies for %s", c)
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}

	resp, err := http.Get(base + "/healthz") //nolint:noctx // a test against loopback
	if err != nil {
		t.Fatal(err)
	}
	var hz struct {
		Status     string `json:"status"`
		Components []struct{ ID, State string }
	}
	err = json.NewDecoder(resp.Body).Decode(&hz)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || hz.Status != "ok" || len(hz.Components) != 4 {
		t.Errorf("/healthz: %s %+v %v", resp.Status, hz, err)
	}
	for _, c := range hz.Components {
		if c.State != "HEALTHY" {
			t.Errorf("/healthz: %s is %s", c.ID, c.State)
		}
	}
	p.waitFor(`progress: sink\.out HEALTHY events/s=\d+ in=2001 acked=2001 failed=0 restarts=0 backlog=0 cpu=[\d.]+% mem=[\d.]+[KMG]iB\n`)
	// The plugin's version is on flowctl_plugin_info, not on every series;
	// the latencies carry the counters' labels; the build is described.
	checkLabels(t, fams)
	// The sources are at rest: everything they emitted is checkpointed.
	for _, c := range []string{"source.fast", "source.trickle"} {
		for _, name := range []string{"flowctl_checkpoint_lag_events", "flowctl_checkpoint_lag_batches"} {
			if v, ok := metricSample(fams, name, c); !ok || v != 0 {
				t.Errorf("%s{component=%q} = %v (present %v), want 0", name, c, v, ok)
			}
		}
		if v, ok := metricSample(fams, "flowctl_checkpoint_age_seconds", c); !ok || v <= 0 || v > 120 {
			t.Errorf("flowctl_checkpoint_age_seconds{component=%q} = %v (present %v)", c, v, ok)
		}
	}
	if code := p.interrupt(); code != exitInterrupted {
		t.Fatalf("apply exited %d:\n%s", code, p.stderr.String())
	}
	if strings.Contains(p.stderr.String(), "\x1b[") {
		t.Error("terminal escapes written to a pipe")
	}
}

// checkLabels checks the labels of a scrape: plugin versions only on
// flowctl_plugin_info, the same labels on counters and latencies.
func checkLabels(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	info := fams["flowctl_plugin_info"]
	plugins := map[string]string{}
	for _, m := range info.GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		plugins[l["plugin"]] = l["version"]
	}
	for _, p := range []string{"flowctl/generator", "flowctl/transform", "flowctl/file"} {
		if plugins[p] == "" {
			t.Errorf("flowctl_plugin_info has no version of %s: %v", p, plugins)
		}
	}
	if b := fams["flowctl_build_info"]; b == nil || len(b.GetMetric()) != 1 {
		t.Error("no flowctl_build_info")
	}
	for _, name := range []string{"flowctl_component_events_acked_total", "flowctl_batch_latency_seconds"} {
		for _, m := range fams[name].GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName())
				if l.GetName() == "plugin" && plugins[l.GetValue()] == "" {
					t.Errorf("%s: plugin label %q is not a plugin address of flowctl_plugin_info", name, l.GetValue())
				}
			}
			if fmt.Sprint(got) != "[component kind pipeline plugin]" {
				t.Errorf("%s labels %v, want component kind pipeline plugin", name, got)
			}
		}
	}
}
