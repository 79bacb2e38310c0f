package hcl

import (
	"encoding/json"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// FuzzPluginAnswers feeds arbitrary answers of a plugin to what the host
// does with them: the JSON a binary prints for `describe` (its schema),
// against which a pipeline block is decoded, and the bytes of its
// ConfigureResponse, whose diagnostics are pointed into the file. A plugin
// is a program anyone may have written. Properties:
//   - nothing panics;
//   - a block that decodes without errors gives a JSON object holding only
//     attributes the schema declares;
//   - each plugin diagnostic gives exactly one diagnostic, whose subject
//     lies within the pipeline file, and all of them render.
func FuzzPluginAnswers(f *testing.F) {
	cfg, diags := ParseFile("testdata/plugin/plugin.hcl")
	if diags.HasErrors() {
		f.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	ectx, diags := cfg.EvalContext(VarSources{})
	if diags.HasErrors() {
		f.Fatal(FormatDiagnostics(cfg.Files, diags))
	}
	c := cfg.Components[0]
	src := cfg.Files["testdata/plugin/plugin.hcl"].Bytes

	schema := fileSinkSchema()
	schema.Attributes = append(schema.Attributes, &flowctlv1.Attribute{Name: "labels", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING, Sensitive: true})
	describe, _ := protojson.Marshal(&flowctlv1.GetSchemaResponse{Name: "file", Version: "1.0.0", Components: []*flowctlv1.ComponentSchema{schema}, ProtocolVersions: []uint32{1}})
	configure, _ := proto.Marshal(&flowctlv1.ConfigureResponse{Diagnostics: []*flowctlv1.Diagnostic{
		{Severity: flowctlv1.Severity_SEVERITY_ERROR, Summary: "Cannot open", Detail: "no such dir", AttributePath: []string{"path"}, ValueStart: 1, ValueEnd: 3},
		{Severity: flowctlv1.Severity_SEVERITY_WARNING, Summary: "Unknown field", AttributePath: []string{"fields", "1"}},
		{AttributePath: []string{"headers", "team"}},
		{AttributePath: []string{"nope", "deeper"}},
	}})
	f.Add(describe, configure)
	f.Add([]byte(`{"components":[{"kind":"KIND_SINK","name":"file","attributes":[{"name":""},{"name":"path","type":"ATTRIBUTE_TYPE_DURATION","required":true}]}]}`), []byte{})

	f.Fuzz(func(t *testing.T, describe, configure []byte) {
		var schema flowctlv1.GetSchemaResponse
		if protojson.Unmarshal(describe, &schema) == nil {
			for _, cs := range schema.GetComponents() {
				js, diags := DecodeComponent(c, cs, ectx)
				checkPluginDiags(t, cfg.Files, diags, len(src))
				if diags.HasErrors() {
					continue
				}
				var obj map[string]json.RawMessage
				if err := json.Unmarshal(js, &obj); err != nil {
					t.Fatalf("config JSON %s: %v", js, err)
				}
				declared := map[string]bool{}
				for _, a := range cs.GetAttributes() {
					declared[a.GetName()] = true
				}
				for k := range obj {
					if !declared[k] {
						t.Fatalf("config JSON %s holds %q, which the schema does not declare", js, k)
					}
				}
			}
		}
		var resp flowctlv1.ConfigureResponse
		if proto.Unmarshal(configure, &resp) == nil {
			diags := c.PluginDiagnostics(resp.GetDiagnostics())
			if len(diags) != len(resp.GetDiagnostics()) {
				t.Fatalf("%d diagnostics from %d", len(diags), len(resp.GetDiagnostics()))
			}
			checkPluginDiags(t, cfg.Files, diags, len(src))
		}
	})
}

// checkPluginDiags fails when a diagnostic points outside the file or does
// not render.
func checkPluginDiags(t *testing.T, files map[string]*hcl.File, diags hcl.Diagnostics, n int) {
	t.Helper()
	for _, d := range diags {
		if s := d.Subject; s != nil && (s.Start.Byte < 0 || s.Start.Byte > s.End.Byte || s.End.Byte > n) {
			t.Fatalf("diagnostic %q points at bytes %d-%d of %d", d.Summary, s.Start.Byte, s.End.Byte, n)
		}
	}
	_ = FormatDiagnostics(files, diags)
	_ = NewJSONReport(files, diags)
}
