// Package jsonl is the JSON Lines form of a flowctl event: the format the
// file sink and the stdout sink write and the file source reads back. It
// lives in one place so that what one plugin writes the other can read.
//
// One event is one JSON object on one line:
//
//		{"id":"e1","type":"t","time":"2025-01-01T00:00:00.001Z","key":"a2V5",
//		 "attributes":{"k":"v"},"content_type":"application/json","data":{"n":1}}
//
//	  - id and type are always written; time (RFC 3339 with nanoseconds, UTC)
//	    only when the event has one; key (base64) and attributes only when not
//	    empty.
//	  - The payload goes in exactly one of three ways, chosen so that reading
//	    a line back gives the same bytes: "data" holds the payload itself as
//	    JSON when the content type is JSON (application/json or +json) and the
//	    payload is compact, valid UTF-8 JSON other than a string or null; "data"
//	    holds a JSON string when the payload is other valid UTF-8 text; and
//	    "data_base64" holds anything else, base64-encoded. A reader therefore
//	    takes a string "data" as text and any other "data" value as raw JSON.
//
// Reading is lenient where it costs nothing: unknown keys are ignored and
// every key may be missing. id, type and attribute strings that are not
// valid UTF-8 are written with U+FFFD in place of the bad bytes (JSON cannot
// carry them); payloads never lose a byte.
package jsonl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/flowctl/flowctl/pluginsdk"
)

// line is the encoded shape of one event. Data is a json.RawMessage (the
// payload as JSON) or a string (the payload as text).
type line struct {
	ID          string     `json:"id"`
	Type        string     `json:"type"`
	Time        string     `json:"time,omitempty"`
	Key         []byte     `json:"key,omitempty"`
	Attributes  attributes `json:"attributes,omitempty"`
	ContentType string     `json:"content_type,omitempty"`
	Data        any        `json:"data,omitempty"`
	DataBase64  []byte     `json:"data_base64,omitempty"`
}

// decoded is line as a reader sees it: Data keeps its raw JSON so the
// reader can tell a string from any other value.
type decoded struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Time        string          `json:"time"`
	Key         []byte          `json:"key"`
	Attributes  attributes      `json:"attributes"`
	ContentType string          `json:"content_type"`
	Data        json.RawMessage `json:"data"`
	DataBase64  []byte          `json:"data_base64"`
}

// Append appends the line for e, newline included, to dst.
func Append(dst []byte, e pluginsdk.Event) ([]byte, error) {
	l := line{
		ID: e.ID, Type: e.Type, Key: e.Key, Attributes: e.Attributes, ContentType: e.ContentType,
	}
	if !e.Time.IsZero() {
		l.Time = e.Time.UTC().Format(time.RFC3339Nano)
	}
	switch {
	case len(e.Data) == 0:
	case embeddable(e.ContentType, e.Data):
		l.Data = json.RawMessage(e.Data)
	case utf8.Valid(e.Data):
		l.Data = string(e.Data)
	default:
		l.DataBase64 = e.Data
	}
	buf := bytes.NewBuffer(dst)
	enc := json.NewEncoder(buf)
	// Payloads are embedded byte for byte; escaping <, > and & would only
	// make the file harder to read.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(&l); err != nil {
		return dst, fmt.Errorf("encode event %q: %w", e.ID, err)
	}
	return buf.Bytes(), nil
}

// embeddable reports whether data can be written as a JSON value that
// decodes back to exactly the same bytes.
func embeddable(contentType string, data []byte) bool {
	// A JSON string or null would read back as text or as no payload.
	if !IsJSON(contentType) || data[0] == '"' || string(data) == "null" || !utf8.Valid(data) || !json.Valid(data) {
		return false
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return false
	}
	return bytes.Equal(compact.Bytes(), data)
}

// IsJSON reports whether a content type names JSON: application/json or a
// +json structured syntax suffix such as application/cloudevents+json.
func IsJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// Decode parses one line (without its newline) into an event.
func Decode(b []byte) (pluginsdk.Event, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return pluginsdk.Event{}, errors.New("not a JSON object")
	}
	var d decoded
	if err := json.Unmarshal(b, &d); err != nil {
		return pluginsdk.Event{}, fmt.Errorf("invalid JSON: %w", err)
	}
	e := pluginsdk.Event{
		ID: d.ID, Type: d.Type, Key: d.Key, Attributes: d.Attributes, ContentType: d.ContentType,
	}
	// Refuse an event the pipeline would refuse before its attributes are
	// deduplicated, so a hostile line costs linear time.
	if err := e.Validate(); err != nil {
		return pluginsdk.Event{}, err
	}
	e.Attributes = dedupe(e.Attributes)
	if d.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, d.Time)
		if err != nil {
			return pluginsdk.Event{}, fmt.Errorf("time: %w", err)
		}
		e.Time = t
	}
	data := bytes.TrimSpace(d.Data)
	switch {
	case len(data) > 0 && string(data) != "null" && len(d.DataBase64) > 0:
		return pluginsdk.Event{}, errors.New(`both "data" and "data_base64" are set`)
	case len(d.DataBase64) > 0:
		e.Data = d.DataBase64
	case len(data) == 0 || string(data) == "null":
	case data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return pluginsdk.Event{}, fmt.Errorf("data: %w", err)
		}
		e.Data = []byte(s)
	default:
		e.Data = data
	}
	return e, nil
}

// attributes is an event's attributes as a JSON object: written in key
// order, so lines are stable whatever order they were set in, and read in
// the order written.
type attributes []pluginsdk.Attribute

func (a attributes) MarshalJSON() ([]byte, error) {
	sorted := slices.Clone(a)
	slices.SortStableFunc(sorted, func(x, y pluginsdk.Attribute) int { return strings.Compare(x.Key, y.Key) })
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, at := range sorted {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(at.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(at.Value)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func (a *attributes) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		*a = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("attributes: want an object of strings")
	}
	var out attributes
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return fmt.Errorf("attributes: %w", err)
		}
		vt, err := dec.Token()
		if err != nil {
			return fmt.Errorf("attributes: %w", err)
		}
		k, _ := kt.(string)
		v, ok := vt.(string)
		if !ok {
			return fmt.Errorf("attributes: %q is not a string", k)
		}
		out = append(out, pluginsdk.Attribute{Key: k, Value: v})
		// Stop reading an object the pipeline would refuse anyway: a
		// request of a hundred thousand attributes costs what the limit
		// does, not what the request does.
		if len(out)%1024 == 0 {
			if err := (&pluginsdk.Event{Attributes: out}).Validate(); errors.Is(err, pluginsdk.ErrEventTooLarge) {
				return err
			}
		}
	}
	*a = out
	return nil
}

// dedupe keeps the last value of a repeated key, as JSON objects mean.
func dedupe(attrs []pluginsdk.Attribute) []pluginsdk.Attribute {
	var e pluginsdk.Event
	for _, a := range attrs {
		e.SetAttribute(a.Key, a.Value)
	}
	return e.Attributes
}
