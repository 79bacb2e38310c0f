package wire

import "google.golang.org/protobuf/encoding/protowire"

// ConsumeVarint is protowire.ConsumeVarint with the one- and two-byte forms
// (below 16384: every tag and length of a typical event) read without its
// loop; the codecs of the SDK and the data plane read them per field.
func ConsumeVarint(b []byte) (uint64, int) {
	switch {
	case len(b) > 0 && b[0] < 0x80:
		return uint64(b[0]), 1
	case len(b) > 1 && b[1] < 0x80:
		return uint64(b[0]&0x7f) | uint64(b[1])<<7, 2
	}
	return protowire.ConsumeVarint(b)
}
