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
//   - DecodeEvents never panics; every error wraps ErrMalformedBatch;
//   - whatever decodes re-encodes with AppendEvents exactly as proto.Marshal
//     would (when proto can marshal it: proto refuses invalid UTF-8), and
//     decodes back to the same events;
//   - whatever proto.Unmarshal accepts, DecodeEvents accepts too, with the
//     same events.
//
// Seeds are in testdata/fuzz/FuzzDecodeEvents; more are added here.
func FuzzDecodeEvents(f *testing.F) {
	f.Add(AppendEvents(nil, []Event{{
		ID: "e1", Type: "t", Time: time.Unix(1700000000, 123), Key: []byte{0, 1, 2},
		Attributes:  map[string]string{"b": "2", "a": "1", "": ""},
		ContentType: "application/json", Data: []byte(`{"x":1}`),
	}, {}, {ID: "2", Data: bytes.Repeat([]byte("x"), 200)}}))
	f.Add([]byte{0x0a, 0x05, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		events, err := DecodeEvents(b, nil)
		var list flowctlv1.EventList
		protoErr := proto.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, &list)
		if err != nil {
			if !errors.Is(err, ErrMalformedBatch) {
				t.Fatalf("error %v does not wrap ErrMalformedBatch", err)
			}
			if protoErr == nil {
				t.Fatalf("proto.Unmarshal accepts what DecodeEvents refuses: %v", err)
			}
			return
		}
		if protoErr == nil {
			if len(list.GetEvents()) != len(events) {
				t.Fatalf("DecodeEvents found %d events, proto.Unmarshal %d", len(events), len(list.GetEvents()))
			}
			for i, pe := range list.GetEvents() {
				if got := toProto(events[i : i+1]).GetEvents()[0]; !proto.Equal(got, pe) {
					t.Fatalf("event %d: DecodeEvents %v, proto.Unmarshal %v", i, got, pe)
				}
			}
		}
		enc := AppendEvents(nil, events)
		if want, err := (proto.MarshalOptions{Deterministic: true}).Marshal(toProto(events)); err == nil && !bytes.Equal(enc, want) {
			t.Fatalf("AppendEvents differs from proto.Marshal\n got %x\nwant %x", enc, want)
		}
		back, err := DecodeEvents(enc, nil)
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
