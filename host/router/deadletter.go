package router

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// A failed event may be failed precisely for what makes it unreadable:
// invalid UTF-8 in a string field (which a proto decoder refuses) or more
// attributes than the limits (which every SDK refuses). The error path
// must still deliver it to the dead-letter sink, and what it delivers must
// be an event that sink accepts, or the run fails on it and every later
// apply fails the same way. So the error path decodes leniently and sends
// events within the protocol's rules.

func decodeStrict(b []byte) (*flowctlv1.EventList, error) {
	var list flowctlv1.EventList
	if err := proto.Unmarshal(b, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// decodeLenient decodes an EventList. When proto refuses it, it tries again
// with every invalid UTF-8 sequence of the events' string fields replaced
// by U+FFFD; a batch that is not an EventList at all stays an error.
func decodeLenient(b []byte) (*flowctlv1.EventList, error) {
	list, err := decodeStrict(b)
	if err == nil {
		return list, nil
	}
	fixed, ferr := validUTF8(b)
	if ferr != nil {
		return nil, err
	}
	if list, ferr = decodeStrict(fixed); ferr != nil {
		return nil, err
	}
	return list, nil
}

// validUTF8 rewrites an EventList with the events' string fields (id, type,
// content type, attribute keys and values) made valid UTF-8.
func validUTF8(list []byte) ([]byte, error) {
	return eachField(list, func(num protowire.Number, event []byte) ([]byte, error) {
		if num != 1 { // EventList.events
			return event, nil
		}
		return eachField(event, func(num protowire.Number, v []byte) ([]byte, error) {
			switch num {
			case 1, 2, 6: // id, type, content_type
				return toValidUTF8(v), nil
			case 5: // an attributes map entry: key 1, value 2
				return eachField(v, func(_ protowire.Number, s []byte) ([]byte, error) { return toValidUTF8(s), nil })
			}
			return v, nil
		})
	})
}

func toValidUTF8(b []byte) []byte { return []byte(strings.ToValidUTF8(string(b), "\uFFFD")) }

// eachField copies the message b, passing the value of each
// length-delimited field through fix.
func eachField(b []byte, fix func(num protowire.Number, v []byte) ([]byte, error)) ([]byte, error) {
	out := make([]byte, 0, len(b))
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			out = protowire.AppendTag(out, num, typ)
			out = append(out, b[:m]...)
			b = b[m:]
			continue
		}
		v, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return nil, protowire.ParseError(m)
		}
		b = b[m:]
		v, err := fix(num, v)
		if err != nil {
			return nil, err
		}
		out = protowire.AppendTag(out, num, protowire.BytesType)
		out = protowire.AppendBytes(out, v)
	}
	return out, nil
}

// deadLetter is e as the dead-letter sink receives it: a copy with the
// failure in its attributes, kept within the protocol's attribute limits.
// When e has too many attributes, or too many bytes of them, its own are
// kept in key order while they fit, and AttrDropped says how many were
// not.
func deadLetter(e *flowctlv1.Event, reason, component string, attempts int) *flowctlv1.Event {
	e = proto.Clone(e).(*flowctlv1.Event)
	own := e.GetAttributes()
	e.Attributes = map[string]string{
		AttrError:     reason,
		AttrComponent: component,
		AttrAttempts:  fmt.Sprint(attempts),
	}
	size := 0
	for k, v := range e.Attributes {
		size += len(k) + len(v)
	}
	fits := len(own)+len(e.Attributes) <= wire.MaxAttributes
	if fits {
		for k, v := range own {
			size += len(k) + len(v)
		}
		fits = size <= wire.MaxAttributeBytes
	}
	if fits {
		for k, v := range own {
			if _, ours := e.Attributes[k]; !ours {
				e.Attributes[k] = v
			}
		}
		return e
	}
	dropped := 0
	for _, k := range slices.Sorted(maps.Keys(own)) {
		if _, ours := e.Attributes[k]; ours {
			continue
		}
		n := len(k) + len(own[k])
		if len(e.Attributes)+1 < wire.MaxAttributes && size+n <= wire.MaxAttributeBytes-64 {
			e.Attributes[k] = own[k]
			size += n
			continue
		}
		dropped++
	}
	e.Attributes[AttrDropped] = fmt.Sprint(dropped)
	return e
}
