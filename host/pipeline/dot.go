package pipeline

import (
	"fmt"
	"strings"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// DOT renders the graph in Graphviz's DOT language, left to right in
// topological order: sources as green boxes, processors as ellipses, sinks as
// blue boxes, data edges solid and dead-letter edges dashed red. Each node is
// labelled with its address and component type. The output is stable for the
// same pipeline, so it can be committed or diffed.
func (g *Graph) DOT(name string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %s {\n", dotID(name))
	b.WriteString("  rankdir=LR;\n")
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=11];\n")
	b.WriteString("  edge [fontname=\"Helvetica\", fontsize=9];\n")
	order := g.TopoOrder()
	for _, a := range order {
		n := g.Node(a)
		fmt.Fprintf(&b, "  %s [label=%s, %s];\n", dotID(a.String()), dotID(a.String()+"\n"+n.Component.Type), nodeStyle(a.Kind))
	}
	for _, a := range order {
		n := g.Node(a)
		for _, in := range n.Inputs {
			fmt.Fprintf(&b, "  %s -> %s;\n", dotID(in.String()), dotID(a.String()))
		}
		if n.DeadLetter != (flowhcl.Address{}) {
			fmt.Fprintf(&b, "  %s -> %s [style=dashed, color=\"#c0392b\", label=\"dead letter\"];\n", dotID(a.String()), dotID(n.DeadLetter.String()))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

func nodeStyle(k flowhcl.Kind) string {
	switch k {
	case flowhcl.KindSource:
		return `shape=box, style="rounded,filled", fillcolor="#d5f5e3"`
	case flowhcl.KindSink:
		return `shape=box, style="rounded,filled", fillcolor="#d6eaf8"`
	default:
		return `shape=ellipse`
	}
}

// dotID quotes s as a DOT string ID.
func dotID(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}
