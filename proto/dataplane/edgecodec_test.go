package dataplane

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// The edge codec writes the bytes proto writes, and reads back what it
// wrote, whether a batch arrives in one buffer or many.
func TestEdgeCodecMatchesProto(t *testing.T) {
	codec := encoding.GetCodecV2("proto")
	if _, ok := codec.(edgeCodec); !ok {
		t.Fatalf("the proto codec is %T, not the edge codec", codec)
	}
	events := bytes.Repeat([]byte{0x0a, 0x03, 'a', 'b', 'c'}, 2000)
	msgs := map[string]*flowctlv1.EdgeMessage{
		"batch": {Msg: &flowctlv1.EdgeMessage_Batch{Batch: &flowctlv1.EdgeBatch{
			Ticket: &flowctlv1.Ticket{Source: 3, Epoch: 2, Seq: 1 << 40}, Weight: 1 << 62,
			Batch: &flowctlv1.Batch{Count: 2000, Events: events},
		}}},
		"zeros": {Msg: &flowctlv1.EdgeMessage_Batch{Batch: &flowctlv1.EdgeBatch{
			Ticket: &flowctlv1.Ticket{}, Batch: &flowctlv1.Batch{Events: events},
		}}},
		"no ticket": {Msg: &flowctlv1.EdgeMessage_Batch{Batch: &flowctlv1.EdgeBatch{
			Weight: 7, Batch: &flowctlv1.Batch{Count: 1, Events: events},
		}}},
		"small": {Msg: &flowctlv1.EdgeMessage_Batch{Batch: &flowctlv1.EdgeBatch{
			Ticket: &flowctlv1.Ticket{Seq: 1}, Batch: &flowctlv1.Batch{Count: 1, Events: events[:5]},
		}}},
		"hello": {Msg: &flowctlv1.EdgeMessage_Hello{Hello: &flowctlv1.EdgeHello{From: 1, To: 2}}},
	}
	for name, m := range msgs {
		t.Run(name, func(t *testing.T) {
			data, err := codec.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got := data.Materialize()
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("the codec wrote %d bytes unlike proto's %d", len(got), len(want))
			}
			for _, split := range []int{len(got), 1000, 7} {
				var in mem.BufferSlice
				for b := got; len(b) > 0; b = b[min(split, len(b)):] {
					in = append(in, mem.SliceBuffer(b[:min(split, len(b))]))
				}
				back := &flowctlv1.EdgeMessage{Msg: &flowctlv1.EdgeMessage_Hello{Hello: &flowctlv1.EdgeHello{From: 9}}}
				if err := codec.Unmarshal(in, back); err != nil {
					t.Fatal(err)
				}
				if !proto.Equal(back, m) {
					t.Fatalf("read back %v, want %v", back, m)
				}
			}
		})
	}
}

// A message the codec does not write itself (fields repeated, out of
// order, unknown) is still read as proto reads it.
func TestEdgeCodecReadsAnyEncoding(t *testing.T) {
	events := bytes.Repeat([]byte{'x'}, 5000)
	m := &flowctlv1.EdgeMessage{Msg: &flowctlv1.EdgeMessage_Batch{Batch: &flowctlv1.EdgeBatch{
		Ticket: &flowctlv1.Ticket{Seq: 5}, Weight: 3, Batch: &flowctlv1.Batch{Count: 1, Events: events},
	}}}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	// The same batch field again (proto merges it) and an unknown field.
	extra, err := proto.Marshal(&flowctlv1.EdgeMessage{Msg: &flowctlv1.EdgeMessage_Batch{Batch: &flowctlv1.EdgeBatch{Weight: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	b = append(append(b, extra...), 0x78, 0x01) // field 15, varint 1
	want := &flowctlv1.EdgeMessage{}
	if err := proto.Unmarshal(b, want); err != nil {
		t.Fatal(err)
	}
	got := &flowctlv1.EdgeMessage{}
	if err := (edgeCodec{CodecV2: encoding.GetCodecV2("proto")}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, want) || got.GetBatch().GetWeight() != 4 {
		t.Fatalf("read %v, want %v", got, want)
	}
}
