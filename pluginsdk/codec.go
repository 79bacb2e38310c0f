package pluginsdk

import (
	"errors"
	"fmt"
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

// appendEvents appends the wire encoding of an EventList holding events to
// dst. Attributes are written in slice order; for attributes in key order
// that is byte for byte what a deterministic proto.Marshal writes.
// encodeEvents encodes events into a buffer of their exact size: under
// protocol 2 a batch's buffer leaves with it (the runtime keeps it until
// its ticket is released), so each batch needs its own, and growing one by
// appending cost a fifth of a transform's CPU.
func encodeEvents(events []Event) []byte {
	n := 0
	for i := range events {
		size := eventSize(&events[i])
		n += protowire.SizeTag(fieldEventList) + protowire.SizeVarint(uint64(size)) + size
	}
	return appendEvents(make([]byte, 0, n), events)
}

func appendEvents(dst []byte, events []Event) []byte {
	for i := range events {
		e := &events[i]
		dst = protowire.AppendTag(dst, fieldEventList, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(eventSize(e)))
		dst = appendEvent(dst, e)
	}
	return dst
}

func appendEvent(dst []byte, e *Event) []byte {
	dst = appendString(dst, fieldID, e.ID)
	dst = appendString(dst, fieldType, e.Type)
	if ns := unixNano(e.Time); ns != 0 {
		dst = protowire.AppendTag(dst, fieldTime, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(ns))
	}
	dst = appendBytes(dst, fieldKey, e.Key)
	for _, a := range e.Attributes {
		dst = protowire.AppendTag(dst, fieldAttributes, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(mapEntrySize(a.Key, a.Value)))
		dst = protowire.AppendTag(dst, fieldMapKey, protowire.BytesType)
		dst = protowire.AppendString(dst, a.Key)
		dst = protowire.AppendTag(dst, fieldMapValue, protowire.BytesType)
		dst = protowire.AppendString(dst, a.Value)
	}
	dst = appendString(dst, fieldContentType, e.ContentType)
	return appendBytes(dst, fieldData, e.Data)
}

func eventSize(e *Event) int {
	n := lenFieldSize(fieldID, len(e.ID)) + lenFieldSize(fieldType, len(e.Type))
	if ns := unixNano(e.Time); ns != 0 {
		n += protowire.SizeTag(fieldTime) + protowire.SizeVarint(uint64(ns))
	}
	n += lenFieldSize(fieldKey, len(e.Key))
	for _, a := range e.Attributes {
		n += protowire.SizeTag(fieldAttributes) + protowire.SizeBytes(mapEntrySize(a.Key, a.Value))
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

func appendString(dst []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, s)
}

func appendBytes(dst []byte, num protowire.Number, b []byte) []byte {
	if len(b) == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, b)
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
	for len(b) > 0 {
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
		msg, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return dst, invalid, fmt.Errorf("%w: %w", errMalformedBatch, protowire.ParseError(n))
		}
		b = b[n:]
		dst = append(dst, Event{})
		e := &dst[len(dst)-1]
		ev := eventDecode{d: d, start: len(d.arena)}
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
		if err == nil {
			err = e.checkUTF8()
		}
		if err != nil {
			invalid = append(invalid, invalidEvent{index: len(dst) - 1, err: err})
		}
	}
	return dst, invalid, nil
}

// eventDecode is the state of decoding one event.
type eventDecode struct {
	d     *decoder
	start int // the event's first attribute in d.arena
	count int // attributes seen, kept or not
	size  int // bytes of the attributes seen
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
	ev.grow()
	ev.d.arena = append(ev.d.arena, Attribute{Key: k, Value: v})
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

func (ev *eventDecode) event(b []byte, e *Event) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == fieldTime && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			e.Time = time.Unix(0, int64(v))
			b = b[n:]
			continue
		case typ == protowire.BytesType && num >= fieldID && num <= fieldData:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			if err := ev.field(e, num, v); err != nil {
				return err
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
	}
	return nil
}

func (ev *eventDecode) field(e *Event, num protowire.Number, v []byte) error {
	switch num {
	case fieldID:
		e.ID = aliasString(v)
	case fieldType:
		e.Type = aliasString(v)
	case fieldKey:
		e.Key = v
	case fieldAttributes:
		k, val, err := wire.MapEntry(v)
		if err != nil {
			return err
		}
		ev.attribute(aliasString(k), aliasString(val))
	case fieldContentType:
		e.ContentType = aliasString(v)
	case fieldData:
		e.Data = v
	}
	return nil
}

// aliasString returns the bytes of b as a string without copying them; see
// decoder.decode for why that is safe.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
