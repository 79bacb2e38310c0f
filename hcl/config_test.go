package hcl

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

func TestParseFileHello(t *testing.T) {
	cfg, diags := ParseFile("testdata/hello.hcl")
	if diags.HasErrors() {
		t.Fatalf("unexpected diagnostics:\n%s", FormatDiagnostics(cfg.Files, diags))
	}

	if cfg.Pipeline.Name != "hello" || cfg.Pipeline.Description != "ticks to a file" {
		t.Errorf("pipeline = %q, %q; want hello, ticks to a file", cfg.Pipeline.Name, cfg.Pipeline.Description)
	}
	if got := posString(cfg.Pipeline.DeclRange); got != "testdata/hello.hcl:14:1" {
		t.Errorf("pipeline declared at %s", got)
	}

	wantVars := []struct {
		name     string
		ty       cty.Type
		def      cty.Value
		required bool
	}{
		{"count", cty.Number, cty.NumberIntVal(1000), false},
		{"output", cty.String, cty.StringVal("out.jsonl"), false},
		{"tags", cty.List(cty.String), cty.NilVal, true},
	}
	if len(cfg.Variables) != len(wantVars) {
		t.Fatalf("got %d variables, want %d", len(cfg.Variables), len(wantVars))
	}
	for i, want := range wantVars {
		v := cfg.Variables[i]
		if v.Name != want.name || !v.Type.Equals(want.ty) || v.Required() != want.required {
			t.Errorf("variable %d = %s %s required=%t; want %s %s required=%t",
				i, v.Name, v.Type.FriendlyName(), v.Required(), want.name, want.ty.FriendlyName(), want.required)
		}
		if !want.required && !v.Default.RawEquals(want.def) {
			t.Errorf("variable %s default = %#v, want %#v", v.Name, v.Default, want.def)
		}
	}
	if d := cfg.Variables[0].Description; d != "How many events" {
		t.Errorf("count description = %q", d)
	}

	wantComps := []struct {
		addr   string
		typ    string
		inputs []string
		batch  *Batch
	}{
		{"source.ticks", "generator", nil, &Batch{Size: 500, Linger: 5 * time.Millisecond}},
		{"source.tocks", "generator", nil, &Batch{Size: DefaultBatchSize, Linger: DefaultBatchLinger}},
		{"processor.tag", "transform", []string{"source.ticks", "source.tocks"}, nil},
		{"sink.out", "file", []string{"processor.tag"}, nil},
	}
	if len(cfg.Components) != len(wantComps) {
		t.Fatalf("got %d components, want %d", len(cfg.Components), len(wantComps))
	}
	for i, want := range wantComps {
		c := cfg.Components[i]
		t.Run(want.addr, func(t *testing.T) {
			if c.Address.String() != want.addr || c.Type != want.typ {
				t.Errorf("got %s %q, want %s %q", c.Address, c.Type, want.addr, want.typ)
			}
			var inputs []string
			for _, in := range c.Inputs {
				inputs = append(inputs, in.Address.String())
			}
			if !equalStrings(inputs, want.inputs) {
				t.Errorf("inputs = %v, want %v", inputs, want.inputs)
			}
			switch {
			case want.batch == nil && c.Batch != nil:
				t.Errorf("batch = %+v, want none", *c.Batch)
			case want.batch != nil && (c.Batch == nil || *c.Batch != *want.batch):
				t.Errorf("batch = %+v, want %+v", c.Batch, *want.batch)
			}
			if cfg.Component(c.Address) != c {
				t.Errorf("Config.Component(%s) does not find it", c.Address)
			}
		})
	}

	// The host-owned parts are gone from the body the plugin's schema sees.
	tag := cfg.Component(Address{Kind: KindProcessor, Name: "tag"})
	attrs, _ := tag.Body.JustAttributes()
	if _, ok := attrs["inputs"]; ok {
		t.Error("inputs is still in the plugin body")
	}
	if _, ok := attrs["set"]; !ok {
		t.Error("set is missing from the plugin body")
	}
	// The input range is the reference itself, for diagnostics about it.
	if got := posString(tag.Inputs[1].Range); got != "testdata/hello.hcl:31:27" {
		t.Errorf("second input at %s, want testdata/hello.hcl:31:27", got)
	}
}

func TestParsePipelineNameDefault(t *testing.T) {
	cfg, diags := Parse(filepath.Join("pipelines", "orders.v2.hcl"), []byte("source \"generator\" \"a\" {}\n"))
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	if cfg.Pipeline.Name != "orders.v2" {
		t.Errorf("pipeline name = %q, want orders.v2 (the base name without extension)", cfg.Pipeline.Name)
	}
	if cfg.Pipeline.DeclRange != (hcl.Range{}) {
		t.Errorf("DeclRange = %v, want the zero range without a pipeline block", cfg.Pipeline.DeclRange)
	}
}

func TestParseFileMissing(t *testing.T) {
	cfg, diags := ParseFile("testdata/does-not-exist.hcl")
	got := FormatDiagnostics(cfg.Files, diags)
	want := "Error: Failed to read pipeline file\n\nCannot read testdata/does-not-exist.hcl: open testdata/does-not-exist.hcl: no such file or directory.\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestParseErrors renders what a user sees for a broken file. Each case is
// testdata/parse/NAME.hcl with the expected output in NAME.golden.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		why  string
	}{
		{"syntax_error", "HCL syntax errors stop parsing, with HCL's own message"},
		{"unknown_block", "a misspelt block type gets a Did you mean"},
		{"duplicate_component", "the second block is flagged and the first one's position named"},
		{"inputs_on_source", "sources take no inputs"},
		{"input_string", "a quoted address is told to drop the quotes"},
		{"input_not_reference", "every element that is not kind.name, and a non-list"},
		{"batch", "batch values, duplicates, variables, and batch outside a source"},
		{"variables", "bad default, duplicate, bad type, bad name, unknown attribute"},
		{"pipeline_blocks", "a second pipeline block, a non-constant description, bad labels"},
		{"pipeline_delivery", "shutdown_timeout not above zero, bad pipeline restart values, a duplicate restart block"},
		{"shutdown_timeout_var", "shutdown_timeout is a constant"},
		{"restart", "restart values, max_delay below delay, duplicates, variables, unknown attributes, in every kind"},
		{"on_error", "bad and non-constant on_error, dead_letter without it or with fail, retry blocks that have no effect, retry values"},
		{"dead_letter", "dead_letter quoted, not a sink, a variable, an attribute, a list"},
		{"delivery_on_source", "a source has no on_error, retry or dead_letter, but may have restart"},
		{"parallelism", "parallelism on a source, out of range, fractional, a variable; partition_by alone or not key"},
		{"driver", "an unknown driver, bad docker and kubernetes values, attributes of the other driver, duplicates, variables, kubernetes without an image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "testdata/parse/" + tt.name + ".hcl"
			cfg, diags := ParseFile(path)
			if !diags.HasErrors() {
				t.Fatalf("no errors; the case checks that %s", tt.why)
			}
			checkGolden(t, goldenPath(path), FormatDiagnostics(cfg.Files, diags))
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
