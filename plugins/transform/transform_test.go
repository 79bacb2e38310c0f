package transform

import (
	"maps"
	"strings"
	"testing"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

const version = "0.0.0-test"

func input() []pluginsdk.Event {
	return []pluginsdk.Event{
		{ID: "e1", Type: "order", Key: []byte("k1"), Attributes: []pluginsdk.Attribute{{Key: "env", Value: "dev"}, {Key: "tmp", Value: "1"}}, Data: []byte("one")},
		{ID: "e2", Type: "order", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "prod"}}, Data: []byte("two")},
		{ID: "e3", Type: "refund", Data: []byte("three")},
	}
}

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Plugin(version),
		sdktest.Case{Name: "edit", Kind: sdktest.KindProcessor, Component: "transform",
			Config: map[string]any{"set": map[string]string{"team": "x"}, "drop_attributes": []string{"tmp"}, "type": "t2"},
			Input:  input()},
		sdktest.Case{Name: "drop", Kind: sdktest.KindProcessor, Component: "transform",
			Config: map[string]any{"drop_if": `attributes.env == "dev"`}, Input: input()},
		sdktest.Case{Name: "passthrough", Kind: sdktest.KindProcessor, Component: "transform", Input: input()},
	)
}

// process runs the inputs through a transform configured with config and
// returns its outputs.
func process(t *testing.T, config map[string]any, in []pluginsdk.Event) sdktest.ProcessResult {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindProcessor, "transform", config)
	res, err := h.Process(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Errors) > 0 {
		t.Fatalf("event errors: %v", res[0].Errors)
	}
	return res[0]
}

func TestEdits(t *testing.T) {
	tests := []struct {
		name   string
		config map[string]any
		want   []pluginsdk.Event // ID, Type and Attributes are compared
	}{
		{"set adds and overwrites", map[string]any{"set": map[string]string{"env": "test", "team": "data"}}, []pluginsdk.Event{
			{ID: "e1", Type: "order", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "test"}, {Key: "tmp", Value: "1"}, {Key: "team", Value: "data"}}},
			{ID: "e2", Type: "order", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "test"}, {Key: "team", Value: "data"}}},
			{ID: "e3", Type: "refund", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "test"}, {Key: "team", Value: "data"}}},
		}},
		{"drop_attributes removes", map[string]any{"drop_attributes": []string{"tmp", "absent"}}, []pluginsdk.Event{
			{ID: "e1", Type: "order", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "dev"}}},
			{ID: "e2", Type: "order", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "prod"}}},
			{ID: "e3", Type: "refund"},
		}},
		{"set wins over drop_attributes", map[string]any{"drop_attributes": []string{"env"}, "set": map[string]string{"env": "x"}}, []pluginsdk.Event{
			{ID: "e1", Type: "order", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "x"}, {Key: "tmp", Value: "1"}}},
			{ID: "e2", Type: "order", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "x"}}},
			{ID: "e3", Type: "refund", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "x"}}},
		}},
		{"type replaces", map[string]any{"type": "billing.event"}, []pluginsdk.Event{
			{ID: "e1", Type: "billing.event", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "dev"}, {Key: "tmp", Value: "1"}}},
			{ID: "e2", Type: "billing.event", Attributes: []pluginsdk.Attribute{{Key: "env", Value: "prod"}}},
			{ID: "e3", Type: "billing.event"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input()
			res := process(t, tt.config, in)
			assertOutputs(t, res, in, tt.want)
		})
	}
}

func assertOutputs(t *testing.T, res sdktest.ProcessResult, in, want []pluginsdk.Event) {
	t.Helper()
	if len(res.Out) != len(want) {
		t.Fatalf("got %d outputs %v, want %d", len(res.Out), ids(res.Out), len(want))
	}
	byID := map[string]pluginsdk.Event{}
	for _, e := range in {
		byID[e.ID] = e
	}
	for i, w := range want {
		got := res.Out[i]
		if got.ID != w.ID || got.Type != w.Type || !maps.Equal(sdktest.Attributes(got), sdktest.Attributes(w)) {
			t.Errorf("output %d: %s %s %v, want %s %s %v", i, got.ID, got.Type, got.Attributes, w.ID, w.Type, w.Attributes)
		}
		orig := byID[w.ID]
		if string(got.Key) != string(orig.Key) || string(got.Data) != string(orig.Data) {
			t.Errorf("output %d: key %q data %q changed from %q %q", i, got.Key, got.Data, orig.Key, orig.Data)
		}
		if in[res.Origins[i]].ID != w.ID {
			t.Errorf("output %d is tied to input %d (%s), want %s", i, res.Origins[i], in[res.Origins[i]].ID, w.ID)
		}
	}
}

func ids(evs []pluginsdk.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func TestDropIf(t *testing.T) {
	tests := []struct {
		cond string
		kept string // ids of the events that pass, comma-separated
	}{
		{`attributes.env == "dev"`, "e2,e3"},
		{`attributes.env != "dev"`, "e1"},
		{`attributes.env == ""`, "e1,e2,e3"}, // a missing attribute equals no value
		{`has(attributes.tmp)`, "e2,e3"},
		{`!has(attributes.env)`, "e1,e2"},
		{` ! has( attributes.env ) `, "e1,e2"},
		{`type == "refund"`, "e1,e2"},
		{`type != "refund"`, "e3"},
		{`id == "e2"`, "e1,e3"},
		{`key == "k1"`, "e2,e3"},
		{`has(key)`, "e2,e3"},
		{`!has(id)`, "e1,e2,e3"},
		{`type=="ord\u0065r"`, "e3"},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			res := process(t, map[string]any{"drop_if": tt.cond}, input())
			if got := strings.Join(ids(res.Out), ","); got != tt.kept {
				t.Errorf("kept %q, want %q", got, tt.kept)
			}
		})
	}
}

func TestDropIfSeesTheEventAsItArrived(t *testing.T) {
	res := process(t, map[string]any{"drop_if": `type == "order"`, "type": "other"}, input())
	if got := strings.Join(ids(res.Out), ","); got != "e3" {
		t.Errorf("kept %q, want only e3: drop_if must see the original type", got)
	}
}

func TestBadDropIfIsADiagnostic(t *testing.T) {
	tests := []struct {
		cond, want string
	}{
		{`attributes.env = "dev"`, "cannot read condition"},
		{`env == "dev"`, `unknown field "env"`},
		{`attributes. == "dev"`, `unknown field "attributes."`},
		{`type == dev`, "must be a double-quoted string"},
		{`type == "dev`, "not a valid double-quoted string"},
		{`has(data)`, `unknown field "data"`},
		{`seq % 2 == 0`, "cannot read condition"},
		{`type == "a" && id == "b"`, "not a valid double-quoted string"},
	}
	for _, tt := range tests {
		t.Run(tt.cond, func(t *testing.T) {
			h := sdktest.New(t, Plugin(version))
			diags, err := h.Configure(t.Context(), sdktest.KindProcessor, "transform", map[string]any{"drop_if": tt.cond})
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) != 1 {
				t.Fatalf("got %d diagnostics, want 1: %v", len(diags), diags)
			}
			d := diags[0]
			if d.GetSeverity() != flowctlv1.Severity_SEVERITY_ERROR || strings.Join(d.GetAttributePath(), ".") != "drop_if" {
				t.Errorf("diagnostic %v at %v, want an error at drop_if", d.GetSeverity(), d.GetAttributePath())
			}
			for _, w := range []string{tt.want, `<field> == "<value>"`, `!has(<field>)`, "attributes.<name>"} {
				if !strings.Contains(d.GetDetail(), w) {
					t.Errorf("detail %q does not contain %q", d.GetDetail(), w)
				}
			}
		})
	}
}

// The SDK gives every input event an attribute map of its own (see
// pluginsdk.Event), so edits are made in place, without a copy per event.
func TestEditsAttributesInPlace(t *testing.T) {
	p, err := newProcessor(sdktest.Init(t, spec(), `{"set":{"team":"x"},"drop_attributes":["env"]}`))
	if err != nil {
		t.Fatal(err)
	}
	own := []pluginsdk.Attribute{{Key: "env", Value: "dev"}, {Key: "keep", Value: "y"}}
	var out []pluginsdk.Event
	if err := p.Process(t.Context(), pluginsdk.Event{ID: "a", Attributes: own}, func(e pluginsdk.Event) { out = append(out, e) }); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"keep": "y", "team": "x"}
	if len(out) != 1 || !maps.Equal(sdktest.Attributes(out[0]), want) {
		t.Errorf("output %v, want keep=y team=x", out)
	}
	if !maps.Equal(sdktest.Attributes(pluginsdk.Event{Attributes: own}), want) {
		t.Errorf("the event's own map is %v after Process, want it edited in place", own)
	}
	// An event without attributes gets a map for set.
	out = out[:0]
	if err := p.Process(t.Context(), pluginsdk.Event{ID: "b"}, func(e pluginsdk.Event) { out = append(out, e) }); err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || !maps.Equal(sdktest.Attributes(out[0]), map[string]string{"team": "x"}) {
		t.Errorf("output %v, want team=x", out)
	}
}
