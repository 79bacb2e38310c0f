package hcl

import (
	"strings"
	"testing"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func parsePluginFixture(t *testing.T) (*Config, *Component) {
	t.Helper()
	cfg, diags := ParseFile("testdata/plugin/plugin.hcl")
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	return cfg, cfg.Components[0]
}

func TestComponentRange(t *testing.T) {
	_, c := parsePluginFixture(t)
	tests := []struct {
		path []string
		want string // FILE:LINE:COL of the range start
	}{
		{nil, "testdata/plugin/plugin.hcl:5:1"},
		{[]string{"path"}, "testdata/plugin/plugin.hcl:7:13"},
		{[]string{"fields", "1"}, "testdata/plugin/plugin.hcl:8:20"},
		{[]string{"fields", "7"}, "testdata/plugin/plugin.hcl:8:13"},     // no such index: the list
		{[]string{"headers", "env"}, "testdata/plugin/plugin.hcl:10:14"}, // bare key
		{[]string{"headers", "team"}, "testdata/plugin/plugin.hcl:11:14"},
		{[]string{"headers", "owner"}, "testdata/plugin/plugin.hcl:9:13"}, // no such key: the map
		{[]string{"labels", "0"}, "testdata/plugin/plugin.hcl:13:13"},     // a variable has no items
		{[]string{"nope"}, "testdata/plugin/plugin.hcl:5:1"},
		{[]string{"inputs"}, "testdata/plugin/plugin.hcl:5:1"}, // host-owned, not the plugin's
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.path, "."), func(t *testing.T) {
			if got := posString(c.Range(tt.path)); got != tt.want {
				t.Errorf("Range(%q) starts at %s, want %s", tt.path, got, tt.want)
			}
		})
	}
}

// TestPluginDiagnostics renders plugin answers to Configure as a user sees
// them, pointed into the file.
func TestPluginDiagnostics(t *testing.T) {
	cfg, c := parsePluginFixture(t)
	diags := c.PluginDiagnostics([]*flowctlv1.Diagnostic{
		{
			Severity:      flowctlv1.Severity_SEVERITY_ERROR,
			Summary:       "Directory does not exist",
			Detail:        "The directory /no/such/dir does not exist; create it or choose another path.",
			AttributePath: []string{"path"},
		},
		{
			Severity:      flowctlv1.Severity_SEVERITY_WARNING,
			Summary:       "Unknown field",
			Detail:        `Events have no field "tim". Did you mean "time"?`,
			AttributePath: []string{"fields", "1"},
		},
		{
			Severity:      flowctlv1.Severity_SEVERITY_ERROR,
			Summary:       "Reserved header",
			AttributePath: []string{"headers", "team"},
		},
		{
			Summary:       "Conflicting settings",
			Detail:        "rotate needs max_bytes.",
			AttributePath: []string{"rotate"},
		},
		{
			Severity: flowctlv1.Severity_SEVERITY_ERROR,
			Detail:   "The plugin could not start.",
		},
	})
	if len(diags) != 5 || !diags.HasErrors() {
		t.Fatalf("got %d diagnostics, errors=%t; want 5 with errors", len(diags), diags.HasErrors())
	}
	checkGolden(t, "testdata/plugin/plugin.golden", FormatDiagnostics(cfg.Files, diags))
}

// A plugin may narrow a diagnostic to bytes of a string value (an
// expression it parses); the host points there when the string is written
// as it reads, and at the whole value when escapes or interpolation make
// columns and bytes part ways.
func TestPluginDiagnosticsWithinValue(t *testing.T) {
	src := `sink "x" "out" {
  expr    = "id + 1"
  escaped = "say \"hi\" + 1"
  wide    = "é + 1"
  set     = { a = "b +" }
}
`
	cfg, diags := Parse("within.hcl", []byte(src))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	c := cfg.Components[0]
	tests := []struct {
		path       []string
		start, end uint32
		want       string // FILE:LINE:COL of the subject
	}{
		{[]string{"expr"}, 3, 4, "within.hcl:2:17"},      // the "+"
		{[]string{"escaped"}, 11, 12, "within.hcl:3:13"}, // escapes: the whole string
		{[]string{"wide"}, 3, 4, "within.hcl:4:16"},      // columns count characters, not bytes
		{[]string{"set", "a"}, 2, 3, "within.hcl:5:22"},  // a map item
		{[]string{"expr"}, 3, 99, "within.hcl:2:13"},     // out of range: the whole string
	}
	for _, tt := range tests {
		d := c.PluginDiagnostics([]*flowctlv1.Diagnostic{{AttributePath: tt.path, ValueStart: tt.start, ValueEnd: tt.end}})
		if got := posString(*d[0].Subject); got != tt.want {
			t.Errorf("%v [%d,%d): subject at %s, want %s", tt.path, tt.start, tt.end, got, tt.want)
		}
	}
}
