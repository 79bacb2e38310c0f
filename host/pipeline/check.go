package pipeline

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// link resolves n's inputs and dead_letter into edges. A reference that
// cannot be an edge gets a diagnostic at the reference and no edge, so later
// checks see only the edges that exist. targets holds the dead-letter sinks
// (deadLetterTargets): they need no inputs.
func (g *Graph) link(n *Node, targets map[flowhcl.Address]bool) hcl.Diagnostics {
	c := n.Component
	var diags hcl.Diagnostics
	if n.Address.Kind != flowhcl.KindSource && len(c.Inputs) == 0 && !targets[n.Address] {
		diags = append(diags, g.missingInputs(c))
	}

	seen := map[flowhcl.Address]hcl.Range{}
	for _, in := range c.Inputs {
		if first, dup := seen[in.Address]; dup {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate input",
				Detail: fmt.Sprintf("%s lists %s twice (first at %s). Each input is read once; remove this one.",
					n.Address, in.Address, posString(first)),
				Subject: in.Range.Ptr(),
			})
			continue
		}
		seen[in.Address] = in.Range

		from, ok := g.nodes[in.Address]
		switch {
		case in.Address.Kind == flowhcl.KindSink:
			// Whether or not it exists: no sink can ever be an input.
			detail := fmt.Sprintf("A sink cannot be an input: %s writes events out of the pipeline and passes none on.", in.Address)
			if !ok {
				detail = fmt.Sprintf("A sink cannot be an input: sinks write events out of the pipeline and pass none on. (There is no %s either.)", in.Address)
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid input",
				Detail:   detail + " To send the same events to several sinks, give each sink the same inputs.",
				Subject:  in.Range.Ptr(),
			})
		case !ok:
			diags = append(diags, g.unknownInput(in))
		default:
			n.Inputs = append(n.Inputs, from.Address)
			from.Outputs = append(from.Outputs, n.Address)
		}
	}
	return append(diags, g.linkDeadLetter(n, targets)...)
}

// deadLetterRef returns n's dead_letter reference, or nil when it has none.
func deadLetterRef(n *Node) *flowhcl.Input {
	if oe := n.Component.OnError; oe != nil {
		return oe.DeadLetter
	}
	return nil
}

// deadLetterTarget returns the node n's dead_letter names when it can be a
// dead-letter sink at all: a declared sink other than n. Otherwise nil.
func (g *Graph) deadLetterTarget(n *Node) *Node {
	ref := deadLetterRef(n)
	if ref == nil || ref.Address.Kind != flowhcl.KindSink || ref.Address == n.Address {
		return nil
	}
	return g.nodes[ref.Address]
}

// deadLetterTargets returns the sinks that some other component's
// dead_letter names. It is computed before any edge, so that each node's
// checks in link can know whether it is one.
func (g *Graph) deadLetterTargets() map[flowhcl.Address]bool {
	targets := map[flowhcl.Address]bool{}
	for _, n := range g.byFile {
		if to := g.deadLetterTarget(n); to != nil {
			targets[to.Address] = true
		}
	}
	return targets
}

// linkDeadLetter resolves n's dead_letter into a dead-letter edge, or a
// diagnostic at the reference.
func (g *Graph) linkDeadLetter(n *Node, targets map[flowhcl.Address]bool) hcl.Diagnostics {
	ref := deadLetterRef(n)
	if ref == nil {
		return nil
	}
	invalid := func(summary, detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: ref.Range.Ptr()}}
	}
	to, ok := g.nodes[ref.Address]
	switch {
	case ref.Address.Kind != flowhcl.KindSink:
		// The parser reports this; a Config built by hand may still have it.
		return invalid("Invalid dead_letter",
			fmt.Sprintf("dead_letter names a sink, where failed events leave the pipeline; %s is a %s.", ref.Address, ref.Address.Kind))
	case ref.Address == n.Address:
		return invalid("Invalid dead_letter",
			fmt.Sprintf("%s cannot be its own dead-letter sink: the events it fails to write would come straight back to it. Name another sink.", n.Address))
	case !ok:
		return hcl.Diagnostics{g.unknownReference(*ref, "Unknown dead_letter sink", n.Address, nil)}
	case targets[n.Address]:
		return invalid("Chained dead_letter",
			fmt.Sprintf("%s is the dead-letter sink of %s, so it cannot have a dead_letter of its own: dead letters of dead letters could go round from sink to sink. Remove this dead_letter; to keep failed writes from stopping the pipeline, use on_error = %q instead.",
				n.Address, joinAddrs(g.deadLetterFeeders(n)), flowhcl.ErrorRetry))
	default:
		n.DeadLetter = to.Address
		to.DeadLetterFrom = append(to.DeadLetterFrom, n.Address)
		return nil
	}
}

// deadLetterFeeders returns the components whose dead_letter is sink, in
// file order, whether or not their edges are linked yet.
func (g *Graph) deadLetterFeeders(sink *Node) []flowhcl.Address {
	var out []flowhcl.Address
	for _, n := range g.byFile {
		if g.deadLetterTarget(n) == sink {
			out = append(out, n.Address)
		}
	}
	return out
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

// checkUnread reports sources and processors whose events would go nowhere.
func (g *Graph) checkUnread() hcl.Diagnostics {
	if len(g.Sinks()) == 0 {
		return nil // checkEnds says what to fix
	}
	var diags hcl.Diagnostics
	for _, n := range g.byFile {
		if n.Address.Kind == flowhcl.KindSink || len(n.Outputs) > 0 {
			continue
		}
		readers := "a processor or sink"
		if n.Address.Kind == flowhcl.KindProcessor {
			readers = "another processor or a sink"
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unread " + n.Address.Kind.String(),
			Detail: fmt.Sprintf("No component lists %s in its inputs, so its events would go nowhere. Add it to the inputs of %s, or remove it.",
				n.Address, readers),
			Subject: n.Component.DeclRange.Ptr(),
		})
	}
	return diags
}

// checkEnds reports a pipeline with nothing to read from or nothing to write
// to. There is no single block to point at: the pipeline block is used when
// there is one, and the detail names the file.
func (g *Graph) checkEnds(cfg *flowhcl.Config) hcl.Diagnostics {
	var subject *hcl.Range
	if cfg.Pipeline.DeclRange != (hcl.Range{}) {
		subject = cfg.Pipeline.DeclRange.Ptr()
	}
	where := strings.Join(slices.Sorted(maps.Keys(cfg.Files)), ", ")
	if where == "" {
		where = "The pipeline"
	}

	var diags hcl.Diagnostics
	if len(g.Sources()) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No source",
			Detail:   where + ` declares no source, so nothing would produce events. Declare one, for example source "generator" "ticks" {}.`,
			Subject:  subject,
		})
	}
	if len(g.Sinks()) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "No sink",
			Detail:   where + ` declares no sink, so no event would leave the pipeline. Declare one, for example sink "stdout" "out" { inputs = [source.ticks] }.`,
			Subject:  subject,
		})
	}
	return diags
}

// posString renders where a range starts as FILE:LINE:COL, as
// flowhcl.WriteDiagnostics prints it.
func posString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}
