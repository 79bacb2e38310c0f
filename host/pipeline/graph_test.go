package pipeline

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

var update = flag.Bool("update", false, "rewrite golden files")

func parse(t *testing.T, path string) *flowhcl.Config {
	t.Helper()
	cfg, diags := flowhcl.ParseFile(path)
	if diags.HasErrors() {
		t.Fatalf("fixture does not parse:\n%s", flowhcl.FormatDiagnostics(cfg.Files, diags))
	}
	return cfg
}

func addrs(t *testing.T, ss ...string) []flowhcl.Address {
	t.Helper()
	out := make([]flowhcl.Address, 0, len(ss))
	for _, s := range ss {
		a, err := flowhcl.ParseAddress(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func join(as []flowhcl.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, " ")
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name    string
		topo    string
		sources string
		sinks   string
		// reach maps an address to the sinks it reaches, space-separated.
		reach map[string]string
		// edges maps an address to its outputs, space-separated.
		outputs map[string]string
		// deadLetterFrom maps a sink to the components that dead-letter
		// into it, space-separated.
		deadLetterFrom map[string]string
	}{
		{
			name:    "linear",
			topo:    "source.ticks processor.tag sink.out",
			sources: "source.ticks",
			sinks:   "sink.out",
			reach:   map[string]string{"source.ticks": "sink.out", "processor.tag": "sink.out", "sink.out": "sink.out"},
			outputs: map[string]string{"source.ticks": "processor.tag", "processor.tag": "sink.out", "sink.out": ""},
		},
		{
			name:    "fan_out",
			topo:    "source.ticks sink.archive processor.tag sink.console sink.tagged",
			sources: "source.ticks",
			sinks:   "sink.archive sink.console sink.tagged",
			reach: map[string]string{
				"source.ticks":  "sink.archive sink.console sink.tagged",
				"processor.tag": "sink.tagged",
			},
			outputs: map[string]string{"source.ticks": "sink.archive processor.tag sink.console"},
		},
		{
			name:    "fan_in",
			topo:    "source.a source.b processor.merge sink.out",
			sources: "source.a source.b",
			sinks:   "sink.out",
			reach:   map[string]string{"source.a": "sink.out", "source.b": "sink.out"},
			outputs: map[string]string{"source.a": "processor.merge sink.out", "source.b": "processor.merge"},
		},
		{
			name: "diamond",
			// sink.audit is ready before processor.left and declared earlier.
			topo:    "source.s processor.right sink.audit processor.left sink.out",
			sources: "source.s",
			sinks:   "sink.out sink.audit",
			reach: map[string]string{
				"source.s":        "sink.out sink.audit",
				"processor.right": "sink.out sink.audit",
				"processor.left":  "sink.out",
				"sink.audit":      "sink.audit",
			},
			outputs: map[string]string{"source.s": "processor.right processor.left", "processor.right": "sink.out sink.audit"},
		},
		{
			name: "dead_letter",
			// sink.failed is declared second but waits for both of its
			// feeders; sink.audit waits for sink.archive.
			topo:    "source.s processor.tag sink.out sink.failed sink.archive sink.audit",
			sources: "source.s",
			sinks:   "sink.failed sink.out sink.archive sink.audit",
			// Dead-letter edges are not data edges.
			reach: map[string]string{
				"source.s":      "sink.out sink.archive sink.audit",
				"processor.tag": "sink.out",
				"sink.archive":  "sink.archive",
				"sink.failed":   "sink.failed",
			},
			outputs: map[string]string{"source.s": "processor.tag sink.archive sink.audit", "processor.tag": "sink.out", "sink.out": ""},
			deadLetterFrom: map[string]string{
				"sink.failed":   "processor.tag sink.out",
				"sink.audit":    "sink.archive",
				"sink.out":      "",
				"processor.tag": "",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parse(t, "testdata/"+tt.name+".hcl")
			g, diags := Build(cfg)
			if diags.HasErrors() {
				t.Fatalf("unexpected diagnostics:\n%s", flowhcl.FormatDiagnostics(cfg.Files, diags))
			}
			if got := join(g.TopoOrder()); got != tt.topo {
				t.Errorf("TopoOrder = %s\n                want %s", got, tt.topo)
			}
			if got := join(g.Sources()); got != tt.sources {
				t.Errorf("Sources = %s, want %s", got, tt.sources)
			}
			if got := join(g.Sinks()); got != tt.sinks {
				t.Errorf("Sinks = %s, want %s", got, tt.sinks)
			}
			for from, want := range tt.reach {
				if got := join(g.ReachableSinks(addrs(t, from)[0])); got != want {
					t.Errorf("ReachableSinks(%s) = %s, want %s", from, got, want)
				}
			}
			for from, want := range tt.outputs {
				if got := join(g.Node(addrs(t, from)[0]).Outputs); got != want {
					t.Errorf("%s outputs = %s, want %s", from, got, want)
				}
			}
			for to, want := range tt.deadLetterFrom {
				if got := join(g.Node(addrs(t, to)[0]).DeadLetterFrom); got != want {
					t.Errorf("%s DeadLetterFrom = %s, want %s", to, got, want)
				}
			}
			checkTopoInvariant(t, g)
		})
	}
}

// checkTopoInvariant checks what the runtime relies on: every component comes
// after all of its inputs, and every node's inputs and outputs agree.
func checkTopoInvariant(t *testing.T, g *Graph) {
	t.Helper()
	pos := map[flowhcl.Address]int{}
	for i, a := range g.TopoOrder() {
		pos[a] = i
	}
	if len(pos) != len(g.Nodes()) {
		t.Errorf("TopoOrder has %d addresses for %d nodes", len(pos), len(g.Nodes()))
	}
	for _, n := range g.Nodes() {
		if g.Node(n.Address) != n || n.Component.Address != n.Address {
			t.Errorf("node %s is not found by its address", n.Address)
		}
		for _, in := range n.Inputs {
			if pos[in] >= pos[n.Address] {
				t.Errorf("%s comes before its input %s", n.Address, in)
			}
			if !strings.Contains(" "+join(g.Node(in).Outputs)+" ", " "+n.Address.String()+" ") {
				t.Errorf("%s reads %s, but it is not among %s's outputs", n.Address, in, in)
			}
		}
		if dl := n.DeadLetter; dl != (flowhcl.Address{}) {
			if pos[dl] <= pos[n.Address] {
				t.Errorf("dead-letter sink %s comes before %s, which feeds it", dl, n.Address)
			}
			if !slices.Contains(g.Node(dl).DeadLetterFrom, n.Address) {
				t.Errorf("%s dead-letters into %s, but it is not in %s's DeadLetterFrom", n.Address, dl, dl)
			}
		}
		for _, from := range n.DeadLetterFrom {
			if g.Node(from).DeadLetter != n.Address {
				t.Errorf("%s lists %s in DeadLetterFrom, but its DeadLetter is %s", n.Address, from, g.Node(from).DeadLetter)
			}
		}
	}
}

func TestBuildLookupMisses(t *testing.T) {
	g, diags := Build(parse(t, "testdata/linear.hcl"))
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	missing := flowhcl.Address{Kind: flowhcl.KindSink, Name: "ticks"}
	if g.Node(missing) != nil || g.ReachableSinks(missing) != nil {
		t.Errorf("lookups of %s found something", missing)
	}
	// Callers get copies: changing one does not change the graph.
	order := g.TopoOrder()
	order[0] = missing
	if g.TopoOrder()[0] == missing {
		t.Error("TopoOrder returned the graph's own slice")
	}
}

// TestBuildErrors renders what a user sees for a pipeline whose shape cannot
// run. Each case is testdata/NAME.hcl with the expected output in NAME.golden.
func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		why  string
	}{
		{"unknown_input", "declared names, a close name, and the right name under another kind"},
		{"no_processors", "an input of a kind the pipeline has none of"},
		{"sink_as_input", "sinks pass no events on, declared or not"},
		{"duplicate_input", "the second reference is flagged"},
		{"sink_no_inputs", "a sink without inputs, and one with an empty list"},
		{"unread", "a source and a processor whose events go nowhere"},
		{"cycle", "two processors reading each other"},
		{"cycle_self_and_long", "a self-loop and a loop of three, each reported once"},
		{"empty", "no source and no sink, pointing at the pipeline block"},
		{"no_sink", "no sink and no pipeline block: the file is named in the detail"},
		{"dead_letter_unknown", "an unknown dead_letter sink, with a close name and with the declared sinks, never the component itself"},
		{"dead_letter_no_other_sink", "an unknown dead_letter sink when there is no other sink"},
		{"dead_letter_self", "a sink that is its own dead-letter sink"},
		{"dead_letter_chain", "a dead-letter sink with a dead_letter, and two sinks dead-lettering into each other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "testdata/" + tt.name + ".hcl"
			cfg := parse(t, path)
			g, diags := Build(cfg)
			if !diags.HasErrors() {
				t.Fatalf("no errors; the case checks %s", tt.why)
			}
			if g != nil {
				t.Error("Build returned a graph with errors")
			}
			checkGolden(t, strings.TrimSuffix(path, ".hcl")+".golden", flowhcl.FormatDiagnostics(cfg.Files, diags))
		})
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run go test -update to accept it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// TestBuildDeadLetterNotSink checks a dead_letter that names no sink, which
// the parser reports; Build refuses it even from a Config made by hand.
func TestBuildDeadLetterNotSink(t *testing.T) {
	cfg := parse(t, "testdata/linear.hcl")
	out := cfg.Component(addrs(t, "sink.out")[0])
	out.OnError.Mode = flowhcl.ErrorDeadLetter
	out.OnError.DeadLetter = &flowhcl.Input{Address: addrs(t, "processor.tag")[0], Range: out.DeclRange}
	g, diags := Build(cfg)
	if g != nil || len(diags) != 1 || diags[0].Summary != "Invalid dead_letter" {
		t.Fatalf("got graph %v and diagnostics:\n%s", g != nil, flowhcl.FormatDiagnostics(cfg.Files, diags))
	}
	if want := "dead_letter names a sink, where failed events leave the pipeline; processor.tag is a processor."; diags[0].Detail != want {
		t.Errorf("detail = %q, want %q", diags[0].Detail, want)
	}
}

// TestBuildDeadLetterEmptyInputs checks that a dead-letter sink may also say
// inputs = [] outright, and that a sink with no inputs is still an error
// when no dead_letter names it.
func TestBuildDeadLetterEmptyInputs(t *testing.T) {
	src := `
source "generator" "s" {}
sink "file" "out" {
  inputs      = [source.s]
  dead_letter = sink.failed
}
sink "file" "failed" {
  inputs = []
}
sink "file" "stray" {}
`
	cfg, diags := flowhcl.Parse("p.hcl", []byte(src))
	if diags.HasErrors() {
		t.Fatal(flowhcl.FormatDiagnostics(cfg.Files, diags))
	}
	_, diags = Build(cfg)
	got := flowhcl.FormatDiagnostics(cfg.Files, diags)
	if len(diags) != 1 || diags[0].Summary != "Missing inputs" || diags[0].Subject.Start.Line != 10 {
		t.Errorf("want only Missing inputs for sink.stray at line 10, got:\n%s", got)
	}
}
