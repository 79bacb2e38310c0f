// Package topology holds the rules a pipeline's shape must follow, written
// once for every layer that checks them: host/pipeline, which reports them
// as file:line diagnostics, and the engines (host/router, host/plane), which
// refuse a shape their bookkeeping cannot carry. It works on a minimal
// description (Node: name, kind, inputs, dead-letter sink) and imports no
// language package, so the engines stay free of hcl.
//
// Check finds every problem at once and says which rule each breaks and
// where (the node, the input). Problem.String words it plainly for a
// program's error; host/pipeline words it for the pipeline's author, with
// the file and line. The rules:
//
//   - names are unique (the first node of a name counts, later ones are
//     reported);
//   - a source has no inputs; a processor or sink has at least one, except
//     a sink that is some node's dead-letter sink (it may receive dead
//     letters only);
//   - each input names a declared source or processor, at most once per
//     node;
//   - a dead-letter sink is a declared sink other than the node itself,
//     and is not itself the dead-letter sink of another node (dead letters
//     of dead letters could go round from sink to sink);
//   - every source and processor is read by some node, unless there is no
//     sink at all (then NoSink is the one thing to fix);
//   - the edges (inputs, and dead-letter edges from a node to its sink)
//     form no cycle;
//   - there is at least one source and at least one sink.
//
// Only references that break no rule become edges, so a bad reference is
// reported once and not again as, say, an unread node. Order is
// deterministic: problems come node by node in the order given, then
// unread nodes, cycles (by their first member), and the missing ends.
package topology

import (
	"fmt"
	"strings"

	"github.com/flowctl/flowctl/proto/wire"
)

// Node describes one component: Name is its address ("processor.tag"),
// Inputs the names it reads, DeadLetter the sink its failed events go to
// ("" for none).
type Node struct {
	Name       string
	Kind       wire.Kind
	Inputs     []string
	DeadLetter string
}

// Rule names the rule a Problem breaks.
type Rule int

// The rules, in the order Check looks at a node.
const (
	DuplicateName     Rule = iota + 1 // Node is declared again
	SourceInputs                      // a source lists inputs
	MissingInputs                     // a processor or sink lists none
	DuplicateInput                    // Inputs[Input] is listed before too
	UnknownInput                      // Inputs[Input] names no node
	SinkInput                         // Inputs[Input] is a sink
	DeadLetterNotSink                 // DeadLetter names a node that is not a sink
	DeadLetterSelf                    // DeadLetter names the node itself
	UnknownDeadLetter                 // DeadLetter names no node
	ChainedDeadLetter                 // Node, a dead-letter sink, has a DeadLetter too
	Unread                            // no node reads Node
	Cycle                             // Path is a cycle
	NoSource                          // no node is a source
	NoSink                            // no node is a sink
)

// Problem is one broken rule.
type Problem struct {
	Rule Rule
	// Node is the node at fault, of kind Kind; "" for NoSource and
	// NoSink.
	Node string
	Kind wire.Kind
	// Input is the index into the node's Inputs for the input rules; -1
	// otherwise.
	Input int
	// Ref is the name referred to: the input, or the dead-letter sink.
	Ref string
	// Feeders, for ChainedDeadLetter, are the nodes whose dead-letter sink
	// Node is, in the order given.
	Feeders []string
	// Path, for Cycle, is the shortest cycle through its member given
	// first, in flow order, ending where it starts:
	// processor.a → processor.b → processor.a. Node is Path[0].
	Path []string
}

// String words p for an error message: node "sink.b": unknown input
// "source.x".
func (p Problem) String() string {
	var what string
	switch p.Rule {
	case NoSource:
		return "no source"
	case NoSink:
		return "no sink"
	case Cycle:
		return "cycle: " + strings.Join(p.Path, " → ")
	case DuplicateName:
		what = "name used more than once"
	case SourceInputs:
		what = "a source has no inputs"
	case MissingInputs:
		what = fmt.Sprintf("a %s needs at least one input", p.Kind)
	case DuplicateInput:
		what = fmt.Sprintf("input %q listed more than once", p.Ref)
	case UnknownInput:
		what = fmt.Sprintf("unknown input %q", p.Ref)
	case SinkInput:
		what = fmt.Sprintf("input %q is a sink, which has no output", p.Ref)
	case DeadLetterNotSink, UnknownDeadLetter:
		what = fmt.Sprintf("dead-letter target %q is not a sink", p.Ref)
	case DeadLetterSelf:
		what = "dead-letter sink is the node itself"
	case ChainedDeadLetter:
		what = "a dead-letter sink cannot have a dead-letter sink of its own"
	case Unread:
		what = "no node reads its output"
	default:
		what = fmt.Sprintf("breaks topology rule %d", int(p.Rule))
	}
	return fmt.Sprintf("node %q: %s", p.Node, what)
}

// graph is the nodes with the edges that break no rule.
type graph struct {
	nodes  []Node
	index  map[string]int // first node of each name
	inputs [][]int        // per node, the nodes whose input edge reaches it
	dlq    []int          // per node, its dead-letter sink's index or -1
	// targets are the nodes some other node's dead_letter validly names.
	targets map[int]bool
}

// Check returns every problem with nodes' shape, or nothing when the shape
// can run.
func Check(nodes []Node) []Problem {
	g, problems := link(nodes)
	problems = append(problems, g.unread()...)
	problems = append(problems, g.cycles()...)
	return append(problems, g.ends()...)
}

// Order returns the names of nodes so that each comes after its inputs,
// and a dead-letter sink after the nodes whose dead-letter sink it is;
// among nodes whose predecessors are all placed, the one given first comes
// first. Nodes that cannot be placed (on or downstream of a cycle) are
// returned in unordered, in the order given. Only edges that break no rule
// count.
func Order(nodes []Node) (order, unordered []string) {
	g, _ := link(nodes)
	placed := g.topo()
	done := make([]bool, len(nodes))
	for _, i := range placed {
		order = append(order, nodes[i].Name)
		done[i] = true
	}
	for i, n := range nodes {
		if !done[i] && g.index[n.Name] == i {
			unordered = append(unordered, n.Name)
		}
	}
	return order, unordered
}

// link builds the graph and reports what is wrong with each node's own
// references.
func link(nodes []Node) (*graph, []Problem) {
	g := &graph{nodes: nodes, index: make(map[string]int, len(nodes)), inputs: make([][]int, len(nodes)),
		dlq: make([]int, len(nodes)), targets: map[int]bool{}}
	var problems []Problem
	at := func(rule Rule, i, input int, ref string) {
		problems = append(problems, Problem{Rule: rule, Node: nodes[i].Name, Kind: nodes[i].Kind, Input: input, Ref: ref})
	}
	dup := make([]bool, len(nodes))
	for i, n := range nodes {
		if _, seen := g.index[n.Name]; seen {
			dup[i] = true
			continue
		}
		g.index[n.Name] = i
	}
	// Dead-letter targets first: whether a sink is one decides whether it
	// needs inputs.
	for i, n := range nodes {
		g.dlq[i] = -1
		if to, ok := g.index[n.DeadLetter]; ok && !dup[i] && to != i && nodes[to].Kind == wire.KindSink {
			g.targets[to] = true
		}
	}
	for i, n := range nodes {
		if dup[i] {
			at(DuplicateName, i, -1, "")
			continue
		}
		switch {
		case n.Kind == wire.KindSource && len(n.Inputs) > 0:
			at(SourceInputs, i, -1, "")
		case n.Kind != wire.KindSource && len(n.Inputs) == 0 && !g.targets[i]:
			at(MissingInputs, i, -1, "")
		}
		seen := make(map[string]bool, len(n.Inputs))
		for k, in := range n.Inputs {
			from, ok := g.index[in]
			switch {
			case seen[in]:
				at(DuplicateInput, i, k, in)
			case !ok:
				at(UnknownInput, i, k, in)
			case nodes[from].Kind == wire.KindSink:
				at(SinkInput, i, k, in)
			default:
				g.inputs[i] = append(g.inputs[i], from)
			}
			seen[in] = true
		}
		if dl := n.DeadLetter; dl != "" {
			to, ok := g.index[dl]
			switch {
			case ok && nodes[to].Kind != wire.KindSink:
				at(DeadLetterNotSink, i, -1, dl)
			case ok && to == i:
				at(DeadLetterSelf, i, -1, dl)
			case !ok:
				at(UnknownDeadLetter, i, -1, dl)
			case g.targets[i]:
				p := Problem{Rule: ChainedDeadLetter, Node: n.Name, Kind: n.Kind, Input: -1, Ref: dl}
				for j, f := range nodes {
					if g.index[f.DeadLetter] == i && !dup[j] && j != i {
						p.Feeders = append(p.Feeders, f.Name)
					}
				}
				problems = append(problems, p)
			default:
				g.dlq[i] = to
			}
		}
	}
	return g, problems
}

// live reports whether node i is the node of its name (not a later
// duplicate).
func (g *graph) live(i int) bool { return g.index[g.nodes[i].Name] == i }

// successors are the nodes i sends events to: its readers in the order
// given, then its dead-letter sink.
func (g *graph) successors() [][]int {
	out := make([][]int, len(g.nodes))
	for i := range g.nodes {
		for _, from := range g.inputs[i] {
			out[from] = append(out[from], i)
		}
	}
	for i, to := range g.dlq {
		if to >= 0 {
			out[i] = append(out[i], to)
		}
	}
	return out
}

func (g *graph) has(k wire.Kind) bool {
	for i, n := range g.nodes {
		if n.Kind == k && g.live(i) {
			return true
		}
	}
	return false
}

// unread reports the sources and processors nothing reads.
func (g *graph) unread() []Problem {
	if !g.has(wire.KindSink) {
		return nil // NoSink says what to fix
	}
	read := make([]bool, len(g.nodes))
	for _, froms := range g.inputs {
		for _, from := range froms {
			read[from] = true
		}
	}
	var problems []Problem
	for i, n := range g.nodes {
		if g.live(i) && n.Kind != wire.KindSink && !read[i] {
			problems = append(problems, Problem{Rule: Unread, Node: n.Name, Kind: n.Kind, Input: -1})
		}
	}
	return problems
}

func (g *graph) ends() []Problem {
	var problems []Problem
	if !g.has(wire.KindSource) {
		problems = append(problems, Problem{Rule: NoSource, Input: -1})
	}
	if !g.has(wire.KindSink) {
		problems = append(problems, Problem{Rule: NoSink, Input: -1})
	}
	return problems
}

// topo is Kahn's algorithm with the ready set kept in the order given; it
// returns the indexes it could place.
func (g *graph) topo() []int {
	succ := g.successors()
	pending := make([]int, len(g.nodes))
	for i := range g.nodes {
		for _, to := range succ[i] {
			pending[to]++
		}
	}
	var ready []int
	for i := range g.nodes {
		if pending[i] == 0 && g.live(i) {
			ready = append(ready, i)
		}
	}
	var order []int
	for len(ready) > 0 {
		i := ready[0]
		ready = ready[1:]
		order = append(order, i)
		for _, to := range succ[i] {
			pending[to]--
			if pending[to] == 0 {
				ready = insertSorted(ready, to)
			}
		}
	}
	return order
}

func insertSorted(s []int, v int) []int {
	k := 0
	for k < len(s) && s[k] < v {
		k++
	}
	s = append(s, 0)
	copy(s[k+1:], s[k:])
	s[k] = v
	return s
}
