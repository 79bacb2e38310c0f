package hcl

import (
	"testing"

	"github.com/hashicorp/hcl/v2"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// fileSinkSchema is what a file sink plugin would report from GetSchema: one
// attribute of every type.
func fileSinkSchema() *flowctlv1.ComponentSchema {
	return &flowctlv1.ComponentSchema{
		Kind: flowctlv1.Kind_KIND_SINK,
		Name: "file",
		Attributes: []*flowctlv1.Attribute{
			{Name: "path", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_STRING, Required: true},
			{Name: "format", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_STRING, DefaultJson: []byte(`"jsonl"`)},
			{Name: "flush_interval", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_DURATION},
			{Name: "append", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_BOOL},
			{Name: "max_bytes", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_NUMBER},
			{Name: "fields", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING},
			{Name: "headers", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_MAP_OF_STRING},
		},
	}
}

// decodeFixture parses a fixture and decodes every component in it with
// schema, returning the JSON of each and all diagnostics.
func decodeFixture(t *testing.T, path string, schema *flowctlv1.ComponentSchema) (*Config, [][]byte, hcl.Diagnostics) {
	t.Helper()
	cfg, diags := ParseFile(path)
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	ectx, diags := cfg.EvalContext(VarSources{})
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	var out [][]byte
	for _, c := range cfg.Components {
		js, moreDiags := DecodeComponent(c, schema, ectx)
		diags = append(diags, moreDiags...)
		out = append(out, js)
	}
	return cfg, out, diags
}

func TestDecodeComponent(t *testing.T) {
	cfg, out, diags := decodeFixture(t, "testdata/decode/ok.hcl", fileSinkSchema())
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	// format = null and unset attributes are absent: the plugin applies its defaults.
	want := `{"append":true,"fields":["a","b"],"flush_interval":"1s","headers":{"env":"dev"},"max_bytes":1048576,"path":"OUT.JSONL"}`
	if got := string(out[0]); got != want {
		t.Errorf("config JSON\n got %s\nwant %s", got, want)
	}
}

func TestDecodeComponentEmptySchema(t *testing.T) {
	cfg, diags := Parse("p.hcl", []byte("source \"generator\" \"a\" {}\n"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	schema := &flowctlv1.ComponentSchema{Kind: flowctlv1.Kind_KIND_SOURCE, Name: "generator"}
	js, diags := DecodeComponent(cfg.Components[0], schema, nil)
	if diags.HasErrors() {
		t.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	if string(js) != "{}" {
		t.Errorf("config JSON = %s, want {}", js)
	}
}

// TestDecodeComponentErrors renders what a user sees when a block does not
// match its plugin's schema. Each case is testdata/decode/NAME.hcl and
// NAME.golden.
func TestDecodeComponentErrors(t *testing.T) {
	tests := []struct {
		name   string
		schema *flowctlv1.ComponentSchema
	}{
		{"unknown_attr", fileSinkSchema()},
		{"wrong_type", fileSinkSchema()},
		{"missing_required", fileSinkSchema()},
		{"bad_duration", fileSinkSchema()},
		{"nested_block", fileSinkSchema()},
		{"undefined_reference", fileSinkSchema()},
		{"schema_mismatch", &flowctlv1.ComponentSchema{Kind: flowctlv1.Kind_KIND_SOURCE, Name: "file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "testdata/decode/" + tt.name + ".hcl"
			cfg, out, diags := decodeFixture(t, path, tt.schema)
			if !diags.HasErrors() {
				t.Fatal("no errors")
			}
			for i, js := range out {
				if js != nil {
					t.Errorf("component %d: config JSON %s returned with errors", i, js)
				}
			}
			checkGolden(t, goldenPath(path), FormatDiagnostics(cfg.Files, diags))
		})
	}
}
