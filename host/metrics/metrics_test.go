package metrics

import (
	"encoding/json"
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
	m := New()
	m.RunStarted(fakeRun{
		{Address: addr(flowhcl.KindSource, "in"), Plugin: "flowctl/generator 1.0.0", EventsOut: 500, EventsAcked: 480, Restarts: 1, Backlog: 2},
		{Address: addr(flowhcl.KindSink, "out"), Plugin: "flowctl/file 1.0.0", EventsIn: 490, EventsAcked: 480, EventsFailed: 3, Retried: 7, DeadLettered: 3},
	})
	m.BatchDone(addr(flowhcl.KindSink, "out"), flowhcl.KindSink, 3*time.Millisecond)
	want := `
# HELP flowctl_component_events_acked_total Events acknowledged: for a source, by every sink it feeds; for a sink, written.
# TYPE flowctl_component_events_acked_total counter
flowctl_component_events_acked_total{component="sink.out",kind="sink",pipeline="orders",plugin="flowctl/file 1.0.0"} 480
flowctl_component_events_acked_total{component="source.in",kind="source",pipeline="orders",plugin="flowctl/generator 1.0.0"} 480
# HELP flowctl_component_events_dead_lettered_total Events sent to the dead-letter sink.
# TYPE flowctl_component_events_dead_lettered_total counter
flowctl_component_events_dead_lettered_total{component="sink.out",kind="sink",pipeline="orders",plugin="flowctl/file 1.0.0"} 3
# HELP flowctl_component_queue_depth_batches Batches sent to the plugin (sources: received from it) awaiting their answer or ack.
# TYPE flowctl_component_queue_depth_batches gauge
flowctl_component_queue_depth_batches{component="sink.out",kind="sink",pipeline="orders",plugin="flowctl/file 1.0.0"} 0
flowctl_component_queue_depth_batches{component="source.in",kind="source",pipeline="orders",plugin="flowctl/generator 1.0.0"} 2
# HELP flowctl_component_restarts_total Plugin restarts.
# TYPE flowctl_component_restarts_total counter
flowctl_component_restarts_total{component="sink.out",kind="sink",pipeline="orders",plugin="flowctl/file 1.0.0"} 0
flowctl_component_restarts_total{component="source.in",kind="source",pipeline="orders",plugin="flowctl/generator 1.0.0"} 1
`
	names := []string{"flowctl_component_events_acked_total", "flowctl_component_events_dead_lettered_total", "flowctl_component_queue_depth_batches", "flowctl_component_restarts_total"}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.latency); n != 1 {
		t.Errorf("%d latency series, want 1", n)
	}
}

func TestHealthz(t *testing.T) {
	states := map[string]health.State{"source.in": health.Healthy, "sink.out": health.Degraded}
	s, err := Listen("127.0.0.1:0", New(), func() map[string]health.State { return states }, hclog.NewNullLogger())
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
