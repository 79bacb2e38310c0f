package pluginsdk

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestAppendEventsMatchesProtoMarshal(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
	}{
		{"empty", nil},
		{"zero event", []Event{{}}},
		{"full", []Event{{
			ID: "e1", Type: "t", Time: time.Unix(1700000000, 123), Key: []byte{0, 1, 2},
			Attributes:  []Attribute{{"a", "1"}, {"b", "2"}, {"empty", ""}},
			ContentType: "application/json", Data: []byte(`{"x":1}`),
		}}},
		{"several", []Event{{ID: "1", Data: bytes.Repeat([]byte("x"), 300)}, {ID: "2", Attributes: []Attribute{{"", "v"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := appendEvents(nil, tt.events)
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(toProto(tt.events))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from proto.Marshal\n got %x\nwant %x", got, want)
			}
			back, err := decodeEvents(got, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(back) != len(tt.events) {
				t.Fatalf("decoded %d events, want %d", len(back), len(tt.events))
			}
			for i := range back {
				if !proto.Equal(toProto(back[i:i+1]), toProto(tt.events[i:i+1])) {
					t.Errorf("event %d: got %+v, want %+v", i, back[i], tt.events[i])
				}
			}
		})
	}
}

func TestDecodeEventsRejectsGarbage(t *testing.T) {
	_, err := decodeEvents([]byte{0x0a, 0x05, 0x01}, nil)
	if !errors.Is(err, errMalformedBatch) {
		t.Fatalf("got %v, want errMalformedBatch", err)
	}
}

func toProto(events []Event) *flowctlv1.EventList {
	l := &flowctlv1.EventList{}
	for _, e := range events {
		pe := &flowctlv1.Event{Id: e.ID, Type: e.Type, Key: e.Key, ContentType: e.ContentType, Data: e.Data}
		for _, a := range e.Attributes {
			if pe.Attributes == nil {
				pe.Attributes = map[string]string{}
			}
			pe.Attributes[a.Key] = a.Value
		}
		if !e.Time.IsZero() {
			pe.TimeUnixNano = e.Time.UnixNano()
		}
		l.Events = append(l.Events, pe)
	}
	return l
}

func BenchmarkAppendEvents(b *testing.B) {
	batch := make([]Event, 1000)
	for i := range batch {
		batch[i] = Event{ID: "00000001", Type: "tick", Time: time.Unix(0, 1), Data: bytes.Repeat([]byte("x"), 100)}
	}
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(appendEvents(nil, batch))))
	for b.Loop() {
		buf = appendEvents(buf[:0], batch)
	}
}

func BenchmarkDecodeEvents(b *testing.B) {
	batch := make([]Event, 1000)
	for i := range batch {
		batch[i] = Event{ID: "00000001", Type: "tick", Time: time.Unix(0, 1), Data: bytes.Repeat([]byte("x"), 100)}
	}
	enc := appendEvents(nil, batch)
	var out []Event
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		out, _ = decodeEvents(enc, out[:0])
	}
}

// generatorLike is a batch of events shaped like the generator's: an 8-digit
// id, type, time, attributes, content type and 100 bytes of data.
func generatorLike(n int) []Event {
	batch := make([]Event, n)
	for i := range batch {
		batch[i] = Event{
			ID: fmt.Sprintf("%08d", i+1), Type: "flowctl.generator.tick", Time: time.Unix(1700000000, int64(i)),
			Attributes:  []Attribute{{"seq", strconv.Itoa(i + 1)}, {"env", "bench"}},
			ContentType: "application/json", Data: bytes.Repeat([]byte("x"), 100),
		}
	}
	return batch
}

func BenchmarkAppendEventsWithAttributes(b *testing.B) {
	batch := generatorLike(1000)
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(appendEvents(nil, batch))))
	for b.Loop() {
		buf = appendEvents(buf[:0], batch)
	}
}

// BenchmarkDecodeEventsWithAttributes decodes as a processor or sink
// stream does: one decoder for every batch.
func BenchmarkDecodeEventsWithAttributes(b *testing.B) {
	enc := appendEvents(nil, generatorLike(1000))
	var (
		out     []Event
		invalid []invalidEvent
		d       decoder
	)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		out, invalid, _ = d.decode(enc, out[:0], invalid[:0])
	}
}

// Each decoded event owns its attributes (a processor may edit them in
// place), while strings and data alias the batch.
func TestDecodedEventsOwnTheirAttributes(t *testing.T) {
	enc := appendEvents(nil, generatorLike(3))
	events, err := decodeEvents(enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	events[0].SetAttribute("env", "changed")
	events[0].SetAttribute("added", "x") // appends: must not overwrite events[1]
	events[1].DeleteAttribute("seq")
	if attr(&events[2], "env") != "bench" || attr(&events[2], "seq") != "3" || attr(&events[0], "seq") != "1" ||
		attr(&events[1], "env") != "bench" {
		t.Fatalf("an edit of one event's attributes reached another: %v", events)
	}
	again, err := decodeEvents(enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if attr(&again[0], "env") != "bench" || attr(&again[1], "seq") != "2" {
		t.Fatalf("editing decoded attributes changed the batch: %v", again)
	}
}

func attr(e *Event, key string) string {
	v, _ := e.Attribute(key)
	return v
}

// decodeEvents decodes b with a decoder of its own, failing on events a
// component would refuse.
func decodeEvents(b []byte, dst []Event) ([]Event, error) {
	var d decoder
	events, invalid, err := d.decode(b, dst, nil)
	if err == nil && len(invalid) > 0 {
		err = refused(invalid)
	}
	return events, err
}
