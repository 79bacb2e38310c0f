package pipeline

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// cycleDiagnostic names a cycle the topology rules found (path, from its
// first-declared member back to it) and points at that member's input
// reference that closes it, or at the dead_letter that does.
func (g *Graph) cycleDiagnostic(path []string) *hcl.Diagnostic {
	start := g.byName[path[0]]
	closing := g.byName[path[len(path)-2]] // the member start reads from
	subject := start.Component.InputsRange
	i := slices.IndexFunc(start.Component.Inputs, func(in flowhcl.Input) bool { return in.Address == closing.Address })
	switch {
	case i >= 0:
		subject = start.Component.Inputs[i].Range
	case deadLetterRef(closing) != nil:
		// The loop closes through closing's dead_letter, not an input.
		subject = deadLetterRef(closing).Range
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Cycle in inputs",
		Detail: fmt.Sprintf("%s: events would flow around this loop forever. A pipeline must be acyclic; remove one of these inputs.",
			strings.Join(path, " → ")),
		Subject: subject.Ptr(),
	}
}
