package pluginsdk

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowctl/flowctl/proto/wire"
)

// Event is the unit of data a pipeline moves. Its wire form is the Event
// message of proto/flowctl/v1.
//
// An Event received from the SDK (in Processor.Process or Sink.Write)
// shares memory with the batch it arrived in: its strings, Key and Data
// point into the batch, so Key and Data must never be modified (the SDK
// does not reuse a batch's memory, so keeping them is safe; Clone makes an
// event that holds on to nothing of the batch). Its Attributes slice is its
// own: a processor may change it in place (SetAttribute, DeleteAttribute)
// and emit the event.
type Event struct {
	ID   string
	Type string
	Time time.Time
	Key  []byte
	// Attributes are the event's string attributes in the order they were
	// set. Keys are unique when set through SetAttribute; on the wire they
	// are a map, and a repeated key means its last value, which is also
	// what Attribute returns.
	Attributes  []Attribute
	ContentType string
	Data        []byte
}

// Attribute is one of an event's attributes.
type Attribute struct {
	Key, Value string
}

// Attribute returns the value of the attribute key and whether the event
// has it.
func (e *Event) Attribute(key string) (string, bool) {
	for i := len(e.Attributes) - 1; i >= 0; i-- {
		if e.Attributes[i].Key == key {
			return e.Attributes[i].Value, true
		}
	}
	return "", false
}

// SetAttribute sets the attribute key to value, in place when the event has
// it, else at the end.
func (e *Event) SetAttribute(key, value string) {
	for i := len(e.Attributes) - 1; i >= 0; i-- {
		if e.Attributes[i].Key == key {
			e.Attributes[i].Value = value
			return
		}
	}
	e.Attributes = append(e.Attributes, Attribute{Key: key, Value: value})
}

// DeleteAttribute removes the attribute key, keeping the others' order.
func (e *Event) DeleteAttribute(key string) {
	out := e.Attributes[:0]
	for _, a := range e.Attributes {
		if a.Key != key {
			out = append(out, a)
		}
	}
	clear(e.Attributes[len(out):])
	e.Attributes = out
}

// Clone returns a deep copy of e that shares no memory with it, nor with
// the batch e was decoded from: for a component that keeps events after
// the call that handed them over, without keeping whole batches alive.
func (e *Event) Clone() Event {
	c := Event{
		ID: strings.Clone(e.ID), Type: strings.Clone(e.Type), Time: e.Time,
		ContentType: strings.Clone(e.ContentType),
	}
	if e.Key != nil {
		c.Key = append([]byte{}, e.Key...)
	}
	if e.Data != nil {
		c.Data = append([]byte{}, e.Data...)
	}
	if e.Attributes != nil {
		c.Attributes = make([]Attribute, len(e.Attributes))
		for i, a := range e.Attributes {
			c.Attributes[i] = Attribute{Key: strings.Clone(a.Key), Value: strings.Clone(a.Value)}
		}
	}
	return c
}

// Validate reports why the event may not travel: more attributes than the
// limit, or more bytes of them (ErrEventTooLarge), or an id,
// type, content type or attribute that is not valid UTF-8
// (ErrInvalidEvent). The SDK checks every event where it enters a
// component; a source may call it to refuse an event at its own door (the
// http source answers 413 or 400).
func (e *Event) Validate() error {
	if len(e.Attributes) > wire.MaxAttributes {
		return fmt.Errorf("%w: %d attributes, at most %d", ErrEventTooLarge, len(e.Attributes), wire.MaxAttributes)
	}
	size := 0
	for _, a := range e.Attributes {
		size += len(a.Key) + len(a.Value)
	}
	if size > wire.MaxAttributeBytes {
		return fmt.Errorf("%w: attributes of %d bytes, at most %d", ErrEventTooLarge, size, wire.MaxAttributeBytes)
	}
	return e.checkUTF8()
}

// checkUTF8 reports the first string field of e that is not valid UTF-8:
// the wire format's strings must be, and a proto decoder (the host's
// dead-letter path, another language's SDK) refuses them otherwise.
func (e *Event) checkUTF8() error {
	switch {
	case !utf8.ValidString(e.ID):
		return fmt.Errorf("%w: id %q is not valid UTF-8", ErrInvalidEvent, e.ID)
	case !utf8.ValidString(e.Type):
		return fmt.Errorf("%w: type %q is not valid UTF-8", ErrInvalidEvent, e.Type)
	case !utf8.ValidString(e.ContentType):
		return fmt.Errorf("%w: content type %q is not valid UTF-8", ErrInvalidEvent, e.ContentType)
	}
	for _, a := range e.Attributes {
		if !utf8.ValidString(a.Key) {
			return fmt.Errorf("%w: attribute key %q is not valid UTF-8", ErrInvalidEvent, a.Key)
		}
		if !utf8.ValidString(a.Value) {
			return fmt.Errorf("%w: attribute %q: value %q is not valid UTF-8", ErrInvalidEvent, a.Key, a.Value)
		}
	}
	return nil
}

// Position is an opaque marker a source gives each event so it can resume
// after it. Positions of one source must order the same way its events do.
type Position []byte

// Record is an event read by a source, with its position.
type Record struct {
	Event    Event
	Position Position
}
