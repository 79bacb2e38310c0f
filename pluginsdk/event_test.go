package pluginsdk

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
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

// The SDK decodes a processor's or sink's batches with a few allocations,
// not one (or more) per event.
func TestDecodeAllocatesPerBatchNotPerEvent(t *testing.T) {
	enc := appendEvents(nil, generatorLike(1000))
	var (
		out     []Event
		invalid []invalidEvent
		d       decoder
	)
	out, invalid, _ = d.decode(enc, out, invalid) // size the reused slices
	allocs := testing.AllocsPerRun(50, func() {
		out, invalid, _ = d.decode(enc, out[:0], invalid[:0])
	})
	if allocs > 10 {
		t.Errorf("decoding 1000 events took %.1f allocations, want at most 10", allocs)
	}
	if len(out) != 1000 || attr(&out[999], "seq") != "1000" || len(invalid) != 0 {
		t.Fatalf("decoded %d events (last seq %q), %d invalid", len(out), attr(&out[len(out)-1], "seq"), len(invalid))
	}
}

func TestAttributeHelpers(t *testing.T) {
	var e Event
	e.SetAttribute("b", "1")
	e.SetAttribute("a", "2")
	e.SetAttribute("b", "3") // in place: order kept
	if got := fmt.Sprint(e.Attributes); got != "[{b 3} {a 2}]" {
		t.Fatalf("attributes %s", got)
	}
	if v, ok := e.Attribute("a"); !ok || v != "2" {
		t.Fatalf("Attribute(a) = %q, %v", v, ok)
	}
	if _, ok := e.Attribute("zz"); ok {
		t.Fatal("Attribute of a missing key reports it present")
	}
	c := e.Clone()
	e.DeleteAttribute("b")
	if got := fmt.Sprint(e.Attributes); got != "[{a 2}]" {
		t.Fatalf("after delete %s", got)
	}
	if got := fmt.Sprint(c.Attributes); got != "[{b 3} {a 2}]" {
		t.Fatalf("the clone changed with the original: %s", got)
	}
	// A repeated key on the wire means its last value, as for a proto map.
	dup := Event{Attributes: []Attribute{{"k", "first"}, {"k", "last"}}}
	back, err := decodeEvents(appendEvents(nil, []Event{dup}), nil)
	if err != nil {
		t.Fatal(err)
	}
	var pe flowctlv1.EventList
	if err := proto.Unmarshal(appendEvents(nil, []Event{dup}), &pe); err != nil {
		t.Fatal(err)
	}
	if attr(&back[0], "k") != "last" || pe.GetEvents()[0].GetAttributes()["k"] != "last" {
		t.Fatalf("repeated key: sdk %q, proto %q", attr(&back[0], "k"), pe.GetEvents()[0].GetAttributes()["k"])
	}
}

// Attributes travel in the order they were set; proto decoders read the
// same map whatever the order.
func TestUnsortedAttributesDecodeAsProtoMap(t *testing.T) {
	in := []Event{{ID: "x", Attributes: []Attribute{{"z", "1"}, {"a", "2"}, {"m", "3"}}}}
	enc := appendEvents(nil, in)
	var l flowctlv1.EventList
	if err := proto.Unmarshal(enc, &l); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(&l, toProto(in)) {
		t.Fatalf("proto read %v", &l)
	}
	back, err := decodeEvents(enc, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(back[0].Attributes); got != "[{z 1} {a 2} {m 3}]" {
		t.Fatalf("order not kept: %s", got)
	}
}

// Events past the limits, or with invalid UTF-8 in a string field, are
// decoded but listed as refused, each with a reason that says what is
// wrong; the others of the batch are untouched.
func TestDecodeRefusesInvalidEvents(t *testing.T) {
	many := make([]Attribute, 128_000)
	for i := range many {
		many[i] = Attribute{Key: strconv.Itoa(i), Value: "v"}
	}
	big := strings.Repeat("x", 70<<10)
	tests := []struct {
		name string
		bad  Event
		want error
		text string
	}{
		{"too many attributes", Event{ID: "m", Attributes: many}, ErrEventTooLarge, "128000 attributes, at most 1024"},
		{"attribute bytes", Event{ID: "b", Attributes: []Attribute{{"k", big}}}, ErrEventTooLarge, "attributes of 71681 bytes, at most 65536"},
		{"id", Event{ID: "a\xffb"}, ErrInvalidEvent, `id "a\xffb" is not valid UTF-8`},
		{"attribute value", Event{ID: "v", Attributes: []Attribute{{"k", "\xc3("}}}, ErrInvalidEvent, `attribute "k": value "\xc3(" is not valid UTF-8`},
		{"attribute key", Event{ID: "k", Attributes: []Attribute{{"\xff", "v"}}}, ErrInvalidEvent, `attribute key "\xff" is not valid UTF-8`},
		{"type", Event{ID: "t", Type: "\xfe"}, ErrInvalidEvent, "type"},
		{"content type", Event{ID: "c", ContentType: "\xfe"}, ErrInvalidEvent, "content type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.bad.Validate(); !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Validate: %v, want %v saying %q", err, tt.want, tt.text)
			}
			good := Event{ID: "ok", Attributes: []Attribute{{"a", "b"}}}
			enc := appendEvents(nil, []Event{good, tt.bad, good})
			var d decoder
			out, invalid, err := d.decode(enc, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != 3 || len(invalid) != 1 || invalid[0].index != 1 {
				t.Fatalf("%d events, refused %+v; want event 1 refused", len(out), invalid)
			}
			if err := invalid[0].err; !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("refused with %v, want %v saying %q", err, tt.want, tt.text)
			}
			if len(out[1].Attributes) > 1024 {
				t.Errorf("kept %d attributes of a refused event: the limit bounds memory too", len(out[1].Attributes))
			}
			if attr(&out[2], "a") != "b" {
				t.Errorf("the event after the refused one decoded as %+v", out[2])
			}
		})
	}
}

// TestIsASCII puts one byte above 0x7f at every position of slices of every
// length up to 40, and checks isASCII finds it, and that it passes every
// slice without one.
func TestIsASCII(t *testing.T) {
	for n := range 41 {
		b := bytes.Repeat([]byte("a"), n)
		if !isASCII(b) {
			t.Fatalf("%d ASCII bytes: isASCII is false", n)
		}
		for i := range n {
			b[i] = 0x80 | byte(i)
			if isASCII(b) {
				t.Fatalf("%d bytes with 0x%x at %d: isASCII is true", n, b[i], i)
			}
			b[i] = 'a'
		}
	}
}
