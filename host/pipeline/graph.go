package pipeline

import (
	"cmp"
	"slices"

	"github.com/hashicorp/hcl/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host/topology"
)

// Node is one component in the graph.
type Node struct {
	Address   flowhcl.Address
	Component *flowhcl.Component
	// Inputs are the components this one reads, in the order written.
	Inputs []flowhcl.Address
	// Outputs are the components that read this one, in file order.
	Outputs []flowhcl.Address
	// DeadLetter is the sink that receives the events this component
	// fails (its dead_letter); the zero Address when it has none.
	DeadLetter flowhcl.Address
	// DeadLetterFrom are the components whose dead_letter is this sink,
	// in file order; empty for every node that is not a dead-letter sink.
	DeadLetterFrom []flowhcl.Address

	// index is the component's position in the file, the tiebreak for
	// every order.
	index int
}

// Graph is a pipeline's components and the edges between them, checked to
// be a runnable DAG.
type Graph struct {
	nodes map[flowhcl.Address]*Node
	// byFile holds the nodes in declaration order.
	byFile []*Node
	// byName finds a node by its address as the topology rules name it.
	byName map[string]*Node
	topo   []flowhcl.Address
	// reach holds, per node, the sinks its events can arrive at.
	reach map[flowhcl.Address][]flowhcl.Address
}

// Build makes the graph of cfg's components. It returns a nil Graph when
// diags has errors.
func Build(cfg *flowhcl.Config) (*Graph, hcl.Diagnostics) {
	g := &Graph{
		nodes:  make(map[flowhcl.Address]*Node, len(cfg.Components)),
		reach:  make(map[flowhcl.Address][]flowhcl.Address, len(cfg.Components)),
		byName: make(map[string]*Node, len(cfg.Components)),
	}
	for _, c := range cfg.Components {
		if _, dup := g.nodes[c.Address]; dup {
			continue // the parser has reported it; the first declaration wins
		}
		n := &Node{Address: c.Address, Component: c, index: len(g.byFile)}
		g.nodes[c.Address] = n
		g.byName[c.Address.String()] = n
		g.byFile = append(g.byFile, n)
	}

	var diags hcl.Diagnostics
	for _, p := range topology.Check(g.describe()) {
		if d := g.diagnostic(cfg, p); d != nil {
			diags = append(diags, d)
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}

	g.link()
	order, _ := topology.Order(g.describe())
	g.topo = make([]flowhcl.Address, len(order))
	for i, name := range order {
		g.topo[i] = g.byName[name].Address
	}
	g.computeReach()
	return g, diags
}

// Node returns the node at addr, or nil when the pipeline has no such
// component.
func (g *Graph) Node(addr flowhcl.Address) *Node {
	return g.nodes[addr]
}

// Nodes returns every node in file order.
func (g *Graph) Nodes() []*Node {
	return slices.Clone(g.byFile)
}

// TopoOrder returns every address such that each component comes after all
// of its inputs, and a dead-letter sink after every component whose
// dead_letter it is; among components whose predecessors are all placed, the
// one declared first in the file comes first. Starting plugins in reverse
// order opens sinks, dead-letter sinks included, before anything can send to
// them.
func (g *Graph) TopoOrder() []flowhcl.Address {
	return slices.Clone(g.topo)
}

// Sources returns the sources in file order.
func (g *Graph) Sources() []flowhcl.Address {
	return g.ofKind(flowhcl.KindSource)
}

// Sinks returns the sinks in file order.
func (g *Graph) Sinks() []flowhcl.Address {
	return g.ofKind(flowhcl.KindSink)
}

// ReachableSinks returns the sinks that events leaving addr can arrive at, in
// file order; a sink reaches itself. A source position may be acknowledged
// only when every one of these sinks has acknowledged what was derived from it.
//
// Only data edges (inputs) count: a dead-letter sink is not among them unless
// it is also reached through inputs. An event goes to a dead-letter sink only
// when it fails, so whoever dead-letters it must track that sink's ack for it
// (see Node.DeadLetter).
func (g *Graph) ReachableSinks(addr flowhcl.Address) []flowhcl.Address {
	return slices.Clone(g.reach[addr])
}

func (g *Graph) ofKind(k flowhcl.Kind) []flowhcl.Address {
	var out []flowhcl.Address
	for _, n := range g.byFile {
		if n.Address.Kind == k {
			out = append(out, n.Address)
		}
	}
	return out
}

// link turns every input and dead_letter into an edge. Build calls it
// once the topology rules hold, so every reference names a node.
func (g *Graph) link() {
	for _, n := range g.byFile {
		for _, in := range n.Component.Inputs {
			from := g.nodes[in.Address]
			n.Inputs = append(n.Inputs, from.Address)
			from.Outputs = append(from.Outputs, n.Address)
		}
		if ref := deadLetterRef(n); ref != nil {
			to := g.nodes[ref.Address]
			n.DeadLetter = to.Address
			to.DeadLetterFrom = append(to.DeadLetterFrom, n.Address)
		}
	}
}

// computeReach fills g.reach walking the topological order backwards, so
// every node's outputs are done before the node. It follows data edges only.
func (g *Graph) computeReach() {
	for i := len(g.topo) - 1; i >= 0; i-- {
		n := g.nodes[g.topo[i]]
		if n.Address.Kind == flowhcl.KindSink {
			g.reach[n.Address] = []flowhcl.Address{n.Address}
			continue
		}
		seen := map[flowhcl.Address]bool{}
		var sinks []flowhcl.Address
		for _, out := range n.Outputs {
			for _, s := range g.reach[out] {
				if !seen[s] {
					seen[s] = true
					sinks = append(sinks, s)
				}
			}
		}
		slices.SortFunc(sinks, func(a, b flowhcl.Address) int {
			return cmp.Compare(g.nodes[a].index, g.nodes[b].index)
		})
		g.reach[n.Address] = sinks
	}
}
