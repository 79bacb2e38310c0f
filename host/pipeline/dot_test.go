package pipeline

import (
	"testing"
)

// TestDOT checks the graph rendering against golden files: diamond for data
// edges, dead_letter for the dashed dead-letter edge.
func TestDOT(t *testing.T) {
	for _, name := range []string{"diamond", "dead_letter"} {
		t.Run(name, func(t *testing.T) {
			cfg := parse(t, "testdata/"+name+".hcl")
			g, diags := Build(cfg)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			checkGolden(t, "testdata/"+name+".dot", g.DOT(cfg.Pipeline.Name))
		})
	}
}
