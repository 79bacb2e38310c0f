package pipeline

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// checkCycles reports each cycle once: one diagnostic per strongly connected
// component that has an edge back into itself. Dead-letter edges count: the
// checks in link leave none that could close a cycle (only sinks receive
// them, and a dead-letter sink has no dead_letter), but the topological
// order must not depend on that.
func (g *Graph) checkCycles() hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, scc := range g.stronglyConnected() {
		if len(scc) == 1 && !slices.Contains(scc[0].successors(), scc[0].Address) {
			continue
		}
		diags = append(diags, g.cycleDiagnostic(scc))
	}
	return diags
}

// cycleDiagnostic names the shortest cycle through the member declared first
// and points at that member's input reference that closes the cycle.
func (g *Graph) cycleDiagnostic(scc []*Node) *hcl.Diagnostic {
	start := scc[0]
	for _, n := range scc[1:] {
		if n.index < start.index {
			start = n
		}
	}
	path := g.shortestCycle(start, scc)

	names := make([]string, len(path))
	for i, a := range path {
		names[i] = a.String()
	}
	closing := path[len(path)-2] // the member start reads from

	subject := start.Component.InputsRange
	for _, in := range start.Component.Inputs {
		if in.Address == closing {
			subject = in.Range
			break
		}
	}
	if !slices.Contains(g.nodes[closing].Outputs, start.Address) {
		// The loop closes through closing's dead_letter, not an input.
		subject = g.nodes[closing].Component.OnError.DeadLetter.Range
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Cycle in inputs",
		Detail: fmt.Sprintf("%s: events would flow around this loop forever. A pipeline must be acyclic; remove one of these inputs.",
			strings.Join(names, " → ")),
		Subject: subject.Ptr(),
	}
}

// shortestCycle returns start → … → start following outputs and dead-letter
// edges, staying inside scc. Breadth-first, visiting outputs in file order,
// so the path is short and the same on every run.
func (g *Graph) shortestCycle(start *Node, scc []*Node) []flowhcl.Address {
	inSCC := make(map[flowhcl.Address]bool, len(scc))
	for _, n := range scc {
		inSCC[n.Address] = true
	}
	prev := map[flowhcl.Address]flowhcl.Address{}
	queue := []*Node{start}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, out := range n.successors() {
			if !inSCC[out] {
				continue
			}
			if out == start.Address {
				// Walk back from n to start, then close the loop.
				path := []flowhcl.Address{start.Address}
				for at := n.Address; at != start.Address; at = prev[at] {
					path = append(path, at)
				}
				path = append(path, start.Address)
				// path is start ← … ← start; reverse it into flow order.
				for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
					path[i], path[j] = path[j], path[i]
				}
				return path
			}
			if _, seen := prev[out]; !seen {
				prev[out] = n.Address
				queue = append(queue, g.nodes[out])
			}
		}
	}
	// Unreachable: every member of a strongly connected component with an
	// edge into itself lies on a cycle.
	panic(fmt.Sprintf("pipeline: no cycle through %s", start.Address))
}

// stronglyConnected is Tarjan's algorithm over the output and dead-letter
// edges, started from nodes in file order.
func (g *Graph) stronglyConnected() [][]*Node {
	var (
		next    int
		index   = map[flowhcl.Address]int{}
		low     = map[flowhcl.Address]int{}
		onStack = map[flowhcl.Address]bool{}
		stack   []*Node
		out     [][]*Node
	)
	var visit func(n *Node)
	visit = func(n *Node) {
		index[n.Address], low[n.Address] = next, next
		next++
		stack = append(stack, n)
		onStack[n.Address] = true
		for _, a := range n.successors() {
			if _, seen := index[a]; !seen {
				visit(g.nodes[a])
				low[n.Address] = min(low[n.Address], low[a])
			} else if onStack[a] {
				low[n.Address] = min(low[n.Address], index[a])
			}
		}
		if low[n.Address] != index[n.Address] {
			return
		}
		var scc []*Node
		for {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[top.Address] = false
			scc = append(scc, top)
			if top == n {
				break
			}
		}
		out = append(out, scc)
	}
	for _, n := range g.byFile {
		if _, seen := index[n.Address]; !seen {
			visit(n)
		}
	}
	// Report cycles in the order of their first-declared member.
	first := func(scc []*Node) int {
		m := scc[0].index
		for _, n := range scc {
			m = min(m, n.index)
		}
		return m
	}
	slices.SortFunc(out, func(a, b []*Node) int { return cmp.Compare(first(a), first(b)) })
	return out
}
