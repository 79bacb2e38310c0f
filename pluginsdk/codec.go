package pluginsdk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flowctl/flowctl/proto/wire"
)

// The wire form of a batch is an EventList message of plugin.proto. The SDK
// writes and reads it without building proto messages: encoding is one
// pass to size each event and one to write it, both linear in its
// attributes; decoding aliases the batch instead of copying it.

// Field numbers of the Event and EventList messages in plugin.proto.
const (
	fieldEventList   = 1
	fieldID          = 1
	fieldType        = 2
	fieldTime        = 3
	fieldKey         = 4
	fieldAttributes  = 5
	fieldContentType = 6
	fieldData        = 7
	fieldMapKey      = 1
	fieldMapValue    = 2
)

// errMalformedBatch is returned when batch bytes are not a valid EventList.
var errMalformedBatch = errors.New("malformed event batch")

// encodeRecords encodes the records' events into a buffer of their exact
// size: under protocol 2 a batch's buffer leaves with it (the runtime keeps
// it until its ticket is released), so each batch needs its own, and
// growing one by appending cost a fifth of a transform's CPU. The events
// are read where they are, not copied out of the records first (and the
// copies cleared after). sizes is scratch space for the events' sizes,
// returned for the next call.
func encodeRecords(recs []Record, sizes []int) ([]byte, []int) {
	sizes = sizes[:0]
	total := 0
	for i := range recs {
		size := eventSize(&recs[i].Event)
		sizes = append(sizes, size)
		total += 1 + protowire.SizeVarint(uint64(size)) + size
	}
	dst := unzeroed(total)
	for i := range recs {
		dst = appendLen(dst, tagEvent, sizes[i])
		dst = appendEvent(dst, &recs[i].Event)
	}
	return dst, sizes
}

// unzeroed returns an empty buffer with room for n bytes, allocated
// without zeroing it: a batch's encoding writes every byte, and zeroing
// each batch's fresh buffer first cost a twentieth of a transform's CPU.
// strings.Builder's Grow is the standard library's allocation without
// zeroing; the builder is dropped at once, so the buffer is the caller's
// alone, and nothing reads the string it would have held.
func unzeroed(n int) []byte {
	if n == 0 {
		return nil
	}
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteByte(0)
	return unsafe.Slice(unsafe.StringData(sb.String()), n)[:0]
}

// appendEvents appends the wire encoding of an EventList holding events to
// dst. Attributes are written in slice order; for attributes in key order
// that is byte for byte what a deterministic proto.Marshal writes.
func appendEvents(dst []byte, events []Event) []byte {
	for i := range events {
		e := &events[i]
		dst = appendLen(dst, tagEvent, eventSize(e))
		dst = appendEvent(dst, e)
	}
	return dst
}

// Tags of the Event fields the encoder writes.
const (
	tagID          = fieldID<<3 | byte(protowire.BytesType)
	tagType        = fieldType<<3 | byte(protowire.BytesType)
	tagKey         = fieldKey<<3 | byte(protowire.BytesType)
	tagAttribute   = fieldAttributes<<3 | byte(protowire.BytesType)
	tagContentType = fieldContentType<<3 | byte(protowire.BytesType)
	tagData        = fieldData<<3 | byte(protowire.BytesType)
	tagMapKey      = fieldMapKey<<3 | byte(protowire.BytesType)
	tagMapValue    = fieldMapValue<<3 | byte(protowire.BytesType)
)

func appendEvent(dst []byte, e *Event) []byte {
	dst = appendString(dst, tagID, e.ID)
	dst = appendString(dst, tagType, e.Type)
	if ns := unixNano(e.Time); ns != 0 {
		dst = protowire.AppendVarint(append(dst, tagTime), uint64(ns))
	}
	dst = appendBytes(dst, tagKey, e.Key)
	for _, a := range e.Attributes {
		dst = appendAttribute(dst, a)
	}
	dst = appendString(dst, tagContentType, e.ContentType)
	return appendBytes(dst, tagData, e.Data)
}

// appendAttribute appends a as an entry of the attributes map.
func appendAttribute(dst []byte, a Attribute) []byte {
	dst = appendLen(dst, tagAttribute, mapEntrySize(a.Key, a.Value))
	dst = append(appendLen(dst, tagMapKey, len(a.Key)), a.Key...)
	return append(appendLen(dst, tagMapValue, len(a.Value)), a.Value...)
}

// attributeSize is the encoded size of a as an entry of the attributes map.
func attributeSize(a Attribute) int {
	return protowire.SizeTag(fieldAttributes) + protowire.SizeBytes(mapEntrySize(a.Key, a.Value))
}

func eventSize(e *Event) int {
	n := lenFieldSize(fieldID, len(e.ID)) + lenFieldSize(fieldType, len(e.Type))
	if ns := unixNano(e.Time); ns != 0 {
		n += protowire.SizeTag(fieldTime) + protowire.SizeVarint(uint64(ns))
	}
	n += lenFieldSize(fieldKey, len(e.Key))
	for _, a := range e.Attributes {
		n += attributeSize(a)
	}
	n += lenFieldSize(fieldContentType, len(e.ContentType))
	return n + lenFieldSize(fieldData, len(e.Data))
}

// mapEntrySize is the size of a map entry message. Like proto.Marshal, key
// and value are written even when empty.
func mapEntrySize(k, v string) int {
	return protowire.SizeTag(fieldMapKey) + protowire.SizeBytes(len(k)) +
		protowire.SizeTag(fieldMapValue) + protowire.SizeBytes(len(v))
}

// lenFieldSize is the encoded size of a length-delimited field holding n
// bytes; proto3 omits empty ones.
func lenFieldSize(num protowire.Number, n int) int {
	if n == 0 {
		return 0
	}
	return protowire.SizeTag(num) + protowire.SizeBytes(n)
}

// appendLen appends a length-delimited field's tag and length n.
func appendLen(dst []byte, tag byte, n int) []byte {
	if n < 0x80 {
		return append(dst, tag, byte(n))
	}
	return protowire.AppendVarint(append(dst, tag), uint64(n))
}

// appendString appends a string field; proto3 omits an empty one.
func appendString(dst []byte, tag byte, s string) []byte {
	if s == "" {
		return dst
	}
	return append(appendLen(dst, tag, len(s)), s...)
}

func appendBytes(dst []byte, tag byte, b []byte) []byte {
	if len(b) == 0 {
		return dst
	}
	return append(appendLen(dst, tag, len(b)), b...)
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// decoder reads batches. It hands out attributes from an arena, so a batch
// costs a few allocations rather than one per event: every event's
// Attributes is its own stretch of the arena with one spare slot, capped
// there, so that appending to it never overwrites its neighbour. What the decoder handed
// out is never written again; a stream keeps one decoder for all its
// batches.
type decoder struct {
	arena []Attribute
	// cur and last are how many attributes this batch and the previous
	// one took: a new arena holds a batch like the last one, or twice what
	// this one took so far, so a batch costs O(log n) allocations at most.
	cur, last int
	// rec, when set, records where each event was (a processor's, for
	// passThrough).
	rec *received
}

// invalidEvent is an event of a batch that may not enter the component.
type invalidEvent struct {
	index int
	err   error
}

// decode appends the events encoded in b (an EventList) to dst, and lists
// those that break the event limits or carry invalid UTF-8 in invalid:
// they are decoded, but must not be handed to the component. An error means
// b is not an EventList at all.
//
// The events alias b: their strings (id, type, content type, attribute keys
// and values), Key and Data point into it rather than into copies, which
// saves most of decoding's cost. b must therefore never be modified while
// any event, or anything taken from one, is in use. The SDK decodes only
// batches it received and never reuses their memory.
func (d *decoder) decode(b []byte, dst []Event, invalid []invalidEvent) ([]Event, []invalidEvent, error) {
	d.cur = 0
	defer func() { d.last = d.cur }()
	if d.rec != nil {
		d.rec.reset()
	}
	whole := len(b)
	for len(b) > 0 {
		var msg []byte
		if l, n := wire.ConsumeVarint(b[1:]); b[0] == tagEvent && n > 0 && l <= uint64(len(b)-1-n) {
			// An event, with its one-byte tag: the common case.
			msg, b = b[1+n:1+n+int(l)], b[1+n+int(l):]
		} else {
			num, typ, n := protowire.ConsumeTag(b)
			if n < 0 {
				return dst, invalid, fmt.Errorf("%w: %w", errMalformedBatch, protowire.ParseError(n))
			}
			b = b[n:]
			if num != fieldEventList || typ != protowire.BytesType {
				n = protowire.ConsumeFieldValue(num, typ, b)
				if n < 0 {
					return dst, invalid, fmt.Errorf("%w: %w", errMalformedBatch, protowire.ParseError(n))
				}
				b = b[n:]
				continue
			}
			if msg, n = protowire.ConsumeBytes(b); n < 0 {
				return dst, invalid, fmt.Errorf("%w: %w", errMalformedBatch, protowire.ParseError(n))
			}
			b = b[n:]
		}
		dst = append(dst, Event{})
		e := &dst[len(dst)-1]
		ev := eventDecode{d: d, start: len(d.arena)}
		if d.rec != nil {
			end := whole - len(b)
			d.rec.events = append(d.rec.events, receivedEvent{start: end - len(msg), end: end, attrs: len(d.rec.attrs)})
		}
		if err := ev.event(msg, e); err != nil {
			return dst, invalid, fmt.Errorf("%w: event %d: %w", errMalformedBatch, len(dst)-1, err)
		}
		if ev.count > 0 {
			// One spare slot past the event's attributes, its own: a
			// processor that adds one attribute does so without a copy.
			ev.grow()
			end := len(d.arena)
			d.arena = d.arena[:end+1]
			e.Attributes = d.arena[ev.start : end : end+1]
			d.cur += len(e.Attributes) + 1
		}
		err := ev.tooLarge()
		if err == nil && ev.text.mayBeInvalid(msg) {
			err = e.checkUTF8()
		}
		if err != nil {
			invalid = append(invalid, invalidEvent{index: len(dst) - 1, err: err})
		}
	}
	return dst, invalid, nil
}

// Tags (field number and wire type, one byte each) of the fields the
// decoder reads without protowire's general path.
const (
	tagEvent = fieldEventList<<3 | byte(protowire.BytesType)
	tagTime  = fieldTime<<3 | byte(protowire.VarintType)
)

// textRuns tracks the bytes of an event's string fields (id, type,
// attributes, content type) as runs of adjacent fields, tags and lengths
// included: an encoder writes them next to each other, so an event has one
// or two runs. A run of ASCII bytes holds valid UTF-8 strings only, which
// spares checking each string on its own; only an event with some other
// byte there is checked string by string.
type textRuns struct {
	start, end int // the current run, offsets into the event's bytes
	other      bool
}

// add adds the field at b[hdr:end] (its tag to its last byte).
func (r *textRuns) add(b []byte, hdr, end int) {
	if hdr != r.end {
		r.flush(b)
		r.start = hdr
	}
	r.end = end
}

func (r *textRuns) flush(b []byte) {
	if !r.other && !isASCII(b[r.start:r.end]) {
		r.other = true
	}
}

// mayBeInvalid reports whether the string fields of the event encoded in b
// hold a byte outside ASCII.
func (r *textRuns) mayBeInvalid(b []byte) bool {
	r.flush(b)
	return r.other
}

// isASCII reports whether every byte of b is below 0x80, sixteen at a
// time. The last bytes are read as the eight that end b, overlapping what
// was read before: a byte loop for the tail cost as much as the rest.
func isASCII(b []byte) bool {
	if len(b) < 8 {
		for _, c := range b {
			if c >= 0x80 {
				return false
			}
		}
		return true
	}
	all := b
	var seen uint64
	for len(b) > 16 {
		seen |= binary.LittleEndian.Uint64(b) | binary.LittleEndian.Uint64(b[8:])
		b = b[16:]
	}
	if len(b) > 8 {
		seen |= binary.LittleEndian.Uint64(b)
	}
	seen |= binary.LittleEndian.Uint64(all[len(all)-8:])
	return seen&0x8080808080808080 == 0
}

// eventDecode is the state of decoding one event.
type eventDecode struct {
	d     *decoder
	start int // the event's first attribute in d.arena
	count int // attributes seen, kept or not
	size  int // bytes of the attributes seen
	text  textRuns
}

func (ev *eventDecode) tooLarge() error {
	switch {
	case ev.count > wire.MaxAttributes:
		return fmt.Errorf("%w: %d attributes, at most %d", ErrEventTooLarge, ev.count, wire.MaxAttributes)
	case ev.size > wire.MaxAttributeBytes:
		return fmt.Errorf("%w: attributes of %d bytes, at most %d", ErrEventTooLarge, ev.size, wire.MaxAttributeBytes)
	}
	return nil
}

// attribute adds an attribute to the event; past the limits it is only
// counted, so a hostile batch costs no memory beyond the limits.
func (ev *eventDecode) attribute(k, v string) {
	ev.count++
	ev.size += len(k) + len(v)
	if ev.count > wire.MaxAttributes || ev.size > wire.MaxAttributeBytes {
		return
	}
	if len(ev.d.arena) == cap(ev.d.arena) {
		ev.grow()
	}
	ev.d.arena = append(ev.d.arena, Attribute{Key: k, Value: v})
	if r := ev.d.rec; r != nil {
		r.attrs = append(r.attrs, originOf(k, v))
	}
}

// grow makes room for one more attribute of the event in the arena, moving
// the event's attributes so far to a new arena when the current one is
// full.
func (ev *eventDecode) grow() {
	d := ev.d
	if len(d.arena) < cap(d.arena) {
		return
	}
	have := len(d.arena) - ev.start
	grown := make([]Attribute, have, max(256, 2*have+2, d.last, 2*d.cur))
	copy(grown, d.arena[ev.start:])
	d.arena, ev.start = grown, 0
}

// event decodes the Event message b into e. A field with a one-byte tag
// and a length below 128 (every field an encoder writes for a typical
// event) takes the short path; everything else protowire's, in other.
func (ev *eventDecode) event(b []byte, e *Event) error {
	for at := 0; at < len(b); {
		tag := b[at]
		if tag == tagTime {
			v, n := wire.ConsumeVarint(b[at+1:])
			if n < 0 {
				return protowire.ParseError(n)
			}
			e.Time = time.Unix(0, int64(v))
			at += 1 + n
			continue
		}
		if tag < tagID || tag > tagData || tag&7 != byte(protowire.BytesType) || at+1 == len(b) || b[at+1] >= 0x80 {
			next, err := ev.other(b, at, e)
			if err != nil {
				return err
			}
			at = next
			continue
		}
		hdr, start := at, at+2
		end := start + int(b[at+1])
		if end > len(b) {
			_, n := protowire.ConsumeBytes(b[at+1:]) // for its error
			return protowire.ParseError(n)
		}
		at = end
		if err := ev.field(e, tag, b[start:end]); err != nil {
			return err
		}
		if tag != tagKey && tag != tagData {
			ev.text.add(b, hdr, at)
		}
	}
	return nil
}

// other decodes the field at b[at:] the general way and returns where the
// next one begins.
func (ev *eventDecode) other(b []byte, at int, e *Event) (int, error) {
	hdr := at
	num, typ, n := protowire.ConsumeTag(b[at:])
	if n < 0 {
		return 0, protowire.ParseError(n)
	}
	at += n
	switch {
	case typ == protowire.BytesType && num >= fieldID && num <= fieldData:
		l, n := wire.ConsumeVarint(b[at:])
		if n < 0 || l > uint64(len(b)-at-n) {
			_, n = protowire.ConsumeBytes(b[at:]) // for its error
			return 0, protowire.ParseError(n)
		}
		v := b[at+n : at+n+int(l)]
		at += n + int(l)
		tag := byte(num<<3) | byte(protowire.BytesType)
		if err := ev.field(e, tag, v); err != nil {
			return 0, err
		}
		if num != fieldKey && num != fieldData {
			ev.text.add(b, hdr, at)
		}
	case num == fieldTime && typ == protowire.VarintType:
		v, n := wire.ConsumeVarint(b[at:])
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		e.Time = time.Unix(0, int64(v))
		at += n
	default:
		n := protowire.ConsumeFieldValue(num, typ, b[at:])
		if n < 0 {
			return 0, protowire.ParseError(n)
		}
		at += n
	}
	return at, nil
}

// field sets the length-delimited field with tag to v.
func (ev *eventDecode) field(e *Event, tag byte, v []byte) error {
	switch tag {
	case tagID:
		e.ID = aliasString(v)
	case tagType:
		e.Type = aliasString(v)
	case tagKey:
		e.Key = v
	case tagAttribute:
		k, val, err := mapEntry(v)
		if err != nil {
			return err
		}
		ev.attribute(aliasString(k), aliasString(val))
	case tagContentType:
		e.ContentType = aliasString(v)
	case tagData:
		e.Data = v
	}
	return nil
}

// mapEntry is wire.MapEntry with a short path for an entry written as
// encoders write it: key, then value, each shorter than 128 bytes.
func mapEntry(v []byte) (key, value []byte, err error) {
	const tagKey, tagValue = fieldMapKey<<3 | byte(protowire.BytesType), fieldMapValue<<3 | byte(protowire.BytesType)
	if len(v) >= 4 && v[0] == tagKey && v[1] < 0x80 {
		k := int(v[1])
		if 4+k <= len(v) && v[2+k] == tagValue && v[3+k] < 0x80 && int(v[3+k]) == len(v)-4-k {
			return v[2 : 2+k], v[4+k:], nil
		}
	}
	return wire.MapEntry(v)
}

// aliasString returns the bytes of b as a string without copying them; see
// decoder.decode for why that is safe.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
