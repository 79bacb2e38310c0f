package dataplane

import (
	"strings"
	"unsafe"

	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// edgeCodec is gRPC's proto codec with a shorter path for the one message
// that carries batches between plugins, EdgeMessage. gRPC's codec copies a
// batch twice on the way in (its frames into one pooled buffer, then proto
// copies the events field out of that into a fresh, allocated one) and
// once more on the way out (proto writes the whole batch into a pooled
// buffer); together a tenth of a sink's CPU. This codec reads a batch's
// frames once, into a buffer the message then owns (its events alias it),
// and writes a batch's events as they are, after a header it encodes
// itself. Every other message, and an EdgeMessage it does not recognise
// field by field, goes through gRPC's codec unchanged: the bytes on the
// wire are the same either way.
//
// The codec replaces "proto" process-wide, in the host and in every
// plugin, because gRPC looks codecs up by name. What it asks of callers
// is what the data plane does anyway: an EdgeBatch's events are not
// modified once sent (the transport writes them after Send returns), and
// a received batch's events are never modified.
type edgeCodec struct {
	encoding.CodecV2
}

func init() {
	encoding.RegisterCodecV2(edgeCodec{CodecV2: encoding.GetCodecV2(grpcproto.Name)})
}

// Field numbers of EdgeMessage, EdgeBatch, Ticket and Batch.
const (
	fieldEdgeBatch   = 2 // EdgeMessage.batch
	fieldTicket      = 1 // EdgeBatch.ticket
	fieldWeight      = 2 // EdgeBatch.weight
	fieldBatch       = 3 // EdgeBatch.batch
	fieldSource      = 1 // Ticket.source
	fieldEpoch       = 2 // Ticket.epoch
	fieldSeq         = 3 // Ticket.seq
	fieldCount       = 1 // Batch.count
	fieldBatchEvents = 2 // Batch.events
)

func (c edgeCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*flowctlv1.EdgeMessage)
	if !ok || m.GetBatch() == nil || len(m.GetBatch().GetBatch().GetEvents()) < edgeCodecMin {
		return c.CodecV2.Marshal(v)
	}
	eb := m.GetBatch()
	events := eb.GetBatch().GetEvents()
	var batch []byte // Batch without its events' bytes
	if n := eb.GetBatch().GetCount(); n != 0 {
		batch = protowire.AppendTag(batch, fieldCount, protowire.VarintType)
		batch = protowire.AppendVarint(batch, uint64(n))
	}
	batch = protowire.AppendTag(batch, fieldBatchEvents, protowire.BytesType)
	batch = protowire.AppendVarint(batch, uint64(len(events)))
	batchSize := len(batch) + len(events)

	var ticket []byte
	if t := eb.GetTicket(); t != nil {
		ticket = appendVarintField(ticket, fieldSource, uint64(t.GetSource()))
		ticket = appendVarintField(ticket, fieldEpoch, uint64(t.GetEpoch()))
		ticket = appendVarintField(ticket, fieldSeq, t.GetSeq())
	}
	edge := make([]byte, 0, 64)
	if eb.GetTicket() != nil {
		edge = protowire.AppendTag(edge, fieldTicket, protowire.BytesType)
		edge = protowire.AppendBytes(edge, ticket)
	}
	edge = appendVarintField(edge, fieldWeight, eb.GetWeight())
	edge = protowire.AppendTag(edge, fieldBatch, protowire.BytesType)
	edge = protowire.AppendVarint(edge, uint64(batchSize))
	edgeSize := len(edge) + batchSize

	hdr := make([]byte, 0, len(edge)+len(batch)+12)
	hdr = protowire.AppendTag(hdr, fieldEdgeBatch, protowire.BytesType)
	hdr = protowire.AppendVarint(hdr, uint64(edgeSize))
	hdr = append(append(hdr, edge...), batch...)
	return mem.BufferSlice{mem.SliceBuffer(hdr), mem.SliceBuffer(events)}, nil
}

// edgeCodecMin is the smallest batch the codec writes itself; below it
// gRPC's copy costs nothing worth a second buffer.
const edgeCodecMin = 4 << 10

func appendVarintField(b []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return b // proto3 omits zero
	}
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func (c edgeCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(*flowctlv1.EdgeMessage)
	if !ok || data.Len() < edgeCodecMin {
		return c.CodecV2.Unmarshal(data, v)
	}
	b := ownedCopy(data)
	eb, ok := parseEdgeBatch(b)
	if !ok {
		return proto.Unmarshal(b, m)
	}
	proto.Reset(m)
	m.Msg = &flowctlv1.EdgeMessage_Batch{Batch: eb}
	return nil
}

// ownedCopy copies data into a new buffer that nothing else references. It
// is allocated without being zeroed first (strings.Builder's Grow does
// that), since every byte is written; it is read only ever after, as the
// events of a received batch are.
func ownedCopy(data mem.BufferSlice) []byte {
	var sb strings.Builder
	sb.Grow(data.Len())
	for _, buf := range data {
		sb.Write(buf.ReadOnlyData())
	}
	s := sb.String()
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// parseEdgeBatch reads an EdgeMessage holding a batch, written as proto
// writes one: each field once, in field order, none unknown. Anything else
// is left to proto (ok false).
func parseEdgeBatch(b []byte) (eb *flowctlv1.EdgeBatch, ok bool) {
	msg, ok := onlyField(b, fieldEdgeBatch)
	if !ok {
		return nil, false
	}
	eb = &flowctlv1.EdgeBatch{}
	last := protowire.Number(0)
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 || num <= last {
			return nil, false
		}
		last, msg = num, msg[n:]
		switch {
		case num == fieldTicket && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return nil, false
			}
			msg = msg[n:]
			if eb.Ticket, ok = parseTicket(v); !ok {
				return nil, false
			}
		case num == fieldWeight && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(msg)
			if n < 0 {
				return nil, false
			}
			msg, eb.Weight = msg[n:], v
		case num == fieldBatch && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(msg)
			if n < 0 {
				return nil, false
			}
			msg = msg[n:]
			if eb.Batch, ok = parseBatch(v); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	return eb, true
}

// onlyField returns the value of b's length-delimited field num when it is
// b's only field.
func onlyField(b []byte, num protowire.Number) ([]byte, bool) {
	got, typ, n := protowire.ConsumeTag(b)
	if n < 0 || got != num || typ != protowire.BytesType {
		return nil, false
	}
	v, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return nil, false
	}
	return v, true
}

func parseTicket(b []byte) (*flowctlv1.Ticket, bool) {
	t := &flowctlv1.Ticket{}
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last || typ != protowire.VarintType || num > fieldSeq {
			return nil, false
		}
		v, m := protowire.ConsumeVarint(b[n:])
		if m < 0 {
			return nil, false
		}
		last, b = num, b[n+m:]
		switch num {
		case fieldSource:
			t.Source = uint32(v)
		case fieldEpoch:
			t.Epoch = uint32(v)
		case fieldSeq:
			t.Seq = v
		}
	}
	return t, true
}

func parseBatch(b []byte) (*flowctlv1.Batch, bool) {
	out := &flowctlv1.Batch{}
	last := protowire.Number(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || num <= last {
			return nil, false
		}
		last, b = num, b[n:]
		switch {
		case num == fieldCount && typ == protowire.VarintType:
			v, m := protowire.ConsumeVarint(b)
			if m < 0 {
				return nil, false
			}
			out.Count, b = uint32(v), b[m:]
		case num == fieldBatchEvents && typ == protowire.BytesType:
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, false
			}
			out.Events, b = v, b[m:]
		default:
			return nil, false
		}
	}
	return out, true
}
