package discard

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Plugin("0.0.0-test"),
		sdktest.Case{Name: "discard", Kind: sdktest.KindSink, Component: "discard",
			Input: []pluginsdk.Event{{ID: "a", Data: []byte("x")}, {ID: "b"}}},
	)
}

func TestAcksEverythingAndLogsTheTotal(t *testing.T) {
	h := sdktest.New(t, Plugin("0.0.0-test"))
	h.MustConfigure(t, sdktest.KindSink, "discard", nil)
	acks, err := h.Write(t.Context(), make([]pluginsdk.Event, 3), make([]pluginsdk.Event, 1000))
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range acks {
		if !a.GetOk() {
			t.Errorf("batch %d nacked: %s", i+1, a.GetError())
		}
	}

	// The log line is what a user sees; check it on a sink built directly.
	var logs bytes.Buffer
	init := sdktest.Init(t, spec(), "")
	init.Logger = sdktest.NewLogger(&logs)
	s, err := newSink(init)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, n := range []int{3, 1000} {
		if err := s.Write(ctx, make([]pluginsdk.Event, n)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Teardown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[INFO]", "discarded events", "events=1003", "batches=2"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("teardown log %q does not contain %q", logs.String(), want)
		}
	}
}

// TestReport checks what a load test reads from the report: counts,
// distinct ids and duplicates by sequence number, and latency percentiles.
func TestReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "report.json")
	h := sdktest.New(t, Plugin("0.0.0-test"))
	h.MustConfigure(t, sdktest.KindSink, "discard", map[string]any{"report": path, "check_ids": true, "latency": true})
	now := time.Now()
	batch := func(ids ...string) []pluginsdk.Event {
		var out []pluginsdk.Event
		for _, id := range ids {
			out = append(out, pluginsdk.Event{ID: id, Time: now.Add(-3 * time.Millisecond)})
		}
		return out
	}
	if _, err := h.Write(t.Context(), batch("e00000001", "e00000002", "e00000003"), batch("e00000003", "e00000005", "no-number-", "f00000001")); err != nil {
		t.Fatal(err)
	}
	// Stop tears the instance down, which writes the report.
	if _, err := h.Plugin.Stop(t.Context(), &flowctlv1.StopRequest{}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	want := IDReport{Distinct: 5, Duplicates: 1, Max: 5, Untracked: 1}
	if r.Events != 7 || r.Batches != 2 || r.IDs == nil || *r.IDs != want {
		t.Fatalf("report %s, want 7 events in 2 batches and ids %+v", b, want)
	}
	if r.FirstWrite == 0 || r.LastWrite < r.FirstWrite {
		t.Errorf("write times %d..%d", r.FirstWrite, r.LastWrite)
	}
	// Every event is at least 3ms old when it arrives; the percentiles are
	// bucket upper bounds, within 1/16 of the value.
	if l := r.Latency; l == nil || l.Count != 7 || l.P50 < 3 || l.P99 < l.P50 || l.Max < l.P99 {
		t.Errorf("latency %+v, want 7 samples of at least 3ms", r.Latency)
	}
}

func TestReportNeedsAPath(t *testing.T) {
	h := sdktest.New(t, Plugin("0.0.0-test"))
	diags, err := h.Configure(t.Context(), sdktest.KindSink, "discard", map[string]any{"check_ids": true})
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) != 1 || !strings.Contains(diags[0].GetDetail()+diags[0].GetSummary(), "need a report file") {
		t.Fatalf("diagnostics %v", diags)
	}
}

func TestHistogramBuckets(t *testing.T) {
	for _, us := range []uint64{0, 1, 15, 16, 17, 31, 32, 33, 1000, 123456, 1 << 40} {
		i := bucketOf(us)
		if lo, hi := bucketLow(i), bucketLow(i+1); float64(us) < lo || float64(us) >= hi {
			t.Errorf("%dµs in bucket %d = [%v, %v)", us, i, lo, hi)
		}
	}
}
