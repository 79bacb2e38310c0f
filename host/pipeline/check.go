package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host/topology"
)

// describe is the graph as the topology rules see it: one node per
// declared component, in file order.
func (g *Graph) describe() []topology.Node {
	out := make([]topology.Node, len(g.byFile))
	for i, n := range g.byFile {
		d := topology.Node{Name: n.Address.String(), Kind: n.Address.Kind}
		for _, in := range n.Component.Inputs {
			d.Inputs = append(d.Inputs, in.Address.String())
		}
		if ref := deadLetterRef(n); ref != nil {
			d.DeadLetter = ref.Address.String()
		}
		out[i] = d
	}
	return out
}

// diagnostic says what p means for the pipeline's author, pointing at the
// block or reference to fix. It returns nil for what the parser has
// reported already.
func (g *Graph) diagnostic(cfg *flowhcl.Config, p topology.Problem) *hcl.Diagnostic {
	var n *Node
	if p.Node != "" {
		n = g.byName[p.Node]
	}
	var in flowhcl.Input
	if p.Input >= 0 {
		in = n.Component.Inputs[p.Input]
	}
	switch p.Rule {
	case topology.DuplicateName:
		return nil // the parser has reported it; the first declaration wins
	case topology.SourceInputs:
		// The parser refuses it; a Config built by hand may still have it.
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid inputs",
			Detail:   fmt.Sprintf("%s is a source: it reads from outside the pipeline and has no inputs. Remove them.", n.Address),
			Subject:  n.Component.InputsRange.Ptr(),
		}
	case topology.MissingInputs:
		return g.missingInputs(n.Component)
	case topology.DuplicateInput:
		first := n.Component.Inputs[slices.IndexFunc(n.Component.Inputs, func(i flowhcl.Input) bool { return i.Address == in.Address })]
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate input",
			Detail: fmt.Sprintf("%s lists %s twice (first at %s). Each input is read once; remove this one.",
				n.Address, in.Address, posString(first.Range)),
			Subject: in.Range.Ptr(),
		}
	case topology.UnknownInput, topology.SinkInput:
		if in.Address.Kind != flowhcl.KindSink {
			return g.unknownInput(in)
		}
		// Whether or not it exists: no sink can ever be an input.
		detail := fmt.Sprintf("A sink cannot be an input: %s writes events out of the pipeline and passes none on.", in.Address)
		if p.Rule == topology.UnknownInput {
			detail = fmt.Sprintf("A sink cannot be an input: sinks write events out of the pipeline and pass none on. (There is no %s either.)", in.Address)
		}
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid input",
			Detail:   detail + " To send the same events to several sinks, give each sink the same inputs.",
			Subject:  in.Range.Ptr(),
		}
	case topology.DeadLetterNotSink, topology.DeadLetterSelf, topology.UnknownDeadLetter, topology.ChainedDeadLetter:
		return g.deadLetterDiagnostic(n, p)
	case topology.Unread:
		return unread(n)
	case topology.Cycle:
		return g.cycleDiagnostic(p.Path)
	default: // NoSource, NoSink
		return ends(cfg, p.Rule)
	}
}

// deadLetterRef returns n's dead_letter reference, or nil when it has none.
func deadLetterRef(n *Node) *flowhcl.Input {
	if oe := n.Component.OnError; oe != nil {
		return oe.DeadLetter
	}
	return nil
}

// deadLetterDiagnostic reports what is wrong with n's dead_letter, at the
// reference.
func (g *Graph) deadLetterDiagnostic(n *Node, p topology.Problem) *hcl.Diagnostic {
	ref := deadLetterRef(n)
	invalid := func(summary, detail string) *hcl.Diagnostic {
		return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: ref.Range.Ptr()}
	}
	switch {
	case ref.Address.Kind != flowhcl.KindSink:
		// The parser reports this; a Config built by hand may still have it.
		return invalid("Invalid dead_letter",
			fmt.Sprintf("dead_letter names a sink, where failed events leave the pipeline; %s is a %s.", ref.Address, ref.Address.Kind))
	case p.Rule == topology.DeadLetterSelf:
		return invalid("Invalid dead_letter",
			fmt.Sprintf("%s cannot be its own dead-letter sink: the events it fails to write would come straight back to it. Name another sink.", n.Address))
	case p.Rule == topology.UnknownDeadLetter:
		return g.unknownReference(*ref, "Unknown dead_letter sink", n.Address, nil)
	default: // ChainedDeadLetter
		feeders := make([]flowhcl.Address, len(p.Feeders))
		for i, f := range p.Feeders {
			feeders[i] = g.byName[f].Address
		}
		return invalid("Chained dead_letter",
			fmt.Sprintf("%s is the dead-letter sink of %s, so it cannot have a dead_letter of its own: dead letters of dead letters could go round from sink to sink. Remove this dead_letter; to keep failed writes from stopping the pipeline, use on_error = %q instead.",
				n.Address, joinAddrs(feeders), flowhcl.ErrorRetry))
	}
}

// joinAddrs lists addresses for a sentence: "a", "a and b", "a, b and c".
func joinAddrs(as []flowhcl.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func (g *Graph) missingInputs(c *flowhcl.Component) *hcl.Diagnostic {
	example := "inputs = [source.NAME]"
	if sources := g.Sources(); len(sources) > 0 {
		example = fmt.Sprintf("inputs = [%s]", sources[0])
	}
	if c.InputsRange == (hcl.Range{}) {
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing inputs",
			Detail: fmt.Sprintf("A %s reads events from other components: name them with %s.",
				c.Address.Kind, example),
			Subject: c.DeclRange.Ptr(),
		}
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "No inputs",
		Detail: fmt.Sprintf("%s would receive no events: list at least one source or processor, for example %s.",
			c.Address, example),
		Subject: c.InputsRange.Ptr(),
	}
}

func (g *Graph) unknownInput(in flowhcl.Input) *hcl.Diagnostic {
	return g.unknownReference(in, "Unknown input", flowhcl.Address{}, g.sameNameOtherKind(in.Address))
}

// unknownReference reports a reference to a component that is not declared,
// with the declared names of its kind or the closest one. self, which is
// never offered, is the component that holds the reference when it cannot
// name itself; other is the same name under another kind, when that is
// what was probably meant.
func (g *Graph) unknownReference(in flowhcl.Input, summary string, self flowhcl.Address, other *flowhcl.Address) *hcl.Diagnostic {
	kind := in.Address.Kind
	var declared []string
	for _, n := range g.byFile {
		if n.Address.Kind == kind && n.Address != self {
			declared = append(declared, n.Address.Name)
		}
	}

	detail := fmt.Sprintf("There is no %s named %q.", kind, in.Address.Name)
	switch suggestion := flowhcl.NameSuggestion(in.Address.Name, declared); {
	case other != nil:
		detail += fmt.Sprintf(" Did you mean %s?", other)
	case suggestion != "":
		detail += fmt.Sprintf(" Did you mean %s.%s?", kind, suggestion)
	case len(declared) == 0 && self.Kind == kind:
		detail += fmt.Sprintf(" The pipeline declares no other %ss.", kind)
	case len(declared) == 0:
		detail += fmt.Sprintf(" The pipeline declares no %ss.", kind)
	default:
		detail += fmt.Sprintf(" Declared %ss: %s.", kind, strings.Join(declared, ", "))
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  in.Range.Ptr(),
	}
}

// sameNameOtherKind finds a component with addr's name that can be an
// input, for the slip of writing the wrong kind (processor.ticks for
// source.ticks).
func (g *Graph) sameNameOtherKind(addr flowhcl.Address) *flowhcl.Address {
	for _, k := range []flowhcl.Kind{flowhcl.KindSource, flowhcl.KindProcessor} {
		other := flowhcl.Address{Kind: k, Name: addr.Name}
		if k != addr.Kind && g.nodes[other] != nil {
			return &other
		}
	}
	return nil
}

// unread reports a source or processor whose events would go nowhere.
func unread(n *Node) *hcl.Diagnostic {
	readers := "a processor or sink"
	if n.Address.Kind == flowhcl.KindProcessor {
		readers = "another processor or a sink"
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Unread " + n.Address.Kind.String(),
		Detail: fmt.Sprintf("No component lists %s in its inputs, so its events would go nowhere. Add it to the inputs of %s, or remove it.",
			n.Address, readers),
		Subject: n.Component.DeclRange.Ptr(),
	}
}

// ends reports a pipeline with nothing to read from (NoSource) or nothing
// to write to (NoSink). There is no single block to point at: the pipeline
// block is used when there is one, and the detail names the file.
func ends(cfg *flowhcl.Config, rule topology.Rule) *hcl.Diagnostic {
	var subject *hcl.Range
	if cfg.Pipeline.DeclRange != (hcl.Range{}) {
		subject = cfg.Pipeline.DeclRange.Ptr()
	}
	where := strings.Join(slices.Sorted(maps.Keys(cfg.Files)), ", ")
	if where == "" {
		where = "The pipeline"
	}
	if rule == topology.NoSource {
		return &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No source",
			Detail:   where + ` declares no source, so nothing would produce events. Declare one, for example source "generator" "ticks" {}.`,
			Subject:  subject,
		}
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "No sink",
		Detail:   where + ` declares no sink, so no event would leave the pipeline. Declare one, for example sink "stdout" "out" { inputs = [source.ticks] }.`,
		Subject:  subject,
	}
}

// posString renders where a range starts as FILE:LINE:COL, as
// flowhcl.WriteDiagnostics prints it.
func posString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
