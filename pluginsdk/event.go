package pluginsdk

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// Event is the unit of data a pipeline moves. Its wire form is the Event
// message of proto/flowctl/v1.
//
// An Event received from the SDK (in Processor.Process or Sink.Write) may
// share memory with the batch it arrived in: Key and Data must not be
// modified, and must be copied if they are kept after the call returns.
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
	var keys []string
	for i := range events {
		e := &events[i]
		dst = protowire.AppendTag(dst, fieldEventList, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(eventSize(e)))
		dst = appendEvent(dst, e, &keys)
	}
	return dst
}

func appendEvent(dst []byte, e *Event, keys *[]string) []byte {
	dst = appendString(dst, fieldID, e.ID)
	dst = appendString(dst, fieldType, e.Type)
	if ns := unixNano(e.Time); ns != 0 {
		dst = protowire.AppendTag(dst, fieldTime, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(ns))
	}
	dst = appendBytes(dst, fieldKey, e.Key)
	if len(e.Attributes) > 0 {
		*keys = sortedKeys(e.Attributes, (*keys)[:0])
		for _, k := range *keys {
			v := e.Attributes[k]
			dst = protowire.AppendTag(dst, fieldAttributes, protowire.BytesType)
			dst = protowire.AppendVarint(dst, uint64(mapEntrySize(k, v)))
			dst = protowire.AppendTag(dst, fieldMapKey, protowire.BytesType)
			dst = protowire.AppendString(dst, k)
			dst = protowire.AppendTag(dst, fieldMapValue, protowire.BytesType)
			dst = protowire.AppendString(dst, v)
		}
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
	for k, v := range e.Attributes {
		n += protowire.SizeTag(fieldAttributes) + protowire.SizeBytes(mapEntrySize(k, v))
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

func sortedKeys(m map[string]string, dst []string) []string {
	for k := range m {
		dst = append(dst, k)
	}
	slices.Sort(dst)
	return dst
}

// DecodeEvents appends the events encoded in b (an EventList) to dst. Key and
// Data of the returned events alias b.
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
		e.ID = string(v)
	case fieldType:
		e.Type = string(v)
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
		e.ContentType = string(v)
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
			key = string(v)
		case fieldMapValue:
			value = string(v)
		}
	}
	return key, value, nil
}
