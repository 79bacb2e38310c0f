package wire

import "google.golang.org/protobuf/encoding/protowire"

// MapEntry reads one encoded entry of a proto map<string, string> (an
// event's attribute): its key and value, aliasing b. Fields it does not
// know are skipped. The SDK's decoder and the data plane's dead-letter
// rewriting both read attributes this way without decoding the event.
func MapEntry(b []byte) (key, value []byte, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, nil, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, nil, protowire.ParseError(n)
		}
		b = b[n:]
		switch num {
		case 1:
			key = v
		case 2:
			value = v
		}
	}
	return key, value, nil
}
