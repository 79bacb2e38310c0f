package topology

import (
	"slices"
	"strings"
	"testing"

	"github.com/flowctl/flowctl/proto/wire"
)

func src(name string) Node { return Node{Name: name, Kind: wire.KindSource} }

func proc(name string, inputs ...string) Node {
	return Node{Name: name, Kind: wire.KindProcessor, Inputs: inputs}
}

func sink(name string, inputs ...string) Node {
	return Node{Name: name, Kind: wire.KindSink, Inputs: inputs}
}

func deadLetter(n Node, to string) Node { n.DeadLetter = to; return n }

// TestCheck lists, for each shape, the problems in the words of
// Problem.String, in Check's order.
func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		nodes []Node
		want  []string
	}{
		{name: "diamond", nodes: []Node{src("s"), proc("l", "s"), proc("r", "s"), sink("out", "l", "r")}},
		{
			name:  "dead-letter sink needs no inputs",
			nodes: []Node{src("s"), deadLetter(sink("out", "s"), "dlq"), sink("dlq")},
		},
		{
			name:  "inputs",
			nodes: []Node{src("s"), deadLetter(sink("out", "s", "s", "nope", "out2"), ""), sink("out2", "s"), sink("lonely")},
			want: []string{
				`node "out": input "s" listed more than once`,
				`node "out": unknown input "nope"`,
				`node "out": input "out2" is a sink, which has no output`,
				`node "lonely": a sink needs at least one input`,
			},
		},
		{
			name:  "source with inputs, duplicate name",
			nodes: []Node{src("s"), Node{Name: "t", Kind: wire.KindSource, Inputs: []string{"s"}}, sink("s"), sink("out", "t")},
			want:  []string{`node "t": a source has no inputs`, `node "s": name used more than once`},
		},
		{
			name: "dead letters",
			nodes: []Node{
				src("s"), deadLetter(proc("p", "s"), "s"), deadLetter(sink("a", "p"), "a"),
				deadLetter(sink("b", "p"), "nope"), deadLetter(sink("c", "p"), "d"), deadLetter(sink("d", "p"), "e"), sink("e", "p"),
			},
			want: []string{
				`node "p": dead-letter target "s" is not a sink`,
				`node "a": dead-letter sink is the node itself`,
				`node "b": dead-letter target "nope" is not a sink`,
				`node "d": a dead-letter sink cannot have a dead-letter sink of its own`,
			},
		},
		{
			name:  "unread only when there is a sink",
			nodes: []Node{src("s"), src("t"), proc("p", "s"), sink("out", "s")},
			want:  []string{`node "t": no node reads its output`, `node "p": no node reads its output`},
		},
		{
			name:  "no sink",
			nodes: []Node{src("s"), proc("p", "s")},
			want:  []string{"no sink"},
		},
		{
			name:  "no source",
			nodes: []Node{proc("a", "b"), proc("b", "a"), sink("out", "a")},
			want:  []string{"cycle: a → b → a", "no source"},
		},
		{
			name:  "cycles, each once, shortest through the first member",
			nodes: []Node{src("s"), proc("x", "s", "z"), proc("y", "x"), proc("z", "y", "x"), proc("self", "s", "self"), sink("out", "z", "self")},
			want:  []string{"cycle: x → z → x", "cycle: self → self"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, p := range Check(tt.nodes) {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

func TestCheckPointsAtTheInput(t *testing.T) {
	ps := Check([]Node{src("s"), sink("out", "s", "nope"), deadLetter(sink("dlq", "s"), "gone")})
	if len(ps) != 2 {
		t.Fatalf("problems %v", ps)
	}
	if p := ps[0]; p.Rule != UnknownInput || p.Node != "out" || p.Kind != wire.KindSink || p.Input != 1 || p.Ref != "nope" {
		t.Errorf("unknown input reported as %+v", p)
	}
	if p := ps[1]; p.Rule != UnknownDeadLetter || p.Input != -1 || p.Ref != "gone" {
		t.Errorf("unknown dead letter reported as %+v", p)
	}
}

func TestOrder(t *testing.T) {
	// Of the nodes ready, the one given first goes first (b, once a is
	// placed, before c); a dead-letter sink comes after its feeders.
	nodes := []Node{sink("dlq"), deadLetter(sink("out", "b", "a"), "dlq"), proc("b", "a"), src("a"), src("c"), sink("out2", "c")}
	order, stuck := Order(nodes)
	if want := []string{"a", "b", "out", "dlq", "c", "out2"}; !slices.Equal(order, want) || stuck != nil {
		t.Errorf("Order = %v, %v; want %v and nothing stuck", order, stuck, want)
	}
	_, stuck = Order([]Node{src("s"), proc("x", "s", "y"), proc("y", "x"), sink("out", "y"), sink("fine", "s")})
	if want := []string{"x", "y", "out"}; !slices.Equal(stuck, want) {
		t.Errorf("unordered %v, want %v (on or downstream of the cycle)", stuck, want)
	}
}
