package router

import (
	"strings"
	"testing"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestNewValidates(t *testing.T) {
	src := &pipe[*flowctlv1.SourceRequest, *flowctlv1.SourceResponse]{}
	proc := &pipe[*flowctlv1.ProcessRequest, *flowctlv1.ProcessResponse]{}
	sink := &pipe[*flowctlv1.SinkRequest, *flowctlv1.SinkAck]{}
	tests := []struct {
		name  string
		nodes []Node
		opts  Options
		want  string // substring of the error; empty: valid
	}{
		{
			name: "valid diamond",
			nodes: []Node{
				{Name: "source.a", Streams: Streams{Source: src}},
				{Name: "processor.l", Inputs: []string{"source.a"}, Streams: Streams{Processor: proc}},
				{Name: "processor.r", Inputs: []string{"source.a"}, Streams: Streams{Processor: proc}},
				{Name: "sink.out", Inputs: []string{"processor.l", "processor.r"}, Streams: Streams{Sink: sink}},
			},
		},
		{name: "no nodes", want: "router: no nodes"},
		{
			name:  "negative MaxInFlight",
			nodes: []Node{{Name: "source.a", Streams: Streams{Source: src}}, {Name: "sink.b", Inputs: []string{"source.a"}, Streams: Streams{Sink: sink}}},
			opts:  Options{MaxInFlight: -1},
			want:  "MaxInFlight -1 out of range",
		},
		{
			name:  "huge MaxInFlight",
			nodes: []Node{{Name: "source.a", Streams: Streams{Source: src}}, {Name: "sink.b", Inputs: []string{"source.a"}, Streams: Streams{Sink: sink}}},
			opts:  Options{MaxInFlight: 1 << 20},
			want:  "MaxInFlight 1048576 out of range 1..65536",
		},
		{
			name:  "duplicate name",
			nodes: []Node{{Name: "source.a", Streams: Streams{Source: src}}, {Name: "source.a", Streams: Streams{Source: src}}},
			want:  `node "source.a": name used more than once`,
		},
		{
			name:  "empty name",
			nodes: []Node{{Streams: Streams{Source: src}}},
			want:  "node with an empty name",
		},
		{
			name:  "no stream",
			nodes: []Node{{Name: "source.a"}},
			want:  `node "source.a": 0 streams set, want exactly one`,
		},
		{
			name:  "two streams",
			nodes: []Node{{Name: "source.a", Streams: Streams{Source: src, Sink: sink}}},
			want:  `node "source.a": 2 streams set`,
		},
		{
			name:  "unknown input",
			nodes: []Node{{Name: "source.a", Streams: Streams{Source: src}}, {Name: "sink.b", Inputs: []string{"source.a", "source.x"}, Streams: Streams{Sink: sink}}},
			want:  `node "sink.b": unknown input "source.x"`,
		},
		{
			name:  "input listed twice",
			nodes: []Node{{Name: "source.a", Streams: Streams{Source: src}}, {Name: "sink.b", Inputs: []string{"source.a", "source.a"}, Streams: Streams{Sink: sink}}},
			want:  `node "sink.b": input "source.a" listed more than once`,
		},
		{
			name: "sink as input",
			nodes: []Node{
				{Name: "source.a", Streams: Streams{Source: src}},
				{Name: "sink.b", Inputs: []string{"source.a"}, Streams: Streams{Sink: sink}},
				{Name: "sink.c", Inputs: []string{"sink.b"}, Streams: Streams{Sink: sink}},
			},
			want: `node "sink.c": input "sink.b" is a sink`,
		},
		{
			name:  "sink without input",
			nodes: []Node{{Name: "source.a", Streams: Streams{Source: src}}, {Name: "sink.b", Inputs: []string{"source.a"}, Streams: Streams{Sink: sink}}, {Name: "sink.c", Streams: Streams{Sink: sink}}},
			want:  `node "sink.c": a sink needs at least one input`,
		},
		{
			name:  "source with input",
			nodes: []Node{{Name: "source.a", Streams: Streams{Source: src}}, {Name: "source.b", Inputs: []string{"source.a"}, Streams: Streams{Source: src}}},
			want:  `node "source.b": a source has no inputs`,
		},
		{
			name:  "source nobody reads",
			nodes: []Node{{Name: "source.a", Streams: Streams{Source: src}}, {Name: "source.b", Streams: Streams{Source: src}}, {Name: "sink.c", Inputs: []string{"source.a"}, Streams: Streams{Sink: sink}}},
			want:  `node "source.b": no node reads its output`,
		},
		{
			name: "open on a sink",
			nodes: []Node{
				{Name: "source.a", Streams: Streams{Source: src}},
				{Name: "sink.b", Inputs: []string{"source.a"}, Streams: Streams{Sink: sink}, Open: &flowctlv1.SourceOpen{}},
			},
			want: `node "sink.b": Open is only for sources`,
		},
		{
			name: "cycle",
			nodes: []Node{
				{Name: "source.a", Streams: Streams{Source: src}},
				{Name: "processor.x", Inputs: []string{"source.a", "processor.y"}, Streams: Streams{Processor: proc}},
				{Name: "processor.y", Inputs: []string{"processor.x"}, Streams: Streams{Processor: proc}},
				{Name: "sink.c", Inputs: []string{"processor.y"}, Streams: Streams{Sink: sink}},
			},
			want: `router: cycle: nodes ["processor.x" "processor.y" "sink.c"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.nodes, tt.opts)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v, want no error", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
