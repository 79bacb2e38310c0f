package router

import (
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// rawEvent encodes an event by hand, as an SDK that does not check UTF-8
// would: proto.Marshal refuses invalid UTF-8.
func rawEvent(id, attrKey, attrValue string) []byte {
	var entry []byte
	entry = protowire.AppendTag(entry, 1, protowire.BytesType)
	entry = protowire.AppendString(entry, attrKey)
	entry = protowire.AppendTag(entry, 2, protowire.BytesType)
	entry = protowire.AppendString(entry, attrValue)
	var ev []byte
	ev = protowire.AppendTag(ev, 1, protowire.BytesType)
	ev = protowire.AppendString(ev, id)
	ev = protowire.AppendTag(ev, 3, protowire.VarintType)
	ev = protowire.AppendVarint(ev, 42)
	ev = protowire.AppendTag(ev, 5, protowire.BytesType)
	ev = protowire.AppendBytes(ev, entry)
	ev = protowire.AppendTag(ev, 7, protowire.BytesType)
	ev = protowire.AppendBytes(ev, []byte{0xff, 0x00})
	var list []byte
	list = protowire.AppendTag(list, 1, protowire.BytesType)
	return protowire.AppendBytes(list, ev)
}

// The error path reads a batch proto refuses for its UTF-8, and what it
// makes of it is valid: a dead-letter sink accepts it.
func TestDecodeLenientRepairsUTF8(t *testing.T) {
	b := append(rawEvent("ok", "k", "v"), rawEvent("a\xffb", "k\xfe", "v\xc3(")...)
	if _, err := decodeStrict(b); err == nil {
		t.Fatal("proto accepted invalid UTF-8; the test proves nothing")
	}
	list, err := decodeLenient(b)
	if err != nil {
		t.Fatal(err)
	}
	evs := list.GetEvents()
	if len(evs) != 2 || evs[0].GetId() != "ok" || evs[1].GetId() != "a\uFFFDb" ||
		evs[1].GetAttributes()["k\uFFFD"] != "v\uFFFD(" || evs[1].GetTimeUnixNano() != 42 || string(evs[1].GetData()) != "\xff\x00" {
		t.Fatalf("decoded %v", evs)
	}
	if _, err := proto.Marshal(list); err != nil {
		t.Fatalf("the repaired batch does not encode: %v", err)
	}
	if _, err := decodeLenient([]byte{0x0a, 0x05, 0x01}); err == nil {
		t.Fatal("garbage decoded")
	}
}

// A dead letter carries the failure and stays within the attribute limits
// every SDK enforces, whatever the event it came from.
func TestDeadLetterKeepsWithinLimits(t *testing.T) {
	small := deadLetter(&flowctlv1.Event{Id: "1", Attributes: map[string]string{"a": "b", AttrError: "old"}}, "boom", "sink.out", 2)
	if got := small.GetAttributes(); got["a"] != "b" || got[AttrError] != "boom" || got[AttrComponent] != "sink.out" || got[AttrAttempts] != "2" || got[AttrDropped] != "" {
		t.Fatalf("attributes %v", got)
	}
	many := map[string]string{}
	for i := range 5000 {
		many["k"+strconv.Itoa(i)] = strings.Repeat("v", 20)
	}
	big := deadLetter(&flowctlv1.Event{Id: "2", Attributes: many}, "too many", "processor.p", 1)
	size := 0
	for k, v := range big.GetAttributes() {
		size += len(k) + len(v)
	}
	if n := len(big.GetAttributes()); n > wire.MaxAttributes || size > wire.MaxAttributeBytes {
		t.Fatalf("dead letter has %d attributes of %d bytes", n, size)
	}
	if big.GetAttributes()[AttrError] != "too many" || big.GetAttributes()[AttrDropped] == "" || big.GetAttributes()[AttrDropped] == "0" {
		t.Fatalf("dead letter attributes: error %q dropped %q", big.GetAttributes()[AttrError], big.GetAttributes()[AttrDropped])
	}
}
