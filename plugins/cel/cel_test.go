package cel

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

const version = "0.0.0-test"

func input() []pluginsdk.Event {
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	return []pluginsdk.Event{
		{ID: "o1", Type: "order", Time: at, Key: []byte("c7"), Attributes: []pluginsdk.Attribute{{Key: "env", Value: "prod"}},
			ContentType: "application/json", Data: []byte(`{"total":1250,"items":[{"sku":"a"},{"sku":"b"}],"rate":0.5}`)},
		{ID: "o2", Type: "order", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "dev"}},
			ContentType: "application/json", Data: []byte(`{"total":90,"items":[],"rate":1}`)},
		{ID: "r1", Type: "refund", ContentType: "text/plain", Data: []byte("not json")},
	}
}

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Plugin(version),
		sdktest.Case{Name: "filter-and-set", Kind: sdktest.KindProcessor, Component: "cel",
			Config: map[string]any{"filter": `type == "order"`, "set": map[string]string{"tier": `data.total >= 1000 ? "gold" : "silver"`}},
			Input:  input()},
		sdktest.Case{Name: "passthrough", Kind: sdktest.KindProcessor, Component: "cel", Input: input()},
	)
}

func process(t *testing.T, config map[string]any, in []pluginsdk.Event) sdktest.ProcessResult {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindProcessor, "cel", config)
	res, err := h.Process(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func ids(evs []pluginsdk.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return strings.Join(out, ",")
}

func TestFilter(t *testing.T) {
	tests := []struct {
		filter, kept string
	}{
		{`type == "order"`, "o1,o2"},
		{`data.total >= 1000`, "o1"}, // r1 has no JSON data: an event error, see TestRuntimeErrors
		{`attributes.?env.orValue("") == "dev"`, "o2"},
		{`"env" in attributes && attributes.env == "prod"`, "o1"},
		{`!has(attributes.env)`, "r1"},
		{`key == "c7"`, "o1"},
		{`time > timestamp("2025-01-01T00:00:00Z")`, "o1"},
		{`id.startsWith("o") && content_type == "application/json"`, "o1,o2"},
		{`data != null && size(data.items) == 0`, "o2"},
		{`data != null && data.total % 2 == 0`, "o1,o2"}, // whole JSON numbers are ints
		{`data != null && data.rate == 1`, "o2"},
		{`type.upperAscii() == "REFUND"`, "r1"},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			res := process(t, map[string]any{"filter": tt.filter}, input())
			if got := ids(res.Out); got != tt.kept {
				t.Errorf("kept %q, want %q (errors %v)", got, tt.kept, res.Errors)
			}
		})
	}
}

func TestSet(t *testing.T) {
	res := process(t, map[string]any{"filter": `type == "order"`, "set": map[string]string{
		"tier":  `data.total >= 1000 ? "gold" : "silver"`,
		"items": `size(data.items)`,
		"rate":  `data.rate`,
		"big":   `data.total > 100`,
		"at":    `time`,
		"env":   `null`, // removes
		"first": `size(data.items) > 0 ? data.items[0].sku : null`,
	}}, input())
	if len(res.Errors) > 0 {
		t.Fatalf("event errors: %v", res.Errors)
	}
	want := []map[string]string{
		{"tier": "gold", "items": "2", "rate": "0.5", "big": "true", "at": "2025-06-01T12:00:00Z", "first": "a"},
		{"tier": "silver", "items": "0", "rate": "1", "big": "false", "at": "0001-01-01T00:00:00Z"},
	}
	if len(res.Out) != 2 {
		t.Fatalf("outputs %s, want o1,o2", ids(res.Out))
	}
	for i, w := range want {
		if !maps.Equal(sdktest.Attributes(res.Out[i]), w) {
			t.Errorf("%s: attributes %v, want %v", res.Out[i].ID, res.Out[i].Attributes, w)
		}
		if string(res.Out[i].Data) != string(input()[i].Data) || res.Out[i].Type != "order" {
			t.Errorf("%s: data or type changed", res.Out[i].ID)
		}
	}
}

func TestRuntimeErrorsFailOnlyThatEvent(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]any
		in     []pluginsdk.Event
		kept   string
		errAt  uint32
		errMsg string
	}{
		{"missing attribute", map[string]any{"filter": `attributes.env == "prod"`}, input(), "o1", 2, "cel: filter: no such key: env"},
		{"data not JSON", map[string]any{"filter": `data.total > 0`}, input(), "o1,o2", 2, "cel: filter: no such key: total"},
		{"invalid JSON", map[string]any{"set": map[string]string{"t": `string(data.total)`}},
			[]pluginsdk.Event{{ID: "bad", ContentType: "application/json", Data: []byte(`{"total":`)}}, "", 0, `data of event "bad" is not valid JSON`},
		{"division by zero", map[string]any{"set": map[string]string{"x": `1 / (size(data.items) - 2)`}}, input()[:1], "", 0, "cel: set.x: division by zero"},
		{"map result", map[string]any{"set": map[string]string{"x": `data`}}, input()[:1], "", 0, "cel: set.x: gave a map"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := process(t, tt.config, tt.in)
			if got := ids(res.Out); got != tt.kept {
				t.Errorf("kept %q, want %q", got, tt.kept)
			}
			if len(res.Errors) != 1 || res.Errors[0].GetIndex() != tt.errAt || !strings.Contains(res.Errors[0].GetMessage(), tt.errMsg) {
				t.Errorf("errors %v, want one for event %d containing %q", res.Errors, tt.errAt, tt.errMsg)
			}
		})
	}
}

func TestBadExpressionsAreDiagnostics(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]any
		path   string
		want   []string
	}{
		{"syntax", map[string]any{"filter": `type == "order" &&`}, "filter",
			[]string{"the CEL expression does not compile:", "expression:1:19: Syntax error", ` | type == "order" &&`, " | ..................^"}},
		{"undeclared", map[string]any{"filter": `tpye == "order"`}, "filter",
			[]string{"expression:1:1: undeclared reference to 'tpye'"}},
		{"not bool", map[string]any{"filter": `type + "x"`}, "filter",
			[]string{"filter must be a bool expression; this one gives string"}},
		{"wrong operand", map[string]any{"filter": `id > 3`}, "filter",
			[]string{"expression:1:4: found no matching overload for '_>_' applied to '(string, int)'"}},
		{"set list", map[string]any{"set": map[string]string{"ok": `id`, "tags": `[1, 2]`}}, "set.tags",
			[]string{"this expression gives list(int)"}},
		{"set syntax", map[string]any{"set": map[string]string{"x": "id +"}}, "set.x",
			[]string{"expression:1:5: Syntax error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := sdktest.New(t, Plugin(version))
			diags, err := h.Configure(t.Context(), sdktest.KindProcessor, "cel", tt.config)
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) != 1 || diags[0].GetSeverity() != flowctlv1.Severity_SEVERITY_ERROR || strings.Join(diags[0].GetAttributePath(), ".") != tt.path {
				t.Fatalf("diagnostics %v, want one error at %s", diags, tt.path)
			}
			for _, w := range tt.want {
				if !strings.Contains(diags[0].GetDetail(), w) {
					t.Errorf("detail %q lacks %q", diags[0].GetDetail(), w)
				}
			}
		})
	}
}

// The SDK may share the input's attribute map; set must copy it.
func TestDoesNotModifyInputAttributes(t *testing.T) {
	p, err := newProcessor(sdktest.Init(t, spec(), `{"set":{"env":"null","team":"'x'"}}`))
	if err != nil {
		t.Fatal(err)
	}
	shared := []pluginsdk.Attribute{{Key: "env", Value: "dev"}}
	var out []pluginsdk.Event
	if err := p.Process(t.Context(), pluginsdk.Event{ID: "a", Attributes: shared}, func(e pluginsdk.Event) { out = append(out, e) }); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(sdktest.Attributes(pluginsdk.Event{Attributes: shared}), map[string]string{"env": "dev"}) || !maps.Equal(sdktest.Attributes(out[0]), map[string]string{"team": "x"}) {
		t.Errorf("input %v output %v", shared, out[0].Attributes)
	}
}

func TestByteSpan(t *testing.T) {
	for _, tt := range []struct {
		src          string
		line, column int
		start, end   int
	}{
		{"id + 1", 1, 3, 3, 4},
		{"data.seq * 2 +", 1, 14, 13, 14}, // past the end: the last character
		{"é + x", 1, 2, 3, 4},             // columns are characters
		{"a ||\nb +", 2, 2, 7, 8},
		{"a ||\nb +", 2, 9, 7, 8},
		{"x", 3, 0, 0, 0}, // no such line
	} {
		if start, end := byteSpan(tt.src, tt.line, tt.column); start != tt.start || end != tt.end {
			t.Errorf("byteSpan(%q, %d, %d) = %d, %d; want %d, %d", tt.src, tt.line, tt.column, start, end, tt.start, tt.end)
		}
	}
}
