package status

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

var update = flag.Bool("update", false, "rewrite golden files")

var now = time.Date(2026, 3, 1, 12, 0, 42, 0, time.UTC)

// fixture is a running pipeline as the control plane serves it: a bounded
// generator, an unbounded one, a processor and a sink with a failure.
func fixture() (*flowctlv1.Run, []*flowctlv1.Service) {
	healthy := flowctlv1.ServiceState_SERVICE_STATE_HEALTHY
	run := &flowctlv1.Run{
		Id: "20260301T120000-ab12", Pipeline: "orders", State: flowctlv1.RunState_RUN_STATE_RUNNING,
		StartedUnixNano: now.Add(-42 * time.Second).UnixNano(), Endpoint: "127.0.0.1:8080", Pid: 4242,
		Components: []*flowctlv1.ComponentCounters{
			{Id: "source.ticks", Kind: flowctlv1.Kind_KIND_SOURCE, Plugin: "flowctl/generator 0.1.0 (built-in)", Driver: "process", Pid: 101,
				Emitted: 61067, Acked: 61000, Backlog: 2, State: healthy, EventsPerSecond: 1523.4,
				CpuPercent: proto.Float64(12.25), MemoryBytes: proto.Uint64(23 << 20), Remaining: proto.Uint64(38933)},
			{Id: "source.trickle", Kind: flowctlv1.Kind_KIND_SOURCE, Plugin: "flowctl/generator 0.1.0 (built-in)", Driver: "docker",
				Emitted: 3, Acked: 3, State: healthy, EventsPerSecond: 0.1},
			{Id: "processor.tag", Kind: flowctlv1.Kind_KIND_PROCESSOR, Plugin: "flowctl/transform 0.1.0 (built-in)", Driver: "process", Pid: 102,
				Received: 61070, Emitted: 61070, State: healthy, EventsPerSecond: 1523.5,
				CpuPercent: proto.Float64(3.5), MemoryBytes: proto.Uint64(812 << 10)},
			{Id: "sink.out", Kind: flowctlv1.Kind_KIND_SINK, Plugin: "flowctl/http 0.1.0 (built-in)", Driver: "process", Pid: 103,
				Received: 61070, Acked: 61003, Failed: 2, Retried: 7, DeadLettered: 2, Restarts: 1, Backlog: 1,
				State: flowctlv1.ServiceState_SERVICE_STATE_DEGRADED, EventsPerSecond: 1501,
				LastError:  "POST https://hooks.example.com/orders: 503 Service Unavailable: upstream is restarting\nmore detail",
				CpuPercent: proto.Float64(105), MemoryBytes: proto.Uint64(1536 << 20)},
		},
	}
	svcs := []*flowctlv1.Service{
		{Id: "sink.out", Kind: flowctlv1.Kind_KIND_SINK, Plugin: "flowctl/http 0.1.0 (built-in)", Version: "0.1.0", RunId: run.Id, Managed: true,
			State: flowctlv1.ServiceState_SERVICE_STATE_DEGRADED, Message: "health check failed: upstream is restarting",
			RegisteredUnixNano: now.Add(-41 * time.Second).UnixNano(), StateSinceUnixNano: now.Add(-3 * time.Second).UnixNano(),
			LastHeartbeatUnixNano: now.Add(-1500 * time.Millisecond).UnixNano(), Metadata: map[string]string{"driver": "process", "pid": "103"},
			// As of its last health check: Detail shows the run's counters instead.
			Metrics: map[string]float64{"events_acked": 0}},
		{Id: "external.audit", Kind: flowctlv1.Kind_KIND_SINK, Plugin: "acme/audit", Version: "2.0.0", RunId: run.Id,
			State: healthy, Metrics: map[string]float64{"lag": 3}},
		{Id: "sink.old", RunId: "20260228T000000-ffff", State: flowctlv1.ServiceState_SERVICE_STATE_UNHEALTHY},
	}
	return run, svcs
}

func view() *Run {
	run, svcs := fixture()
	return FromRun(run, svcs, now)
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

// TestTableWidths: the same table at several terminal widths; nothing is
// longer than the width, and columns give way by importance instead of
// being cut.
func TestTableWidths(t *testing.T) {
	run := view()
	for _, width := range []int{0, 200, 120, 100, 80, 60, 40} {
		t.Run("width"+itoa(width), func(t *testing.T) {
			lines := Table(run, width)
			for _, l := range lines {
				if width > 0 && utf8.RuneCountInString(l) > width {
					t.Errorf("line of %d runes at width %d: %q", utf8.RuneCountInString(l), width, l)
				}
			}
			golden(t, "table-"+itoa(width), strings.Join(lines, "\n")+"\n")
		})
	}
}

// TestTableKeepsFullRowsAt80: the old live block cut every row at 80
// columns; now the least important columns go and each row stays whole.
func TestTableKeepsFullRowsAt80(t *testing.T) {
	lines := Table(view(), 80)
	if !strings.HasPrefix(lines[0], "COMPONENT") || !strings.Contains(lines[0], "ACKED") || !strings.Contains(lines[0], "EVENTS/S") {
		t.Fatalf("header at 80 columns lost what matters most: %q", lines[0])
	}
	if strings.Contains(lines[0], "BACKLOG") {
		t.Errorf("BACKLOG kept at 80 columns while less important than what fits: %q", lines[0])
	}
	if !strings.HasPrefix(lines[4], "sink.out ") || !strings.Contains(lines[4], " 61,003") {
		t.Errorf("sink.out's row lost its acked count: %q", lines[4])
	}
}

func TestBlockAndHeadline(t *testing.T) {
	run := view()
	golden(t, "block-100", strings.Join(Block(run, 100), "\n")+"\n")
	if got, want := Headline(run), `pipeline "orders" · run 20260301T120000-ab12 · running for 42s · 1,524 events/s`; got != want {
		t.Errorf("headline %q, want %q (no ETA: one source is unbounded)", got, want)
	}
}

func TestETA(t *testing.T) {
	r, svcs := fixture()
	r.Components = append(r.Components[:1], r.Components[2:]...) // only the bounded source
	run := FromRun(r, svcs, now)
	c, _ := run.Component("source.ticks")
	if c.ETASeconds == nil || *c.ETASeconds != 26 { // 38,933 events at 1,523.4/s
		t.Fatalf("source.ticks ETA %v, want 26s", c.ETASeconds)
	}
	if !strings.HasSuffix(Headline(run), " · ETA 26s") {
		t.Errorf("headline without the run's ETA: %q", Headline(run))
	}
	r.State = flowctlv1.RunState_RUN_STATE_COMPLETED
	r.EndedUnixNano = now.UnixNano()
	if done := FromRun(r, svcs, now.Add(time.Hour)); done.ETASeconds != nil || done.Components[0].EventsPerSecond != 0 || done.Seconds != 42 {
		t.Errorf("a finished run: ETA %v, rate %v, %vs; want none, 0, 42s", done.ETASeconds, done.Components[0].EventsPerSecond, done.Seconds)
	}
}

func TestDetail(t *testing.T) {
	r, svcs := fixture()
	run := FromRun(r, svcs, now)
	c, ok := run.Component("sink.out")
	if !ok {
		t.Fatal("no sink.out")
	}
	reg := FromService(svcs[0])
	c.Registration = &reg
	golden(t, "detail-sink", strings.Join(Detail(run, c, now), "\n")+"\n")
	src, _ := run.Component("source.ticks")
	golden(t, "detail-source", strings.Join(Detail(run, src, now), "\n")+"\n")
}

func TestProgress(t *testing.T) {
	golden(t, "progress", strings.Join(Progress(view()), "\n")+"\n")
}

// TestJSON: numbers are JSON numbers, states and kinds plain names, and
// what is unknown is null.
func TestJSON(t *testing.T) {
	run := view()
	if len(run.Services) != 1 || run.Services[0].ID != "external.audit" {
		t.Errorf("self-registered services %+v, want external.audit only", run.Services)
	}
	b, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "run.json", string(b)+"\n")
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	c := doc["components"].([]any)[0].(map[string]any)
	if _, ok := c["emitted"].(float64); !ok || c["state"] != "HEALTHY" || c["kind"] != "source" || doc["state"] != "running" {
		t.Errorf("component %v, run state %v: want numbers and plain names", c, doc["state"])
	}
	if c := doc["components"].([]any)[1].(map[string]any); c["cpu_percent"] != nil || c["remaining"] != nil {
		t.Errorf("unknown CPU and remaining are %v and %v, want null", c["cpu_percent"], c["remaining"])
	}
}

func TestUnits(t *testing.T) {
	for got, want := range map[string]string{
		Count(0): "0", Count(999): "999", Count(61067): "61,067", Count(1234567): "1,234,567",
		Rate(1523.5): "1,524", Rate(-1): "0",
		Percent(nil): "-", Percent(proto.Float64(3.14)): "3.1%", Percent(proto.Float64(105.4)): "105%",
		Bytes(nil): "-", Bytes(proto.Uint64(512)): "512B", Bytes(proto.Uint64(812 << 10)): "812KiB",
		Bytes(proto.Uint64(23<<20 + 300<<10)): "23.3MiB", Bytes(proto.Uint64(3 << 30)): "3.0GiB",
		Duration(0): "0s", Duration(59.4): "59s", Duration(65): "1m05s", Duration(3725): "1h02m",
		ETA(nil): "-",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
