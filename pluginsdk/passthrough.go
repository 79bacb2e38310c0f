package pluginsdk

import (
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// A processor's outputs are mostly its inputs with a little changed: the
// transform adds an attribute and touches nothing else. Encoding such an
// output field by field was a fifth of a transform's CPU, while its bytes,
// but for the added attributes, are in the batch it arrived in. received
// keeps what tells such an output apart, and an output that is its input
// with attributes at most appended is written as the input's bytes followed
// by the new attributes' entries.
//
// The added entries then come after the event's data field rather than
// before it. A proto decoder reads fields in any order and a map's entries
// in wire order, so every reader, this SDK's included, decodes the same
// event either way.

// received records where each event of the batch a processor decoded lies
// in its bytes, and the strings each of its attributes was decoded as. A
// processor may change an event's attributes in place (SetAttribute on one
// it has), so comparing an output's attributes with the input's would not
// do: both are the same memory.
type received struct {
	events []receivedEvent // one per decoded event
	attrs  []attrOrigin    // every event's kept attributes, in order
}

// receivedEvent is one event's bytes, batch[start:end], and where its
// attributes begin in received.attrs.
type receivedEvent struct {
	start, end, attrs int
}

// attrOrigin identifies an attribute's key and value as decoded: the
// address and length of their bytes in the batch. The addresses are only
// compared, never followed; the batch outlives every use (decoder.decode).
type attrOrigin struct {
	key, value       uintptr
	keyLen, valueLen int
}

func originOf(k, v string) attrOrigin {
	return attrOrigin{key: addr(k), value: addr(v), keyLen: len(k), valueLen: len(v)}
}

func addr(s string) uintptr { return uintptr(unsafe.Pointer(unsafe.StringData(s))) }

func (r *received) reset() {
	r.events = r.events[:0]
	r.attrs = r.attrs[:0]
}

// passThrough reports whether e, an output of input i (in), is that input
// with attributes at most appended: its first len(in.Attributes) attributes
// are the decoded ones and the rest are added. Any other change — a field
// set, an attribute set, removed or reordered, the attributes moved to a
// new slice — and e is encoded as usual.
func (r *received) passThrough(e, in *Event, i int) bool {
	if !sameString(e.ID, in.ID) || !sameString(e.Type, in.Type) ||
		!sameString(e.ContentType, in.ContentType) || !sameBytes(e.Key, in.Key) ||
		!sameBytes(e.Data, in.Data) || e.Time != in.Time {
		return false
	}
	n := len(in.Attributes)
	if len(e.Attributes) < n {
		return false
	}
	if n == 0 {
		return true
	}
	if &e.Attributes[0] != &in.Attributes[0] {
		return false
	}
	first := r.events[i].attrs
	for j, o := range r.attrs[first : first+n] {
		if originOf(e.Attributes[j].Key, e.Attributes[j].Value) != o {
			return false
		}
	}
	return true
}

// sameString reports whether a and b are the same bytes in memory, which
// for a decoded event's strings means unchanged.
func sameString(a, b string) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.StringData(a) == unsafe.StringData(b))
}

func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || unsafe.SliceData(a) == unsafe.SliceData(b))
}

// encodeOutputs encodes a processor's outputs, out[j] emitted for input
// from[j] of in, decoded from batch with rec, into a buffer of their exact
// size (encodeRecords). plan is scratch space, returned for the next call.
func encodeOutputs(batch []byte, rec *received, in, out []Event, from []int, plan []outPlan) ([]byte, []outPlan) {
	plan = plan[:0]
	total := 0
	for j := range out {
		e, i := &out[j], from[j]
		p := outPlan{passed: rec.passThrough(e, &in[i], i)}
		if p.passed {
			ev := rec.events[i]
			p.size = ev.end - ev.start
			for _, a := range e.Attributes[len(in[i].Attributes):] {
				p.size += attributeSize(a)
			}
		} else {
			p.size = eventSize(e)
		}
		plan = append(plan, p)
		total += 1 + protowire.SizeVarint(uint64(p.size)) + p.size
	}
	dst := unzeroed(total)
	for j, p := range plan {
		dst = appendLen(dst, tagEvent, p.size)
		if !p.passed {
			dst = appendEvent(dst, &out[j])
			continue
		}
		i := from[j]
		ev := rec.events[i]
		dst = append(dst, batch[ev.start:ev.end]...)
		for _, a := range out[j].Attributes[len(in[i].Attributes):] {
			dst = appendAttribute(dst, a)
		}
	}
	return dst, plan
}

// outPlan is how encodeOutputs writes one output: size bytes, either
// (passed) its input's received bytes followed by the attributes it added,
// or encoded field by field.
type outPlan struct {
	size   int
	passed bool
}
