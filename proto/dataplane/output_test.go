package dataplane

import (
	"context"
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func encodeList(t *testing.T, events ...*flowctlv1.Event) *flowctlv1.Batch {
	t.Helper()
	b, err := proto.Marshal(&flowctlv1.EventList{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	return &flowctlv1.Batch{Count: uint32(len(events)), Events: b}
}

func decodeList(t *testing.T, b *flowctlv1.Batch) []*flowctlv1.Event {
	t.Helper()
	var l flowctlv1.EventList
	if err := proto.Unmarshal(b.GetEvents(), &l); err != nil {
		t.Fatal(err)
	}
	if int(b.GetCount()) != len(l.GetEvents()) {
		t.Fatalf("count %d, %d events", b.GetCount(), len(l.GetEvents()))
	}
	return l.GetEvents()
}

func TestPartitionKeepsKeysTogetherAndInOrder(t *testing.T) {
	var events []*flowctlv1.Event
	for i := range 300 {
		events = append(events, &flowctlv1.Event{
			Id: fmt.Sprint(i), Key: []byte(fmt.Sprintf("k%d", i%17)),
			Attributes: map[string]string{"a": "b"}, Data: []byte("payload"),
		})
	}
	events = append(events, &flowctlv1.Event{Id: "300"}) // no key
	parts, err := partition(encodeList(t, events...), 3)
	if err != nil {
		t.Fatal(err)
	}
	home := map[string]int{}
	total := 0
	for i, p := range parts {
		if p == nil {
			continue
		}
		last := -1
		for _, e := range decodeList(t, p) {
			total++
			if h, ok := home[string(e.GetKey())]; ok && h != i {
				t.Errorf("key %q in parts %d and %d", e.GetKey(), h, i)
			}
			home[string(e.GetKey())] = i
			var n int
			fmt.Sscan(e.GetId(), &n)
			if n <= last {
				t.Errorf("part %d: event %d after %d", i, n, last)
			}
			last = n
			if len(e.GetKey()) > 0 && (e.GetAttributes()["a"] != "b" || string(e.GetData()) != "payload") {
				t.Errorf("event %s lost its fields: %v", e.GetId(), e)
			}
		}
	}
	if total != len(events) {
		t.Fatalf("%d events in the parts, want %d", total, len(events))
	}
	used := 0
	for _, p := range parts {
		if p != nil {
			used++
		}
	}
	if used < 2 {
		t.Errorf("17 keys went to %d of 3 parts", used)
	}
}

func TestPartitionOneKeyPassesTheBatchOn(t *testing.T) {
	b := encodeList(t, &flowctlv1.Event{Id: "a", Key: []byte("k")}, &flowctlv1.Event{Id: "b", Key: []byte("k")})
	parts, err := partition(b, 4)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range parts {
		if p != nil {
			n++
			if p != b {
				t.Error("a batch that goes whole to one instance was copied")
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d parts", n)
	}
}

func TestPartitionRefusesMalformedEvents(t *testing.T) {
	if _, err := partition(&flowctlv1.Batch{Count: 1, Events: []byte{0x0a, 0x02, 0xff, 0xff}}, 2); err == nil {
		t.Fatal("a malformed event was partitioned")
	}
}

func TestOutputsGroupPeers(t *testing.T) {
	mk := func(p *flowctlv1.Peer) *sender {
		return newSender(0, p, nil, nil, newEpochs(nil), hclog.NewNullLogger())
	}
	key := flowctlv1.Partition_PARTITION_KEY
	outs := outputs([]*flowctlv1.Peer{
		{Node: 1}, {Node: 2}, // version 2: an output each
		{Node: 3, Group: 1}, {Node: 4, Group: 2, Partition: key}, {Node: 5, Group: 1}, {Node: 6, Group: 2, Partition: key},
	}, mk)
	if len(outs) != 4 {
		t.Fatalf("%d outputs, want 4", len(outs))
	}
	anyOut, byKey := outs[2], outs[3]
	if len(anyOut.members) != 2 || anyOut.byKey || anyOut.members[0].q != anyOut.members[1].q {
		t.Errorf("group 1: %d members, byKey %v, shared queue %v", len(anyOut.members), anyOut.byKey, anyOut.members[0].q == anyOut.members[1].q)
	}
	if len(byKey.members) != 2 || !byKey.byKey || byKey.members[0].q == byKey.members[1].q {
		t.Errorf("group 2: %d members, byKey %v", len(byKey.members), byKey.byKey)
	}

	// A batch of two keys splits in two, and the shares add up.
	var b *flowctlv1.Batch
	for i := 0; ; i++ {
		b = encodeList(t, &flowctlv1.Event{Key: []byte("x")}, &flowctlv1.Event{Key: []byte(fmt.Sprint(i))})
		parts, err := partition(b, 2)
		if err != nil {
			t.Fatal(err)
		}
		if parts[0] != nil && parts[1] != nil {
			break
		}
	}
	if err := byKey.push(context.Background(), item{weight: Full, batch: b}); err != nil {
		t.Fatal(err)
	}
	a, c := <-byKey.members[0].q, <-byKey.members[1].q
	if a.weight+c.weight != Full || a.batch.GetCount()+c.batch.GetCount() != 2 {
		t.Errorf("parts: weights %d + %d, counts %d + %d", a.weight, c.weight, a.batch.GetCount(), c.batch.GetCount())
	}
}

// fnv1a must stay FNV-1a: every plugin of a run, built with any SDK of
// protocol 3, has to send a key to the same instance.
func TestFNV1aIsTheStandardHash(t *testing.T) {
	for _, k := range []string{"", "k0", "order-12345"} {
		h := fnv.New64a()
		h.Write([]byte(k))
		if got, want := fnv1a([]byte(k)), h.Sum64(); got != want {
			t.Errorf("fnv1a(%q) = %x, want %x", k, got, want)
		}
	}
}
