package pluginsdk

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// FuzzDecodeEvents feeds arbitrary batch bytes, as a plugin or an upstream
// may send them, to the SDK's event codec. Properties:
//   - the decoder never panics; every error wraps errMalformedBatch;
//   - whatever decodes re-encodes with appendEvents into bytes proto reads
//     as the same events (when proto can read them: it refuses invalid
//     UTF-8), and decodes back to the same events;
//   - whatever proto.Unmarshal accepts, the decoder accepts too, with the
//     same events (events past the SDK's limits are decoded, and refused
//     later, where they enter a component).
//
// Seeds are in testdata/fuzz/FuzzDecodeEvents; more are added here.
func FuzzDecodeEvents(f *testing.F) {
	f.Add(appendEvents(nil, []Event{{
		ID: "e1", Type: "t", Time: time.Unix(1700000000, 123), Key: []byte{0, 1, 2},
		Attributes:  []Attribute{{"b", "2"}, {"a", "1"}, {"", ""}},
		ContentType: "application/json", Data: []byte(`{"x":1}`),
	}, {}, {ID: "2", Data: bytes.Repeat([]byte("x"), 200)}}))
	f.Add([]byte{0x0a, 0x05, 0x01})
	f.Add(appendEvents(nil, []Event{
		{ID: "\xff1", Type: "t"}, {ID: "é", Type: "ü", ContentType: "ß"},
		{ID: "3", Attributes: []Attribute{{"k", "\xfe"}}}, {ID: "4", Time: time.Unix(5, 0), ContentType: "\xc3"},
	}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var d decoder
		events, invalid, err := d.decode(b, nil, nil)
		var list flowctlv1.EventList
		protoErr := proto.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, &list)
		if err != nil {
			if !errors.Is(err, errMalformedBatch) {
				t.Fatalf("error %v does not wrap errMalformedBatch", err)
			}
			if protoErr == nil {
				t.Fatalf("proto.Unmarshal accepts what the decoder refuses: %v", err)
			}
			return
		}
		// Events are refused for invalid UTF-8 exactly when a check of
		// each string finds some (or for their size).
		for i := range events {
			var refusal error
			if len(invalid) > 0 && invalid[0].index == i {
				refusal, invalid = invalid[0].err, invalid[1:]
			}
			if errors.Is(refusal, ErrEventTooLarge) {
				continue
			}
			if utf8Err := events[i].checkUTF8(); (utf8Err == nil) != (refusal == nil) {
				t.Fatalf("event %d: refused with %v, but its strings' check says %v", i, refusal, utf8Err)
			}
		}
		if protoErr == nil {
			if len(list.GetEvents()) != len(events) {
				t.Fatalf("the decoder found %d events, proto.Unmarshal %d", len(events), len(list.GetEvents()))
			}
			for i, pe := range list.GetEvents() {
				if got := toProto(events[i : i+1]).GetEvents()[0]; !proto.Equal(got, pe) {
					t.Fatalf("event %d: decoder %v, proto.Unmarshal %v", i, got, pe)
				}
			}
		}
		enc := appendEvents(nil, events)
		// Attributes keep their order (a slice, not a map), so proto
		// compares the messages, not the bytes of its own encoding.
		var again flowctlv1.EventList
		if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(enc, &again); err == nil {
			if want := toProto(events); !proto.Equal(&again, want) {
				t.Fatalf("appendEvents encodes what proto reads as %v, want %v", &again, want)
			}
		}
		var d2 decoder
		back, _, err := d2.decode(enc, nil, nil)
		if err != nil {
			t.Fatalf("re-encoded events do not decode: %v", err)
		}
		if len(back) != len(events) {
			t.Fatalf("re-decoded %d events, want %d", len(back), len(events))
		}
		for i := range back {
			if !proto.Equal(toProto(back[i:i+1]), toProto(events[i:i+1])) {
				t.Fatalf("event %d changed in a round trip: %+v, was %+v", i, back[i], events[i])
			}
		}
	})
}
