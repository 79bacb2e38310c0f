package jsonl

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/flowctl/flowctl/pluginsdk"
)

func TestAppendWritesReadableLines(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	tests := []struct {
		name string
		in   pluginsdk.Event
		want string
	}{
		{"json payload embedded",
			pluginsdk.Event{ID: "a", Type: "t", Time: at, ContentType: "application/json", Data: []byte(`{"n":1,"s":"<b>"}`)},
			`{"id":"a","type":"t","time":"2025-01-02T03:04:05.000006Z","content_type":"application/json","data":{"n":1,"s":"<b>"}}`},
		{"+json suffix embedded",
			pluginsdk.Event{ID: "a", ContentType: "application/cloudevents+json; charset=utf-8", Data: []byte(`[1,2]`)},
			`{"id":"a","type":"","content_type":"application/cloudevents+json; charset=utf-8","data":[1,2]}`},
		{"pretty json kept as text",
			pluginsdk.Event{ID: "a", ContentType: "application/json", Data: []byte("{\n  \"n\": 1\n}")},
			`{"id":"a","type":"","content_type":"application/json","data":"{\n  \"n\": 1\n}"}`},
		{"json string kept as text",
			pluginsdk.Event{ID: "a", ContentType: "application/json", Data: []byte(`"hi"`)},
			`{"id":"a","type":"","content_type":"application/json","data":"\"hi\""}`},
		{"json null kept as text",
			pluginsdk.Event{ID: "a", ContentType: "application/json", Data: []byte(`null`)},
			`{"id":"a","type":"","content_type":"application/json","data":"null"}`},
		{"text payload",
			pluginsdk.Event{ID: "a", Type: "t", ContentType: "text/plain", Data: []byte("héllo & bye")},
			`{"id":"a","type":"t","content_type":"text/plain","data":"héllo & bye"}`},
		{"binary payload and key",
			pluginsdk.Event{ID: "a", Type: "t", Key: []byte("k1"), Data: []byte{0xff, 0x00, 0x01}},
			`{"id":"a","type":"t","key":"azE=","data_base64":"/wAB"}`},
		{"attributes sorted",
			pluginsdk.Event{ID: "a", Type: "t", Attributes: []pluginsdk.Attribute{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}}},
			`{"id":"a","type":"t","attributes":{"a":"2","z":"1"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Append(nil, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want+"\n" {
				t.Errorf("line:\n got %s\nwant %s", got, tt.want)
			}
			back, err := Decode(bytes.TrimSuffix(got, []byte("\n")))
			if err != nil {
				t.Fatalf("decode own line: %v", err)
			}
			assertSame(t, back, tt.in)
		})
	}
}

func assertSame(t *testing.T, got, want pluginsdk.Event) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || !got.Time.Equal(want.Time) ||
		!bytes.Equal(got.Key, want.Key) || got.ContentType != want.ContentType || !bytes.Equal(got.Data, want.Data) {
		t.Errorf("round trip changed the event:\n got %+v\nwant %+v", got, want)
	}
	if len(got.Attributes) != len(want.Attributes) {
		t.Errorf("attributes %v, want %v", got.Attributes, want.Attributes)
	}
	for _, a := range want.Attributes {
		if v, _ := got.Attribute(a.Key); v != a.Value {
			t.Errorf("attribute %q = %q, want %q", a.Key, v, a.Value)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		line, want string
	}{
		{`[1,2]`, "not a JSON object"},
		{`null`, "not a JSON object"},
		{`{"id":`, "invalid JSON"},
		{`{"id":"a","time":"yesterday"}`, "time"},
		{`{"data":"x","data_base64":"eA=="}`, "both"},
		{`{"key":"not base64!"}`, "invalid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			_, err := Decode([]byte(tt.line))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode(%s) = %v, want an error mentioning %q", tt.line, err, tt.want)
			}
		})
	}
}

func TestDecodeIsLenient(t *testing.T) {
	e, err := Decode([]byte(`{"type":"t","extra":{"x":1},"data":42}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.ID != "" || e.Type != "t" || string(e.Data) != "42" {
		t.Errorf("got %+v, want no id, type t and data 42", e)
	}
}
