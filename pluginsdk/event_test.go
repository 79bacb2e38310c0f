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
			Attributes:  map[string]string{"b": "2", "a": "1", "empty": ""},
			ContentType: "application/json", Data: []byte(`{"x":1}`),
		}}},
		{"several", []Event{{ID: "1", Data: bytes.Repeat([]byte("x"), 300)}, {ID: "2", Attributes: map[string]string{"": "v"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendEvents(nil, tt.events)
			want, err := proto.MarshalOptions{Deterministic: true}.Marshal(toProto(tt.events))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding differs from proto.Marshal\n got %x\nwant %x", got, want)
			}
			back, err := DecodeEvents(got, nil)
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
	_, err := DecodeEvents([]byte{0x0a, 0x05, 0x01}, nil)
	if !errors.Is(err, ErrMalformedBatch) {
		t.Fatalf("got %v, want ErrMalformedBatch", err)
	}
}

func toProto(events []Event) *flowctlv1.EventList {
	l := &flowctlv1.EventList{}
	for _, e := range events {
		pe := &flowctlv1.Event{Id: e.ID, Type: e.Type, Key: e.Key, Attributes: e.Attributes, ContentType: e.ContentType, Data: e.Data}
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
	b.SetBytes(int64(len(AppendEvents(nil, batch))))
	for b.Loop() {
		buf = AppendEvents(buf[:0], batch)
	}
}

func BenchmarkDecodeEvents(b *testing.B) {
	batch := make([]Event, 1000)
	for i := range batch {
		batch[i] = Event{ID: "00000001", Type: "tick", Time: time.Unix(0, 1), Data: bytes.Repeat([]byte("x"), 100)}
	}
	enc := AppendEvents(nil, batch)
	var out []Event
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		out, _ = DecodeEvents(enc, out[:0])
	}
}

// generatorLike is a batch of events shaped like the generator's: an 8-digit
// id, type, time, attributes, content type and 100 bytes of data.
func generatorLike(n int) []Event {
	batch := make([]Event, n)
	for i := range batch {
		batch[i] = Event{
			ID: fmt.Sprintf("%08d", i+1), Type: "flowctl.generator.tick", Time: time.Unix(1700000000, int64(i)),
			Attributes:  map[string]string{"seq": strconv.Itoa(i + 1), "env": "bench"},
			ContentType: "application/json", Data: bytes.Repeat([]byte("x"), 100),
		}
	}
	return batch
}

func BenchmarkAppendEventsWithAttributes(b *testing.B) {
	batch := generatorLike(1000)
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(AppendEvents(nil, batch))))
	for b.Loop() {
		buf = AppendEvents(buf[:0], batch)
	}
}

func BenchmarkDecodeEventsWithAttributes(b *testing.B) {
	enc := AppendEvents(nil, generatorLike(1000))
	var out []Event
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		out, _ = DecodeEvents(enc, out[:0])
	}
}

// Each decoded event owns its attribute map (a processor may edit it in
// place), while strings and data alias the batch.
func TestDecodedEventsOwnTheirAttributes(t *testing.T) {
	enc := AppendEvents(nil, generatorLike(3))
	events, err := DecodeEvents(enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	events[0].Attributes["env"] = "changed"
	delete(events[1].Attributes, "seq")
	if events[2].Attributes["env"] != "bench" || events[2].Attributes["seq"] != "3" || events[0].Attributes["seq"] != "1" {
		t.Fatalf("an edit of one event's attributes reached another: %v", events)
	}
	again, err := DecodeEvents(enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Attributes["env"] != "bench" || again[1].Attributes["seq"] != "2" {
		t.Fatalf("editing decoded attributes changed the batch: %v", again)
	}
}
