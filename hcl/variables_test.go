package hcl

import (
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

func parseVarsFixture(t *testing.T) *Config {
	t.Helper()
	cfg, diags := ParseFile("testdata/vars/vars.hcl")
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	return cfg
}

func TestEvalContextValues(t *testing.T) {
	cfg := parseVarsFixture(t)
	ectx, diags := cfg.EvalContext(VarSources{Flags: map[string]string{
		"count":    "100000",
		"tags":     `["a", "b"]`,
		"limits":   `{ a = 2, b = 3 }`,
		"verbose":  "true",
		"anything": "[not parsed]",
	}})
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}

	tests := []struct {
		expr string
		want cty.Value
	}{
		{"var.count", cty.NumberIntVal(100000)},
		{"var.output", cty.StringVal("out.jsonl")}, // the default
		{"var.tags", cty.ListVal([]cty.Value{cty.StringVal("a"), cty.StringVal("b")})},
		{"var.limits", cty.MapVal(map[string]cty.Value{"a": cty.NumberIntVal(2), "b": cty.NumberIntVal(3)})},
		{"var.verbose", cty.True},
		{"var.anything", cty.StringVal("[not parsed]")}, // no type: taken as a string
		{`upper(var.output)`, cty.StringVal("OUT.JSONL")},
		{`format("%s-%d", join(",", var.tags), var.count)`, cty.StringVal("a,b-100000")},
		{`length(var.tags) + max(1, 5) + abs(-1)`, cty.NumberIntVal(8)},
		{`jsondecode(jsonencode({x = 1})).x`, cty.NumberIntVal(1)},
		{`coalesce(null, "fallback")`, cty.StringVal("fallback")},
		{`replace(trimspace("  a-b "), "-", "_")`, cty.StringVal("a_b")},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			expr, diags := hclsyntax.ParseExpression([]byte(tt.expr), "test", hcl.InitialPos)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			got, diags := expr.Value(ectx)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			if !got.RawEquals(tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.expr, got, tt.want)
			}
		})
	}
}

// TestEvalContextErrors renders what a user sees for bad -var values. All
// cases share testdata/vars/vars.hcl; each writes testdata/vars/NAME.golden.
func TestEvalContextErrors(t *testing.T) {
	tests := []struct {
		name string
		raw  map[string]string
	}{
		{"missing_required", map[string]string{}},
		{"unknown_suggest", map[string]string{"tags": "[]", "cnt": "5"}},
		{"unknown_list", map[string]string{"tags": "[]", "zzz": "5", "aaa": "1"}},
		{"wrong_type_number", map[string]string{"tags": "[]", "count": "many"}},
		{"wrong_type_bool", map[string]string{"tags": "[]", "verbose": "yes"}},
		{"wrong_type_list", map[string]string{"tags": `[1, {}]`}},
		{"list_syntax_error", map[string]string{"tags": `["a"`}},
		{"list_not_constant", map[string]string{"tags": `[var.output]`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parseVarsFixture(t)
			ectx, diags := cfg.EvalContext(VarSources{Flags: tt.raw})
			if !diags.HasErrors() {
				t.Fatal("no errors")
			}
			if ectx == nil {
				t.Fatal("nil EvalContext: callers still need one to collect further diagnostics")
			}
			checkGolden(t, "testdata/vars/"+tt.name+".golden", FormatDiagnostics(cfg.Files, diags))
		})
	}
}

func TestEvalContextNoVariables(t *testing.T) {
	cfg, diags := Parse("p.hcl", []byte(`source "generator" "a" {}`))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	_, diags = cfg.EvalContext(VarSources{Flags: map[string]string{"count": "1"}})
	want := `Error: Value for undeclared variable "count" (-var count=...)

The pipeline declares no variable named "count". It declares no variables at all.
`
	if got := FormatDiagnostics(cfg.Files, diags); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
