package pluginsdk

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	spec := NewSpec(
		String("path", "where").Required(),
		Number("count", "how many").Default(10),
		Duration("linger", "how long").Default("5ms"),
		StringMap("set", "attributes"),
		StringList("drop", "attributes"),
		Bool("sync", "fsync").Default(true),
	)
	tests := []struct {
		name      string
		raw       string
		wantDiags []string // "path: summary"
		check     func(t *testing.T, c Config)
	}{
		{name: "defaults", raw: `{"path":"x"}`, check: func(t *testing.T, c Config) {
			if c.String("path") != "x" || c.Int("count") != 10 || c.Duration("linger") != 5*time.Millisecond || !c.Bool("sync") {
				t.Errorf("unexpected values: %+v", c.values)
			}
			if c.isSet("count") || !c.isSet("path") {
				t.Error("isSet wrong")
			}
		}},
		{name: "values", raw: `{"path":"x","count":3,"linger":"1s","set":{"a":"b"},"drop":["c"],"sync":false}`, check: func(t *testing.T, c Config) {
			if c.Int("count") != 3 || c.Duration("linger") != time.Second || c.StringMap("set")["a"] != "b" || c.StringList("drop")[0] != "c" || c.Bool("sync") {
				t.Errorf("unexpected values: %+v", c.values)
			}
		}},
		{name: "null is unset", raw: `{"path":"x","count":null}`, check: func(t *testing.T, c Config) {
			if c.Int("count") != 10 {
				t.Errorf("count = %d, want default 10", c.Int("count"))
			}
		}},
		{name: "missing required", raw: `{}`, wantDiags: []string{"path: Missing required argument"}},
		{name: "unknown", raw: `{"path":"x","pathh":1}`, wantDiags: []string{"pathh: Unsupported argument"}},
		{name: "wrong type", raw: `{"path":1}`, wantDiags: []string{"path: Invalid value for string argument"}},
		{name: "bad duration", raw: `{"path":"x","linger":"soon"}`, wantDiags: []string{"linger: Invalid value for duration argument"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, diags := parseConfig(spec, []byte(tt.raw))
			var got []string
			for _, d := range diags {
				got = append(got, strings.Join(d.Path, ".")+": "+d.Summary)
			}
			if strings.Join(got, "\n") != strings.Join(tt.wantDiags, "\n") {
				t.Fatalf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.wantDiags, "\n"))
			}
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

func TestDefaultOfWrongTypePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a string default on a number attribute")
		}
	}()
	Number("n", "a number").Default("ten")
}

// A constructor's joined errors become one diagnostic each, at their
// attributes, narrowed within a value when the error says where.
func TestErrorDiagnostics(t *testing.T) {
	err := errors.Join(
		NewAttrError(spanError{errors.New("does not compile"), 3, 4}, "filter"),
		NewAttrError(errors.New("empty"), "set", "a"),
		errors.New("no attribute"),
	)
	got := errorDiagnostics(err)
	if len(got) != 3 {
		t.Fatalf("%d diagnostics, want 3: %+v", len(got), got)
	}
	if d := got[0]; d.Detail != "does not compile" || len(d.Path) != 1 || d.ValueStart != 3 || d.ValueEnd != 4 {
		t.Errorf("first %+v", d)
	}
	if d := got[1]; len(d.Path) != 2 || d.Path[1] != "a" || d.ValueEnd != 0 {
		t.Errorf("second %+v", d)
	}
	if d := got[2]; d.Path != nil || d.Detail != "no attribute" {
		t.Errorf("third %+v", d)
	}
}

// spanError is an error that says where in a string value it is, as a
// plugin's expression compiler would.
type spanError struct {
	error
	start, end int
}

func (e spanError) Span() (int, int) { return e.start, e.end }
