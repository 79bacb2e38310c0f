package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
	"github.com/flowctl/flowctl/host/health"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeRun []host.ComponentSummary

func (f fakeRun) Pipeline() string               { return "orders" }
func (f fakeRun) Stats() []host.ComponentSummary { return f }

func addr(k flowhcl.Kind, name string) flowhcl.Address { return flowhcl.Address{Kind: k, Name: name} }

func TestCountersAreTheRouters(t *testing.T) {
	m := New(Build{Version: "1.2.3"})
	m.RunStarted(fakeRun{
		{Address: addr(flowhcl.KindSource, "in"), Plugin: "flowctl/generator 1.0.0 (built-in)", PluginSource: "flowctl/generator", PluginVersion: "1.0.0",
			EventsOut: 500, EventsAcked: 480, Restarts: 1, Backlog: 2},
		{Address: addr(flowhcl.KindSink, "out"), Plugin: "flowctl/file 1.0.0 (built-in)", PluginSource: "flowctl/file", PluginVersion: "1.0.0",
			EventsIn: 490, EventsAcked: 480, EventsFailed: 3, Retried: 7, DeadLettered: 3},
	})
	m.BatchDone(addr(flowhcl.KindSink, "out"), flowhcl.KindSink, 3*time.Millisecond)
	want := `
# HELP flowctl_component_events_acked_total Events acknowledged: for a source, by every sink it feeds; for a sink, written.
# TYPE flowctl_component_events_acked_total counter
flowctl_component_events_acked_total{component="sink.out",kind="sink",pipeline="orders",plugin="flowctl/file"} 480
flowctl_component_events_acked_total{component="source.in",kind="source",pipeline="orders",plugin="flowctl/generator"} 480
# HELP flowctl_component_events_dead_lettered_total Events sent to the dead-letter sink.
# TYPE flowctl_component_events_dead_lettered_total counter
flowctl_component_events_dead_lettered_total{component="sink.out",kind="sink",pipeline="orders",plugin="flowctl/file"} 3
# HELP flowctl_component_queue_depth_batches Batches sent to the plugin (sources: received from it) awaiting their answer or ack.
# TYPE flowctl_component_queue_depth_batches gauge
flowctl_component_queue_depth_batches{component="sink.out",kind="sink",pipeline="orders",plugin="flowctl/file"} 0
flowctl_component_queue_depth_batches{component="source.in",kind="source",pipeline="orders",plugin="flowctl/generator"} 2
# HELP flowctl_component_restarts_total Plugin restarts.
# TYPE flowctl_component_restarts_total counter
flowctl_component_restarts_total{component="sink.out",kind="sink",pipeline="orders",plugin="flowctl/file"} 0
flowctl_component_restarts_total{component="source.in",kind="source",pipeline="orders",plugin="flowctl/generator"} 1
`
	names := []string{"flowctl_component_events_acked_total", "flowctl_component_events_dead_lettered_total", "flowctl_component_queue_depth_batches", "flowctl_component_restarts_total"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Errorf("%d latency series, want 1", n)
	}
}

// TestLabels: the plugin's version is on flowctl_plugin_info, not on every
// series; the latency histogram has the counters' labels; the build is
// described.
func TestLabels(t *testing.T) {
	m := New(Build{Version: "1.2.3"})
	m.RunStarted(fakeRun{
		{Address: addr(flowhcl.KindSource, "in"), Plugin: "flowctl/generator 1.0.0 (built-in)", PluginSource: "flowctl/generator", PluginVersion: "1.0.0"},
		{Address: addr(flowhcl.KindSource, "more"), Plugin: "flowctl/generator 1.0.0 (built-in)", PluginSource: "flowctl/generator", PluginVersion: "1.0.0"},
		{Address: addr(flowhcl.KindSink, "out"), Plugin: "example.com/acme/s3 2.1.0", PluginSource: "example.com/acme/s3", PluginVersion: "2.1.0"},
	})
	m.BatchDone(addr(flowhcl.KindSink, "out"), flowhcl.KindSink, 3*time.Millisecond)
	want := `
# HELP flowctl_plugin_info A plugin the run uses: always 1, with its address and version as labels.
# TYPE flowctl_plugin_info gauge
flowctl_plugin_info{plugin="example.com/acme/s3",version="2.1.0"} 1
flowctl_plugin_info{plugin="flowctl/generator",version="1.0.0"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "flowctl_plugin_info"); err != nil {
		t.Error(err)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, f := range fams {
		seen[f.GetName()] = true
		for _, s := range f.GetMetric() {
			names := map[string]string{}
			for _, l := range s.GetLabel() {
				names[l.GetName()] = l.GetValue()
			}
			switch {
			case f.GetName() == "flowctl_batch_latency_seconds":
				if fmt.Sprint(names) != fmt.Sprint(map[string]string{"component": "sink.out", "kind": "sink", "pipeline": "orders", "plugin": "example.com/acme/s3"}) {
					t.Errorf("latency labels %v, want the counters' labels", names)
				}
			case f.GetName() == "flowctl_build_info":
				if names["version"] != "1.2.3" || !strings.HasPrefix(names["goversion"], "go") || s.GetGauge().GetValue() != 1 {
					t.Errorf("build info %v = %v", names, s.GetGauge().GetValue())
				}
			case strings.HasPrefix(f.GetName(), "flowctl_component_"), strings.HasPrefix(f.GetName(), "flowctl_checkpoint_"):
				if len(names) != 4 || names["plugin"] == "" || strings.Contains(names["plugin"], " ") || strings.HasSuffix(names["plugin"], "1.0.0") {
					t.Errorf("%s labels %v: want pipeline, component, kind and a plugin without version", f.GetName(), names)
				}
			}
		}
	}
	for _, n := range []string{"flowctl_build_info", "flowctl_plugin_info", "flowctl_batch_latency_seconds", "flowctl_checkpoint_lag_events"} {
		if !seen[n] {
			t.Errorf("no %s", n)
		}
	}
}

// TestCheckpointLag: a source's uncheckpointed events and batches and the
// age of its last checkpoint (since the run started while it has none).
func TestCheckpointLag(t *testing.T) {
	m := New(Build{Version: "1.2.3"})
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	m.RunStarted(fakeRun{
		{Address: addr(flowhcl.KindSource, "in"), PluginSource: "flowctl/generator", PluginVersion: "1.0.0",
			EventsOut: 500, UncheckpointedEvents: 20, UncheckpointedBatches: 2, LastCheckpoint: now.Add(-1500 * time.Millisecond)},
		{Address: addr(flowhcl.KindSource, "idle"), PluginSource: "flowctl/generator", PluginVersion: "1.0.0"},
		{Address: addr(flowhcl.KindSink, "out"), PluginSource: "flowctl/file", PluginVersion: "1.0.0"},
	})
	now = now.Add(4 * time.Second)
	want := `
# HELP flowctl_checkpoint_age_seconds Seconds since the source's last checkpoint in this run (since the run started when it has none yet).
# TYPE flowctl_checkpoint_age_seconds gauge
flowctl_checkpoint_age_seconds{component="source.idle",kind="source",pipeline="orders",plugin="flowctl/generator"} 4
flowctl_checkpoint_age_seconds{component="source.in",kind="source",pipeline="orders",plugin="flowctl/generator"} 5.5
# HELP flowctl_checkpoint_lag_batches Batches a source sent on its current stream that are not checkpointed yet.
# TYPE flowctl_checkpoint_lag_batches gauge
flowctl_checkpoint_lag_batches{component="source.idle",kind="source",pipeline="orders",plugin="flowctl/generator"} 0
flowctl_checkpoint_lag_batches{component="source.in",kind="source",pipeline="orders",plugin="flowctl/generator"} 2
# HELP flowctl_checkpoint_lag_events Events a source emitted in this run that are not checkpointed yet: a crash now delivers them again.
# TYPE flowctl_checkpoint_lag_events gauge
flowctl_checkpoint_lag_events{component="source.idle",kind="source",pipeline="orders",plugin="flowctl/generator"} 0
flowctl_checkpoint_lag_events{component="source.in",kind="source",pipeline="orders",plugin="flowctl/generator"} 20
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"flowctl_checkpoint_age_seconds", "flowctl_checkpoint_lag_batches", "flowctl_checkpoint_lag_events"); err != nil {
		t.Error(err)
	}
}

func TestHealthz(t *testing.T) {
	states := map[string]health.State{"source.in": health.Healthy, "sink.out": health.Degraded}
	s, err := Listen("127.0.0.1:0", New(Build{}), func() map[string]health.State { return states }, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(t.Context())
	get := func() (int, string) {
		resp, err := http.Get("http://" + s.Addr() + "/healthz") //nolint:noctx // loopback test
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("healthz body %q: %v", b, err)
		}
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	code, body := get()
	if code != 200 || body != `{"status":"ok","components":[{"id":"sink.out","state":"DEGRADED"},{"id":"source.in","state":"HEALTHY"}]}` {
		t.Errorf("healthz = %d %s", code, body)
	}
	states = map[string]health.State{"source.in": health.Unhealthy}
	code, body = get()
	if code != 503 || body != `{"status":"unhealthy","components":[{"id":"source.in","state":"UNHEALTHY"}]}` {
		t.Errorf("healthz = %d %s", code, body)
	}
}
