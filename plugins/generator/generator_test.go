package generator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestConformance(t *testing.T) {
	p := Plugin("0.0.0-test")
	sdktest.Conformance(t, p,
		// More events than the SDK's default batch of 1000, so that the
		// resume check has a second batch to compare against.
		sdktest.Case{Name: "bounded", Kind: sdktest.KindSource, Component: "generator",
			Config: map[string]any{"count": 2500, "payload_size": 64}, Resume: true},
		sdktest.Case{Name: "unbounded", Kind: sdktest.KindSource, Component: "generator",
			Config: map[string]any{"id_prefix": "tick-"}, Limit: 100},
		sdktest.Case{Name: "paced", Kind: sdktest.KindSource, Component: "generator",
			Config: map[string]any{"count": 20, "rate": 2000, "realtime": true}},
		sdktest.Case{Name: "no-payload", Kind: sdktest.KindSource, Component: "generator",
			Config: map[string]any{"count": 5, "payload_size": 0, "type": "custom"}},
	)
	// Small batches, as a host configured for low latency reads them.
	sdktest.Conformance(t, p, sdktest.Case{Name: "resume-small-batches", Kind: sdktest.KindSource,
		Component: "generator", Config: map[string]any{"count": 50}, Resume: true, MaxBatch: 10})
}

// read runs the generator configured with config through the harness.
func read(t *testing.T, config map[string]any, opts sdktest.ReadOptions) *sdktest.SourceResult {
	t.Helper()
	h := sdktest.New(t, Plugin("0.0.0-test"))
	h.MustConfigure(t, sdktest.KindSource, "generator", config)
	res, err := h.ReadSource(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestCountIsExactAndIDsAreOrdered(t *testing.T) {
	tests := []struct {
		name     string
		count    int
		maxBatch uint32
		prefix   string
	}{
		{"one", 1, 0, ""},
		{"small batches", 7, 2, "ev-"},
		{"exactly one batch", 1000, 0, ""},
		{"one past a batch", 1001, 0, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := read(t, map[string]any{"count": tt.count, "id_prefix": tt.prefix}, sdktest.ReadOptions{MaxBatch: tt.maxBatch})
			if !res.Ended {
				t.Error("source did not signal end of input")
			}
			if len(res.Events) != tt.count {
				t.Fatalf("got %d events, want exactly %d", len(res.Events), tt.count)
			}
			seen := map[string]bool{}
			for i, e := range res.Events {
				want := fmt.Sprintf("%s%08d", tt.prefix, i+1)
				if e.ID != want {
					t.Fatalf("event %d has id %q, want %q", i, e.ID, want)
				}
				if seen[e.ID] {
					t.Fatalf("duplicate id %q", e.ID)
				}
				seen[e.ID] = true
				if i > 0 && e.ID <= res.Events[i-1].ID {
					t.Fatalf("ids do not sort in event order: %q after %q", e.ID, res.Events[i-1].ID)
				}
				if got := sdktest.Attributes(e)["seq"]; got != fmt.Sprint(i+1) {
					t.Fatalf("event %d has seq %q, want %d", i, got, i+1)
				}
			}
		})
	}
}

// TestRemaining: a generator with a count says after each batch how many
// events it has left (the host's ETA), also when resumed; an unbounded one
// says nothing.
func TestRemaining(t *testing.T) {
	res := read(t, map[string]any{"count": 25}, sdktest.ReadOptions{MaxBatch: 10})
	var got []string
	for _, r := range res.Remaining {
		if r == nil {
			got = append(got, "nil")
			continue
		}
		got = append(got, fmt.Sprint(*r))
	}
	if fmt.Sprint(got) != "[15 5 0]" {
		t.Errorf("remaining after each batch %v, want [15 5 0]", got)
	}
	resumed := read(t, map[string]any{"count": 25}, sdktest.ReadOptions{MaxBatch: 10, From: res.Positions[0]})
	if r := resumed.Remaining[0]; r == nil || *r != 5 {
		t.Errorf("resumed after 10 of 25: remaining %v after its first batch, want 5", r)
	}
	unbounded := read(t, map[string]any{}, sdktest.ReadOptions{Limit: 5, MaxBatch: 5})
	for _, r := range unbounded.Remaining {
		if r != nil {
			t.Fatalf("unbounded generator says %d remaining", *r)
		}
	}
}

func TestEventFields(t *testing.T) {
	res := read(t, map[string]any{"count": 3}, sdktest.ReadOptions{})
	for i, e := range res.Events {
		n := i + 1
		if e.Type != DefaultType {
			t.Errorf("type %q, want default %q", e.Type, DefaultType)
		}
		if want := BaseTime.Add(time.Duration(n) * time.Millisecond); !e.Time.Equal(want) {
			t.Errorf("event %d time %v, want %v", n, e.Time, want)
		}
		if e.ContentType != "application/json" {
			t.Errorf("content type %q, want application/json", e.ContentType)
		}
	}

	before := time.Now()
	res = read(t, map[string]any{"count": 2, "realtime": true, "type": "custom.type"}, sdktest.ReadOptions{})
	for _, e := range res.Events {
		if e.Type != "custom.type" {
			t.Errorf("type %q, want custom.type", e.Type)
		}
		if e.Time.Before(before.Add(-time.Second)) || e.Time.After(time.Now().Add(time.Second)) {
			t.Errorf("realtime event stamped %v, not around now", e.Time)
		}
	}
}

func TestPayloadSizeIsExact(t *testing.T) {
	for _, size := range []int{MinPayloadSize, 100, 4096} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			res := read(t, map[string]any{"count": 12, "payload_size": size}, sdktest.ReadOptions{})
			for i, e := range res.Events {
				if len(e.Data) != size {
					t.Fatalf("event %d has %d bytes of data, want %d", i+1, len(e.Data), size)
				}
				var body struct {
					Seq int    `json:"seq"`
					Pad string `json:"pad"`
				}
				if err := json.Unmarshal(e.Data, &body); err != nil {
					t.Fatalf("event %d data is not JSON: %v: %s", i+1, err, e.Data)
				}
				if body.Seq != i+1 {
					t.Fatalf("event %d data has seq %d", i+1, body.Seq)
				}
				if strings.Trim(body.Pad, "x") != "" {
					t.Fatalf("event %d is padded with %q, want only x", i+1, body.Pad)
				}
			}
		})
	}

	res := read(t, map[string]any{"count": 2, "payload_size": 0}, sdktest.ReadOptions{})
	if e := res.Events[0]; len(e.Data) != 0 || e.ContentType != "" {
		t.Errorf("payload_size 0: got data %q with content type %q, want neither", e.Data, e.ContentType)
	}
}

func TestPayloadFitsLargestSequence(t *testing.T) {
	const maxSeq = 1<<63 - 1
	if got := len(Payload(maxSeq, MinPayloadSize)); got != MinPayloadSize {
		t.Fatalf("payload of the largest sequence number has %d bytes, want %d", got, MinPayloadSize)
	}
}

func TestResumeContinuesAfterPosition(t *testing.T) {
	cfg := map[string]any{"count": 50}
	first := read(t, cfg, sdktest.ReadOptions{MaxBatch: 10})
	if len(first.Positions) != 5 {
		t.Fatalf("got %d batches of at most 10, want 5", len(first.Positions))
	}
	// Resume after the second batch, as the host would from a checkpoint.
	res := read(t, cfg, sdktest.ReadOptions{From: first.Positions[1], MaxBatch: 10})
	if len(res.Events) != 30 {
		t.Fatalf("resumed run produced %d events, want the remaining 30", len(res.Events))
	}
	if res.Events[0].ID != "00000021" || res.Events[29].ID != "00000050" {
		t.Errorf("resumed run covers %s..%s, want 00000021..00000050", res.Events[0].ID, res.Events[29].ID)
	}

	done := read(t, cfg, sdktest.ReadOptions{From: Position(50)})
	if len(done.Events) != 0 || !done.Ended {
		t.Errorf("resuming after the last event: got %d events (ended %v), want none and the end", len(done.Events), done.Ended)
	}
}

func TestResumeRejectsMalformedPosition(t *testing.T) {
	h := sdktest.New(t, Plugin("0.0.0-test"))
	h.MustConfigure(t, sdktest.KindSource, "generator", map[string]any{"count": 5})
	_, err := h.ReadSource(t.Context(), sdktest.ReadOptions{From: pluginsdk.Position{1, 2, 3}})
	if err == nil {
		t.Fatal("reading from a 3-byte position succeeded")
	}
	for _, want := range []string{"cannot resume", `"010203"`, "not a generator position"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRateSlowsTheSource(t *testing.T) {
	start := time.Now()
	res := read(t, map[string]any{"count": 5, "rate": 50}, sdktest.ReadOptions{})
	// Five events at 50/s are four 20ms gaps apart; allow for coarse timers
	// but never for a source that ignores its rate.
	if elapsed := time.Since(start); elapsed < 60*time.Millisecond {
		t.Errorf("5 events at 50/s took %v, want at least 60ms", elapsed)
	}
	if len(res.Events) != 5 {
		t.Errorf("got %d events, want 5", len(res.Events))
	}
}

// A paced Read that runs out of time returns the context's error and loses
// no event: the next Read returns the event that was not yet due.
func TestPacedReadHonoursDeadline(t *testing.T) {
	src, err := newSource(sdktest.Init(t, spec(), `{"rate": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	first, err := src.Read(ctx, 10)
	if err != nil || len(first) != 1 || first[0].Event.ID != "00000001" {
		t.Fatalf("first read: %v, %v; want event 00000001 at once", first, err)
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	recs, err := src.Read(short, 10)
	if !errors.Is(err, context.DeadlineExceeded) || len(recs) != 0 {
		t.Fatalf("read past its deadline: %d records, %v; want none and %v", len(recs), err, context.DeadlineExceeded)
	}
	long, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	next, err := src.Read(long, 10)
	if err != nil || len(next) != 1 || next[0].Event.ID != "00000002" {
		t.Fatalf("read after the deadline: %v, %v; want event 00000002", next, err)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		attr   string
		value  any
		detail string
	}{
		{"count", -1, "whole number of events"},
		{"count", 2.5, "whole number of events"},
		{"rate", -3, "positive number of events per second"},
		{"payload_size", 10, fmt.Sprintf("from %d", MinPayloadSize)},
		{"payload_size", 100.5, "whole number of bytes"},
		{"keys", 1.5, "whole number of keys"},
		{"keys", -1, "whole number of keys"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s=%v", tt.attr, tt.value), func(t *testing.T) {
			h := sdktest.New(t, Plugin("0.0.0-test"))
			diags, err := h.Configure(t.Context(), sdktest.KindSource, "generator", map[string]any{tt.attr: tt.value})
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics, want 1: %v", len(diags), diags)
			}
			d := diags[0]
			if d.GetSeverity() != flowctlv1.Severity_SEVERITY_ERROR || strings.Join(d.GetAttributePath(), ".") != tt.attr {
				t.Errorf("diagnostic at %v (%v), want an error at %s", d.GetAttributePath(), d.GetSeverity(), tt.attr)
			}
			if !strings.Contains(d.GetDetail(), tt.detail) {
				t.Errorf("detail %q does not say %q", d.GetDetail(), tt.detail)
			}
		})
	}
}

func TestKeysCycle(t *testing.T) {
	src, err := newSource(sdktest.Init(t, spec(), `{"count": 7, "keys": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := src.Read(t.Context(), 7)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if want := fmt.Sprintf("k%d", (i+1)%3); string(r.Event.Key) != want {
			t.Errorf("event %d has key %q, want %q", i+1, r.Event.Key, want)
		}
	}
}
