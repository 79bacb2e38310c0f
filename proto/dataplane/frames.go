package dataplane

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/flowctl/flowctl/proto/wire"
)

// This file works on encoded batches (EventList bytes) without decoding
// events: a batch is a run of length-delimited Event messages, so picking
// some of them, or adding attributes to one, is a matter of framing. The
// runtime never needs more: retries take the failed events of a batch,
// dead letters take them and attach the error.

// Field numbers of EventList and Event in plugin.proto.
const (
	fieldEvents      = 1
	fieldID          = 1
	fieldType        = 2
	fieldAttributes  = 5
	fieldContentType = 6
	fieldMapKey      = 1
	fieldMapValue    = 2
)

// frames returns the encoded Event messages of an EventList, in order; they
// alias b.
func frames(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("malformed batch: %w", protowire.ParseError(n))
		}
		b = b[n:]
		if num != fieldEvents || typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("malformed batch: %w", protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		msg, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("malformed batch: %w", protowire.ParseError(n))
		}
		out = append(out, msg)
		b = b[n:]
	}
	return out, nil
}

// pick returns the frames at idx (all when idx is nil).
func pick(fs [][]byte, idx []uint32) ([][]byte, error) {
	if idx == nil {
		return fs, nil
	}
	out := make([][]byte, 0, len(idx))
	for _, i := range idx {
		if int(i) >= len(fs) {
			return nil, fmt.Errorf("event %d of a batch of %d", i, len(fs))
		}
		out = append(out, fs[i])
	}
	return out, nil
}

func appendFrame(dst, frame []byte) []byte {
	dst = protowire.AppendTag(dst, fieldEvents, protowire.BytesType)
	return protowire.AppendBytes(dst, frame)
}

// subset returns the EventList of the events at idx of b, in idx order.
func subset(b []byte, idx []uint32) ([]byte, error) {
	fs, err := frames(b)
	if err != nil {
		return nil, err
	}
	if fs, err = pick(fs, idx); err != nil {
		return nil, err
	}
	var out []byte
	for _, f := range fs {
		out = appendFrame(out, f)
	}
	return out, nil
}

// deadLetters returns the EventList of the events at idx of b (all when idx
// is nil), each with wire.AttrError set to reason(i) (i counts the picked
// events), wire.AttrComponent and wire.AttrAttempts, replacing earlier values
// of those attributes. Every string field is made valid UTF-8 (invalid bytes
// become U+FFFD): an event that failed because of them must not fail the
// dead-letter sink too.
func deadLetters(b []byte, idx []uint32, reason func(i int) string, component string, attempts int) ([]byte, error) {
	fs, err := frames(b)
	if err != nil {
		return nil, err
	}
	if fs, err = pick(fs, idx); err != nil {
		return nil, err
	}
	var out, ev []byte
	for i, f := range fs {
		ev, err = rewriteEvent(ev[:0], f, map[string]string{
			wire.AttrError:     reason(i),
			wire.AttrComponent: component,
			wire.AttrAttempts:  strconv.Itoa(attempts),
		})
		if err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
		out = appendFrame(out, ev)
	}
	return out, nil
}

// rewriteEvent appends to dst the event frame f with every string made valid
// UTF-8, the attributes named in set dropped, and set appended in key order.
func rewriteEvent(dst, f []byte, set map[string]string) ([]byte, error) {
	for len(f) > 0 {
		num, typ, n := protowire.ConsumeTag(f)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		field := f
		f = f[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, f)
			if n < 0 {
				return nil, protowire.ParseError(n)
			}
			dst = append(dst, field[:len(field)-len(f)+n]...)
			f = f[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(f)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		f = f[n:]
		switch num {
		case fieldID, fieldType, fieldContentType:
			dst = protowire.AppendTag(dst, num, protowire.BytesType)
			dst = protowire.AppendString(dst, validString(v))
		case fieldAttributes:
			k, val, err := wire.MapEntry(v)
			if err != nil {
				return nil, err
			}
			if _, replaced := set[string(k)]; replaced {
				continue
			}
			dst = appendAttribute(dst, validString(k), validString(val))
		default:
			dst = protowire.AppendTag(dst, num, protowire.BytesType)
			dst = protowire.AppendBytes(dst, v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(set)) {
		dst = appendAttribute(dst, k, validString([]byte(set[k])))
	}
	return dst, nil
}

func appendAttribute(dst []byte, k, v string) []byte {
	size := protowire.SizeTag(fieldMapKey) + protowire.SizeBytes(len(k)) +
		protowire.SizeTag(fieldMapValue) + protowire.SizeBytes(len(v))
	dst = protowire.AppendTag(dst, fieldAttributes, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(size))
	dst = protowire.AppendTag(dst, fieldMapKey, protowire.BytesType)
	dst = protowire.AppendString(dst, k)
	dst = protowire.AppendTag(dst, fieldMapValue, protowire.BytesType)
	return protowire.AppendString(dst, v)
}

func validString(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
