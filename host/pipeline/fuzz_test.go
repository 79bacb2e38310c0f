package pipeline

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// fuzzSchema is what every component is decoded against in FuzzLoad: one
// attribute of each type a plugin can declare, one of them required.
func fuzzSchema(kind flowctlv1.Kind, name string) *flowctlv1.ComponentSchema {
	attr := func(n string, t flowctlv1.AttributeType) *flowctlv1.Attribute {
		return &flowctlv1.Attribute{Name: n, Type: t}
	}
	return &flowctlv1.ComponentSchema{Kind: kind, Name: name, Attributes: []*flowctlv1.Attribute{
		{Name: "path", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_STRING, Required: true},
		attr("count", flowctlv1.AttributeType_ATTRIBUTE_TYPE_NUMBER),
		attr("interval", flowctlv1.AttributeType_ATTRIBUTE_TYPE_DURATION),
		attr("append", flowctlv1.AttributeType_ATTRIBUTE_TYPE_BOOL),
		attr("fields", flowctlv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING),
		attr("set", flowctlv1.AttributeType_ATTRIBUTE_TYPE_MAP_OF_STRING),
		{Name: "token", Type: flowctlv1.AttributeType_ATTRIBUTE_TYPE_STRING, Sensitive: true},
		attr("any", flowctlv1.AttributeType_ATTRIBUTE_TYPE_UNSPECIFIED),
	}}
}

// FuzzLoad runs arbitrary pipeline files, with an arbitrary -var flag,
// through what `flowctl validate` and `apply` do before any plugin starts:
// parse, variables and locals, the graph, and decoding every block against
// a plugin schema. Properties:
//   - nothing panics, and Parse always returns a Config;
//   - every diagnostic's subject lies within its file, and all render as
//     text and JSON;
//   - a graph built without errors holds every component once, in a
//     topological order that puts each input before its reader, and
//     renders as DOT;
//   - a block that decodes without errors gives a JSON object of declared
//     attributes.
//
// Seeds: testdata/fuzz/FuzzLoad and every pipeline in testdata/.
func FuzzLoad(f *testing.F) {
	for _, glob := range []string{"testdata/*.hcl", "../../hcl/testdata/*.hcl", "../../hcl/testdata/*/*.hcl", "../../examples/*/*.hcl"} {
		names, _ := filepath.Glob(glob)
		for _, name := range names {
			if src, err := os.ReadFile(name); err == nil {
				f.Add(src, "count=3")
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte, flag string) {
		const name = "fuzz.hcl"
		cfg, diags := flowhcl.Parse(name, src)
		if cfg == nil {
			t.Fatal("Parse returned no Config")
		}
		checkDiags(t, cfg.Files, diags)
		if diags.HasErrors() {
			return
		}
		vars := flowhcl.VarSources{}
		if k, v, ok := strings.Cut(flag, "="); ok {
			vars.Flags = map[string]string{k: v}
		}
		ectx, diags := cfg.EvalContext(vars)
		checkDiags(t, cfg.Files, diags)
		if diags.HasErrors() {
			return
		}
		g, diags := Build(cfg)
		checkDiags(t, cfg.Files, diags)
		if !diags.HasErrors() {
			checkGraph(t, cfg, g)
		}
		for _, c := range cfg.Components {
			js, diags := flowhcl.DecodeComponent(c, fuzzSchema(c.Address.Kind.Proto(), c.Type), ectx)
			checkDiags(t, cfg.Files, diags)
			if diags.HasErrors() {
				continue
			}
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(js, &obj); err != nil {
				t.Fatalf("%s: config JSON %s: %v", c.Address, js, err)
			}
		}
	})
}

func checkDiags(t *testing.T, files map[string]*hcl.File, diags hcl.Diagnostics) {
	t.Helper()
	for _, d := range diags {
		s := d.Subject
		if s == nil {
			continue
		}
		f := files[s.Filename]
		if f == nil {
			t.Fatalf("diagnostic %q points into %q, which was not parsed", d.Summary, s.Filename)
		}
		if s.Start.Byte < 0 || s.Start.Byte > s.End.Byte || s.End.Byte > len(f.Bytes) {
			t.Fatalf("diagnostic %q points at bytes %d-%d of %d", d.Summary, s.Start.Byte, s.End.Byte, len(f.Bytes))
		}
	}
	_ = flowhcl.FormatDiagnostics(files, diags)
	_ = flowhcl.NewJSONReport(files, diags)
}

func checkGraph(t *testing.T, cfg *flowhcl.Config, g *Graph) {
	t.Helper()
	at := map[flowhcl.Address]int{}
	for i, a := range g.TopoOrder() {
		if _, dup := at[a]; dup {
			t.Fatalf("%s twice in the topological order", a)
		}
		at[a] = i
	}
	for _, c := range cfg.Components {
		i, ok := at[c.Address]
		if !ok {
			t.Fatalf("%s missing from the topological order", c.Address)
		}
		for _, in := range g.Node(c.Address).Inputs {
			if at[in] >= i {
				t.Fatalf("%s reads %s, which comes after it", c.Address, in)
			}
		}
	}
	if len(at) != len(g.Nodes()) {
		t.Fatalf("%d nodes, %d in the topological order", len(g.Nodes()), len(at))
	}
	_ = g.DOT(cfg.Pipeline.Name)
}
