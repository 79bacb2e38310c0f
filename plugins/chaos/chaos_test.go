package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowctl/flowctl/plugins/internal/jsonl"
	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

const version = "0.0.0-test"

// events returns events with the given ids, each with some payload.
func events(ids ...string) []pluginsdk.Event {
	evs := make([]pluginsdk.Event, len(ids))
	for i, id := range ids {
		evs[i] = pluginsdk.Event{ID: id, Type: "test", Attributes: []pluginsdk.Attribute{{Key: "n", Value: id}},
			ContentType: "application/json", Data: []byte(`{"id":"` + id + `"}`)}
	}
	return evs
}

func ids(evs []pluginsdk.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	sdktest.Conformance(t, Plugin(version),
		sdktest.Case{Name: "sink", Kind: sdktest.KindSink, Component: "chaos",
			Config: map[string]any{"path": filepath.Join(dir, "out.jsonl")}, Input: events("a", "b")},
		sdktest.Case{Name: "sink-faults-not-hit", Kind: sdktest.KindSink, Component: "chaos",
			Config: map[string]any{"path": filepath.Join(dir, "out2.jsonl"), "fsync": false, "delay": "1ms",
				"nack_ids": []string{"zz"}, "nack_times": 2},
			Input: events("a", "b")},
		sdktest.Case{Name: "processor", Kind: sdktest.KindProcessor, Component: "chaos",
			Input: events("a", "b", "c")},
		sdktest.Case{Name: "processor-failing", Kind: sdktest.KindProcessor, Component: "chaos",
			Config: map[string]any{"fail_ids": []string{"b"}, "delay": "1ms", "exit_after": 0},
			Input:  events("a", "b", "c")},
	)
}

// sinkAcks writes batches through a chaos sink configured with config and
// returns the acks.
func sinkAcks(t *testing.T, config map[string]any, batches ...[]pluginsdk.Event) []*flowctlv1.SinkAck {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSink, "chaos", config)
	acks, err := h.Write(t.Context(), batches...)
	if err != nil {
		t.Fatal(err)
	}
	return acks
}

// readFile decodes the JSON Lines file at path.
func readFile(t *testing.T, path string) []pluginsdk.Event {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []pluginsdk.Event
	for line := range bytes.Lines(b) {
		e, err := jsonl.Decode(line)
		if err != nil {
			t.Fatalf("%s: line %q: %v", path, line, err)
		}
		evs = append(evs, e)
	}
	return evs
}

func TestSinkWritesJSONLinesLikeTheFileSink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, []byte(`{"id":"old"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := events("e1", "e2", "e3")
	for i, a := range sinkAcks(t, map[string]any{"path": path}, in[:2], in[2:]) {
		if !a.GetOk() {
			t.Fatalf("batch %d nacked: %s", i+1, a.GetError())
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte(`{"id":"old"}` + "\n")
	for _, e := range in {
		if want, err = jsonl.Append(want, e); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Errorf("file holds:\n%s\nwant the old line, then the jsonl lines:\n%s", got, want)
	}
}

func TestSinkRelativePathAndMissingDirectories(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	sinkAcks(t, map[string]any{"path": "a/b/out.jsonl"}, events("e1"))
	if got := ids(readFile(t, filepath.Join(dir, "a", "b", "out.jsonl"))); !slices.Equal(got, []string{"e1"}) {
		t.Errorf("file under the working directory holds %v, want e1", got)
	}
}

// ack is what a test expects for one batch: ok, or a nack with this reason.
type ack struct {
	ok     bool
	reason string
}

func checkAcks(t *testing.T, got []*flowctlv1.SinkAck, want []ack) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d acks, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].GetOk() != w.ok || got[i].GetError() != w.reason {
			t.Errorf("batch %d: ok %v reason %q; want ok %v reason %q", i+1, got[i].GetOk(), got[i].GetError(), w.ok, w.reason)
		}
	}
}

func TestSinkNacks(t *testing.T) {
	tests := []struct {
		name      string
		nackTimes int
		batches   [][]pluginsdk.Event
		acks      []ack
		written   []string
	}{
		{"refused twice then accepted", 2,
			[][]pluginsdk.Event{events("a", "x"), events("b"), events("a", "x"), events("a", "x"), events("c")},
			[]ack{
				{false, "chaos: refusing event x (refusal 1 of 2)"},
				{true, ""},
				{false, "chaos: refusing event x (refusal 2 of 2)"},
				{true, ""},
				{true, ""},
			},
			[]string{"b", "a", "x", "c"}},
		{"always refused", 0,
			[][]pluginsdk.Event{events("a"), events("x", "b"), events("x", "b"), events("x", "b"), events("c")},
			[]ack{
				{true, ""},
				{false, "chaos: refusing event x (refusal 1 of always)"},
				{false, "chaos: refusing event x (refusal 2 of always)"},
				{false, "chaos: refusing event x (refusal 3 of always)"},
				{true, ""},
			},
			[]string{"a", "c"}},
		// Each listed id in a refused batch counts a refusal, once per
		// batch however often it appears in it.
		{"two listed ids in one batch count together", 1,
			[][]pluginsdk.Event{events("y", "x", "y"), events("y", "x", "y")},
			[]ack{{false, "chaos: refusing event y (refusal 1 of 1)"}, {true, ""}},
			[]string{"y", "x", "y"}},
		{"an id refused out, another still refused", 1,
			[][]pluginsdk.Event{events("x"), events("x", "y"), events("x", "y")},
			[]ack{
				{false, "chaos: refusing event x (refusal 1 of 1)"},
				{false, "chaos: refusing event y (refusal 1 of 1)"},
				{true, ""},
			},
			[]string{"x", "y"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.jsonl")
			acks := sinkAcks(t, map[string]any{"path": path, "nack_ids": []string{"x", "y"}, "nack_times": tt.nackTimes}, tt.batches...)
			checkAcks(t, acks, tt.acks)
			if got := ids(readFile(t, path)); !slices.Equal(got, tt.written) {
				t.Errorf("file holds %v, want %v", got, tt.written)
			}
		})
	}
}

func TestSinkDelay(t *testing.T) {
	const delay = 50 * time.Millisecond
	path := filepath.Join(t.TempDir(), "out.jsonl")
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSink, "chaos", map[string]any{"path": path, "delay": delay.String(), "nack_ids": []string{"x"}})
	start := time.Now()
	acks, err := h.Write(t.Context(), events("a"), events("x"))
	if err != nil {
		t.Fatal(err)
	}
	// Refused batches are slow too.
	if took := time.Since(start); took < 2*delay {
		t.Errorf("two batches took %v, want at least %v", took, 2*delay)
	}
	checkAcks(t, acks, []ack{{true, ""}, {false, "chaos: refusing event x (refusal 1 of always)"}})
}

// parseConfig builds the Init of a component constructed directly, for what
// the harness cannot observe: a context ending during a delay, or the exit.
func parseConfig(t *testing.T, spec *pluginsdk.Spec, config map[string]any) pluginsdk.Init {
	t.Helper()
	raw, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	return sdktest.Init(t, spec, string(raw))
}

func TestDelayEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s, err := newSink(parseConfig(t, sinkSpec(), map[string]any{"path": path, "delay": "1h"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer s.Teardown(t.Context())
	if err := s.Write(ctx, events("a")); !errors.Is(err, context.Canceled) {
		t.Errorf("write with an ended context returned %v, want context.Canceled", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Errorf("file after an interrupted write: %v, %v; want empty", fi, err)
	}

	p, err := newProcessor(parseConfig(t, processorSpec(), map[string]any{"delay": "1h"}))
	if err != nil {
		t.Fatal(err)
	}
	emitted := 0
	if err := p.Process(ctx, events("a")[0], func(pluginsdk.Event) { emitted++ }); !errors.Is(err, context.Canceled) || emitted != 0 {
		t.Errorf("process with an ended context returned %v and emitted %d; want context.Canceled and nothing", err, emitted)
	}
}

// process runs batches through a chaos processor configured with config.
func process(t *testing.T, config map[string]any, batches ...[]pluginsdk.Event) []sdktest.ProcessResult {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindProcessor, "chaos", config)
	res, err := h.Process(t.Context(), batches...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestProcessorPassesEventsUnchanged(t *testing.T) {
	in := events("a", "b")
	in[0].Key = []byte("k")
	in[0].Time = time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	res := process(t, nil, in)[0]
	if len(res.Out) != 2 || len(res.Errors) != 0 {
		t.Fatalf("got outputs %v and errors %v, want both events and no errors", ids(res.Out), res.Errors)
	}
	for i, got := range res.Out {
		w := in[i]
		if got.ID != w.ID || got.Type != w.Type || !got.Time.Equal(w.Time) || string(got.Key) != string(w.Key) ||
			got.ContentType != w.ContentType || string(got.Data) != string(w.Data) || sdktest.Attributes(got)["n"] != sdktest.Attributes(w)["n"] ||
			res.Origins[i] != uint32(i) {
			t.Errorf("output %d: %+v (origin %d), want %+v unchanged", i, got, res.Origins[i], w)
		}
	}
}

// eventError is a per-event error the processor reports.
type eventError struct {
	index   uint32
	message string
}

func TestProcessorFails(t *testing.T) {
	tests := []struct {
		name      string
		failTimes int
		want      [][]eventError // per batch
		out       [][]string     // ids passed, per batch
	}{
		{"fail_times = 1", 1,
			[][]eventError{{{1, "chaos: failing event x (failure 1 of 1)"}}, nil},
			[][]string{{"a", "c"}, {"a", "x", "c"}}},
		{"always", 0,
			[][]eventError{{{1, "chaos: failing event x (failure 1 of always)"}}, {{1, "chaos: failing event x (failure 2 of always)"}}},
			[][]string{{"a", "c"}, {"a", "c"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			batch := events("a", "x", "c")
			res := process(t, map[string]any{"fail_ids": []string{"x"}, "fail_times": tt.failTimes}, batch, batch)
			for i, r := range res {
				var got []eventError
				for _, e := range r.Errors {
					got = append(got, eventError{e.GetIndex(), e.GetMessage()})
				}
				if !slices.Equal(got, tt.want[i]) {
					t.Errorf("batch %d: errors %v, want %v", i+1, got, tt.want[i])
				}
				if !slices.Equal(ids(r.Out), tt.out[i]) {
					t.Errorf("batch %d: outputs %v, want %v", i+1, ids(r.Out), tt.out[i])
				}
			}
		})
	}
}

// Each failing event counts a failure, also within one batch.
func TestProcessorCountsEachFailingEvent(t *testing.T) {
	res := process(t, map[string]any{"fail_ids": []string{"x"}, "fail_times": 2}, events("x", "x", "x"))[0]
	if len(res.Errors) != 2 || res.Errors[1].GetMessage() != "chaos: failing event x (failure 2 of 2)" {
		t.Errorf("errors %v, want two failures of x", res.Errors)
	}
	if len(res.Out) != 1 || res.Origins[0] != 2 {
		t.Errorf("outputs %v from %v, want the third x", ids(res.Out), res.Origins)
	}
}

func TestProcessorDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	start := time.Now()
	res := process(t, map[string]any{"delay": delay.String()}, events("a", "b", "c"))
	if took := time.Since(start); took < 3*delay {
		t.Errorf("three events took %v, want at least %v", took, 3*delay)
	}
	if len(res[0].Out) != 3 {
		t.Errorf("outputs %v, want all three", ids(res[0].Out))
	}
}

func TestExitDue(t *testing.T) {
	tests := []struct {
		processed, exitAfter uint64
		want                 bool
	}{
		{0, 0, false},
		{1, 0, false},
		{1 << 40, 0, false},
		{0, 3, false},
		{2, 3, false},
		{3, 3, true},
		{4, 3, true},
		{1, 1, true},
	}
	for _, tt := range tests {
		if got := exitDue(tt.processed, tt.exitAfter); got != tt.want {
			t.Errorf("exitDue(%d, %d) = %v, want %v", tt.processed, tt.exitAfter, got, tt.want)
		}
	}
}

// The processor exits with code 3 right after the exit_after-th event,
// failed ones included; exit is replaced so the test process survives.
func TestProcessorExitsAfter(t *testing.T) {
	init := parseConfig(t, processorSpec(), map[string]any{"exit_after": 3, "fail_ids": []string{"b"}})
	pr, err := newProcessor(init)
	if err != nil {
		t.Fatal(err)
	}
	p := pr.(*Processor)
	var exits []int
	var emitted []string
	p.exit = func(code int) { exits = append(exits, code) }
	for i, e := range events("a", "b", "c") {
		_ = p.Process(t.Context(), e, func(e pluginsdk.Event) { emitted = append(emitted, e.ID) })
		if want := i == 2; (len(exits) > 0) != want {
			t.Fatalf("after event %d exits %v, want an exit only after the third", i+1, exits)
		}
	}
	if !slices.Equal(exits, []int{3}) {
		t.Errorf("exit codes %v, want [3]", exits)
	}
	if !slices.Equal(emitted, []string{"a", "c"}) {
		t.Errorf("emitted %v, want a and c", emitted)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		kind   sdktest.Kind
		config map[string]any
		path   string
		detail string
	}{
		{"negative nack_times", sdktest.KindSink, map[string]any{"nack_times": -1}, "nack_times", "must be a whole number, 0 or more; got -1"},
		{"fractional nack_times", sdktest.KindSink, map[string]any{"nack_times": 1.5}, "nack_times", "must be a whole number, 0 or more; got 1.5"},
		{"negative sink delay", sdktest.KindSink, map[string]any{"delay": "-1s"}, "delay", "must not be negative; got -1s"},
		{"empty nack id", sdktest.KindSink, map[string]any{"nack_ids": []string{"a", ""}}, "nack_ids.1", "an event id must not be empty"},
		{"empty path", sdktest.KindSink, map[string]any{"path": ""}, "path", "must name a file"},
		{"negative fail_times", sdktest.KindProcessor, map[string]any{"fail_times": -2}, "fail_times", "must be a whole number, 0 or more; got -2"},
		{"fractional exit_after", sdktest.KindProcessor, map[string]any{"exit_after": 0.5}, "exit_after", "must be a whole number, 0 or more; got 0.5"},
		{"negative exit_after", sdktest.KindProcessor, map[string]any{"exit_after": -3}, "exit_after", "must be a whole number, 0 or more; got -3"},
		{"huge exit_after", sdktest.KindProcessor, map[string]any{"exit_after": 1e300}, "exit_after", "must be a whole number, 0 or more; got 1e+300"},
		{"negative processor delay", sdktest.KindProcessor, map[string]any{"delay": "-5ms"}, "delay", "must not be negative; got -5ms"},
		{"empty fail id", sdktest.KindProcessor, map[string]any{"fail_ids": []string{""}}, "fail_ids.0", "an event id must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.kind == sdktest.KindSink {
				if _, ok := tt.config["path"]; !ok {
					tt.config["path"] = filepath.Join(t.TempDir(), "out.jsonl")
				}
			}
			h := sdktest.New(t, Plugin(version))
			diags, err := h.Configure(t.Context(), tt.kind, "chaos", tt.config)
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) != 1 || strings.Join(diags[0].GetAttributePath(), ".") != tt.path || diags[0].GetDetail() != tt.detail {
				t.Fatalf("diagnostics %v, want one at %s saying %q", diags, tt.path, tt.detail)
			}
		})
	}
}
