package pluginsdk

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
)

// Event is the unit of data a pipeline moves. Its wire form is the Event
// message of proto/flowctl/v1.
//
// An Event received from the SDK (in Processor.Process or Sink.Write)
// shares memory with the batch it arrived in: its strings, Key and Data
// point into the batch, so Key and Data must never be modified (the SDK
// does not reuse a batch's memory, so keeping them is safe). Its Attributes
// map is its own, made for it: a processor may change it in place and emit
// the event.
type Event struct {
	ID          string
	Type        string
	Time        time.Time
	Key         []byte
	Attributes  map[string]string
	ContentType string
	Data        []byte
}

// Position is an opaque marker a source gives each event so it can resume
// after it. Positions of one source must order the same way its events do.
type Position []byte

// String renders the position in hex for logs.
func (p Position) String() string { return hex.EncodeToString(p) }

// Record is an event read by a source, with its position.
type Record struct {
	Event    Event
	Position Position
}

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

// ErrMalformedBatch is returned when batch bytes are not a valid EventList.
var ErrMalformedBatch = errors.New("malformed event batch")

// AppendEvents appends the wire encoding of an EventList holding events to
// dst. It is the encoding proto.Marshal produces for the same message (map
// entries sorted by key), written without building proto messages.
func AppendEvents(dst []byte, events []Event) []byte {
	var attrs []keyValue
	for i := range events {
		e := &events[i]
		attrs = sortedAttributes(e.Attributes, attrs[:0])
		dst = protowire.AppendTag(dst, fieldEventList, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(eventSize(e, attrs)))
		dst = appendEvent(dst, e, attrs)
	}
	return dst
}

// keyValue is one attribute, for encoding attributes in key order after
// reading the map once.
type keyValue struct{ k, v string }

// sortedAttributes appends m's entries to dst in key order. Events carry a
// handful of attributes, for which an insertion sort beats a general one.
func sortedAttributes(m map[string]string, dst []keyValue) []keyValue {
	for k, v := range m {
		dst = append(dst, keyValue{k, v})
		for i := len(dst) - 1; i > 0 && dst[i].k < dst[i-1].k; i-- {
			dst[i], dst[i-1] = dst[i-1], dst[i]
		}
	}
	return dst
}

func appendEvent(dst []byte, e *Event, attrs []keyValue) []byte {
	dst = appendString(dst, fieldID, e.ID)
	dst = appendString(dst, fieldType, e.Type)
	if ns := unixNano(e.Time); ns != 0 {
		dst = protowire.AppendTag(dst, fieldTime, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(ns))
	}
	dst = appendBytes(dst, fieldKey, e.Key)
	for _, a := range attrs {
		dst = protowire.AppendTag(dst, fieldAttributes, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(mapEntrySize(a.k, a.v)))
		dst = protowire.AppendTag(dst, fieldMapKey, protowire.BytesType)
		dst = protowire.AppendString(dst, a.k)
		dst = protowire.AppendTag(dst, fieldMapValue, protowire.BytesType)
		dst = protowire.AppendString(dst, a.v)
	}
	dst = appendString(dst, fieldContentType, e.ContentType)
	return appendBytes(dst, fieldData, e.Data)
}

func eventSize(e *Event, attrs []keyValue) int {
	n := lenFieldSize(fieldID, len(e.ID)) + lenFieldSize(fieldType, len(e.Type))
	if ns := unixNano(e.Time); ns != 0 {
		n += protowire.SizeTag(fieldTime) + protowire.SizeVarint(uint64(ns))
	}
	n += lenFieldSize(fieldKey, len(e.Key))
	for _, a := range attrs {
		n += protowire.SizeTag(fieldAttributes) + protowire.SizeBytes(mapEntrySize(a.k, a.v))
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

// DecodeEvents appends the events encoded in b (an EventList) to dst.
//
// The events alias b: their strings (id, type, content type, attribute keys
// and values), Key and Data point into it rather than into copies, which
// saves most of decoding's cost. b must therefore never be modified while
// any event, or anything taken from one, is in use. The SDK decodes only
// batches it received and never reuses their memory.
func DecodeEvents(b []byte, dst []Event) ([]Event, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return dst, fmt.Errorf("%w: %w", ErrMalformedBatch, protowire.ParseError(n))
		}
		b = b[n:]
		if num != fieldEventList || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return dst, fmt.Errorf("%w: %w", ErrMalformedBatch, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		msg, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return dst, fmt.Errorf("%w: %w", ErrMalformedBatch, protowire.ParseError(n))
		}
		b = b[n:]
		var e Event
		if err := decodeEvent(msg, &e); err != nil {
			return dst, fmt.Errorf("%w: event %d: %w", ErrMalformedBatch, len(dst), err)
		}
		dst = append(dst, e)
	}
	return dst, nil
}

func decodeEvent(b []byte, e *Event) error {
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
			if err := setEventField(e, num, v); err != nil {
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

func setEventField(e *Event, num protowire.Number, v []byte) error {
	switch num {
	case fieldID:
		e.ID = aliasString(v)
	case fieldType:
		e.Type = aliasString(v)
	case fieldKey:
		e.Key = v
	case fieldAttributes:
		k, val, err := decodeMapEntry(v)
		if err != nil {
			return err
		}
		if e.Attributes == nil {
			e.Attributes = make(map[string]string)
		}
		e.Attributes[k] = val
	case fieldContentType:
		e.ContentType = aliasString(v)
	case fieldData:
		e.Data = v
	}
	return nil
}

func decodeMapEntry(b []byte) (key, value string, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return "", "", protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		b = b[n:]
		switch num {
		case fieldMapKey:
			key = aliasString(v)
		case fieldMapValue:
			value = aliasString(v)
		}
	}
	return key, value, nil
}

// aliasString returns the bytes of b as a string without copying them; see
// DecodeEvents for why that is safe.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
