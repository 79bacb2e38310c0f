package dataplane

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// output is one output of a node: the instances of one downstream
// component (Peer.group), each reached by a sender of its own. One instance
// is the plain case. Several share the output's batches as the partition
// says: PARTITION_ANY hands each batch whole to whichever instance's sender
// takes it first (one queue that every member reads, so a slow or
// restarting instance takes less); PARTITION_KEY splits each batch by event
// key so that a key always reaches the same instance, in order.
type output struct {
	members []*sender
	byKey   bool
}

// outputs groups a NodeOpen's peers (outputs or dead letters) into outputs,
// in the order their groups first appear. Peers without a group are outputs
// of their own.
func outputs(peers []*flowctlv1.Peer, newSender func(*flowctlv1.Peer) *sender) []*output {
	var out []*output
	byGroup := map[uint32]int{}
	for _, p := range peers {
		i, ok := byGroup[p.GetGroup()]
		if !ok || p.GetGroup() == 0 {
			i = len(out)
			out = append(out, &output{byKey: p.GetPartition() == flowctlv1.Partition_PARTITION_KEY})
			if p.GetGroup() != 0 {
				byGroup[p.GetGroup()] = i
			}
		}
		out[i].members = append(out[i].members, newSender(p))
	}
	for _, o := range out {
		if len(o.members) > 1 && !o.byKey {
			shared := make(chan item, senderQueue*len(o.members))
			for _, s := range o.members {
				s.q = shared
			}
		}
	}
	return out
}

// push sends it along the output: to its one instance, to the shared
// queue, or split by key, the share divided among the parts.
func (o *output) push(ctx context.Context, it item) error {
	if len(o.members) == 1 || !o.byKey {
		return o.members[0].push(ctx, it)
	}
	parts, err := partition(it.batch, len(o.members))
	if err != nil {
		return err
	}
	var used []int
	for i, p := range parts {
		if p != nil {
			used = append(used, i)
		}
	}
	if len(used) == 0 { // an empty batch: someone must return its share
		return o.members[0].push(ctx, it)
	}
	shares, err := split(it.weight, len(used))
	if err != nil {
		return err
	}
	for j, i := range used {
		part := it
		part.batch, part.weight = parts[i], shares[j]
		if err := o.members[i].push(ctx, part); err != nil {
			return err
		}
	}
	return nil
}

// partition splits b among n instances by the FNV-1a hash of each event's
// key (an event without a key has the empty one), keeping the events' order
// within each part. parts[i] is nil when no event goes to instance i; a
// batch that goes whole to one instance is passed on as it is.
func partition(b *flowctlv1.Batch, n int) ([]*flowctlv1.Batch, error) {
	fs, err := frames(b.GetEvents())
	if err != nil {
		return nil, err
	}
	dest := make([]int, len(fs))
	sizes := make([]int, n)
	counts := make([]uint32, n)
	for i, f := range fs {
		key, err := eventKey(f)
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		d := int(fnv1a(key) % uint64(n))
		dest[i] = d
		sizes[d] += protowire.SizeTag(fieldEvents) + protowire.SizeBytes(len(f))
		counts[d]++
	}
	parts := make([]*flowctlv1.Batch, n)
	for d, c := range counts {
		if c == uint32(len(fs)) {
			parts[d] = b
			return parts, nil
		}
		if c > 0 {
			parts[d] = &flowctlv1.Batch{Count: c, Events: make([]byte, 0, sizes[d])}
		}
	}
	for i, f := range fs {
		p := parts[dest[i]]
		p.Events = appendFrame(p.Events, f)
	}
	return parts, nil
}

// fnv1a is the 64-bit FNV-1a hash of b, inline: hash/fnv's would be an
// interface call per event.
func fnv1a(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// eventKey returns the key of an encoded Event, aliasing f; the last one
// wins, as when decoding.
func eventKey(f []byte) ([]byte, error) {
	var key []byte
	for len(f) > 0 {
		num, typ, n := protowire.ConsumeTag(f)
		if n < 0 {
			return nil, fmt.Errorf("malformed event: %w", protowire.ParseError(n))
		}
		f = f[n:]
		if num == fieldKey && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(f)
			if n < 0 {
				return nil, fmt.Errorf("malformed event: %w", protowire.ParseError(n))
			}
			key, f = v, f[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, f)
		if n < 0 {
			return nil, fmt.Errorf("malformed event: %w", protowire.ParseError(n))
		}
		f = f[n:]
	}
	return key, nil
}

// fieldKey is Event.key in plugin.proto.
const fieldKey = 4
