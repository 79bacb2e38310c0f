package dataplane

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// countEvents agrees with frames on batches of every shape: events of one-
// and two-byte lengths, other fields between them, and broken batches.
func TestCountEventsMatchesFrames(t *testing.T) {
	event := func(n int) []byte {
		b := protowire.AppendTag(nil, fieldEvents, protowire.BytesType)
		return protowire.AppendBytes(b, bytes.Repeat([]byte{0x42}, n))
	}
	var other []byte
	other = protowire.AppendTag(other, 2, protowire.VarintType)
	other = protowire.AppendVarint(other, 300)
	cases := map[string][]byte{
		"empty":     nil,
		"small":     append(event(0), event(5)...),
		"two-byte":  append(event(190), event(200)...),
		"large":     append(event(20000), event(1)...),
		"other":     append(append(event(3), other...), event(190)...),
		"truncated": event(190)[:100],
		"bad tag":   {0x00, 0x01},
		"cut len":   {0x0a, 0x80},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		b := make([]byte, rng.IntN(64))
		for j := range b {
			b[j] = byte(rng.IntN(256))
		}
		if i%2 == 0 && len(b) > 0 {
			b[0] = 0x0a
		}
		cases["random"+string(rune('a'+i%26))+string(rune('a'+i/26))] = b
	}
	for name, b := range cases {
		fs, ferr := frames(b)
		n, err := countEvents(b)
		if (err == nil) != (ferr == nil) || (err == nil && n != len(fs)) {
			t.Errorf("%s: countEvents = %d, %v; frames found %d, %v", name, n, err, len(fs), ferr)
		}
	}
}
