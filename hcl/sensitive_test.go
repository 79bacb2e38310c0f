package hcl

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

const sensitivePipeline = `
variable "token" {
  type      = string
  sensitive = true
}
variable "port" {
  type      = number
  sensitive = true
  default   = 40123
}
locals {
  auth = "Bearer ${var.token}"
}
sink "http" "hook" {
  url     = "https://h/hook?t=${var.token}"
  timeout = "1s"
  env     = { TOKEN = var.token, MODE = "x" }
}
`

func loadSensitive(t *testing.T, token string) (*Config, *hcl.EvalContext) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.hcl")
	if err := os.WriteFile(path, []byte(sensitivePipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, diags := ParseFile(path)
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	ectx, diags := cfg.EvalContext(VarSources{Flags: map[string]string{"token": token}})
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	return cfg, ectx
}

// Everything computed from a sensitive variable is known as sensitive: its
// text is listed for redaction, and env marks it.
func TestSensitiveStringsFollowValues(t *testing.T) {
	cfg, ectx := loadSensitive(t, "tok-93af")
	got := SensitiveStrings(ectx)
	for _, want := range []string{"tok-93af", "40123", "Bearer tok-93af"} {
		if !slices.Contains(got, want) {
			t.Errorf("SensitiveStrings = %q, lacks %q", got, want)
		}
	}
	schema := &flowctlv1.ComponentSchema{Kind: flowctlv1.Kind_KIND_SINK, Name: "http", Attributes: []*flowctlv1.Attribute{
		{Name: "url", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_STRING},
		{Name: "timeout", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_DURATION, Sensitive: true},
	}}
	c := cfg.Components[0]
	js, text, diags := DecodeComponentSensitive(c, schema, ectx)
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	if !strings.Contains(string(js), "tok-93af") {
		t.Errorf("the plugin must get the value itself: %s", js)
	}
	for _, want := range []string{"https://h/hook?t=tok-93af", "1s"} {
		if !slices.Contains(text, want) {
			t.Errorf("sensitive text %q lacks %q", text, want)
		}
	}
	env, diags := c.DecodeEnv(ectx)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	want := []EnvVar{{Name: "MODE", Value: "x"}, {Name: "TOKEN", Value: "tok-93af", Sensitive: true}}
	if !slices.Equal(env.Set, want) {
		t.Errorf("env = %+v, want %+v", env.Set, want)
	}
}

// tonumber and tobool quote the string they cannot convert; not when it is
// sensitive.
func TestConversionErrorsHideSensitiveValues(t *testing.T) {
	_, ectx := loadSensitive(t, "tok-93af")
	for _, src := range []string{`tonumber(var.token)`, `tobool(var.token)`, `tonumber(local.auth)`, `tolist(var.token)`} {
		expr, diags := hclsyntax.ParseExpression([]byte(src), "test.hcl", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatal(diags)
		}
		_, diags = expr.Value(ectx)
		if !diags.HasErrors() {
			t.Fatalf("%s: no error", src)
		}
		if strings.Contains(diags.Error(), "tok-93af") {
			t.Errorf("%s: the error shows the sensitive value: %s", src, diags.Error())
		}
	}
	// Not sensitive: the message still says which string it was.
	expr, _ := hclsyntax.ParseExpression([]byte(`tonumber("abc")`), "test.hcl", hcl.InitialPos)
	if _, diags := expr.Value(ectx); !strings.Contains(diags.Error(), `"abc"`) {
		t.Errorf("tonumber(\"abc\"): %v", diags)
	}
	// A conversion that works keeps the mark.
	expr, _ = hclsyntax.ParseExpression([]byte(`tostring(var.port)`), "test.hcl", hcl.InitialPos)
	if v, diags := expr.Value(ectx); diags.HasErrors() || !v.IsMarked() || !v.Type().Equals(cty.String) {
		t.Errorf("tostring(var.port) = %#v, %v; want a marked string", v, diags)
	}
}

func TestEnvForms(t *testing.T) {
	tests := []struct {
		src, err string
		pass     []string
	}{
		{`["HTTPS_PROXY", "AWS_PROFILE"]`, "", []string{"HTTPS_PROXY", "AWS_PROFILE"}},
		{`{ "1BAD" = "x" }`, "is not an environment variable name", nil},
		{`"NAME"`, "env is a map", nil},
		{`{ X = ["a"] }`, "not a string", nil},
	}
	for _, tt := range tests {
		cfg, diags := Parse("p.hcl", []byte("source \"generator\" \"g\" {\n  env = "+tt.src+"\n}\n"))
		if diags.HasErrors() {
			t.Fatalf("%s: %v", tt.src, diags)
		}
		env, diags := cfg.Components[0].DecodeEnv(&hcl.EvalContext{})
		if tt.err != "" {
			if !strings.Contains(diags.Error(), tt.err) || env.Range.Start.Line != 2 {
				t.Errorf("%s: %v, want %q at line 2", tt.src, diags, tt.err)
			}
			continue
		}
		if diags.HasErrors() || !slices.Equal(env.Pass, tt.pass) {
			t.Errorf("%s: pass %q, %v; want %q", tt.src, env.Pass, diags, tt.pass)
		}
	}
}
