package router

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// checkCount verifies that a batch a plugin sent holds as many events as its
// count claims. The count feeds the counters, the summary and the credit
// arithmetic, so a plugin must not be able to inflate it (a billion events
// in a one-byte batch) or hide events behind it (count 0, which the
// processor path would drop).
//
// It counts the EventList's framing records (field 1, length-delimited)
// without decoding the events: one tag and one length varint per event.
// Other fields are skipped, as the SDK's decoder skips them. Bytes that do
// not frame as protobuf are an error too.
// eventListField is the number of EventList.events.
const eventListField = 1

func checkCount(b *flowctlv1.Batch) error {
	data := b.GetEvents()
	var n uint64
	for len(data) > 0 {
		num, typ, m := protowire.ConsumeTag(data)
		if m < 0 {
			return fmt.Errorf("%w: batch events are not an EventList (%w)", ErrProtocol, protowire.ParseError(m))
		}
		data = data[m:]
		m = protowire.ConsumeFieldValue(num, typ, data)
		if m < 0 {
			return fmt.Errorf("%w: batch events are not an EventList (%w)", ErrProtocol, protowire.ParseError(m))
		}
		data = data[m:]
		if num == eventListField && typ == protowire.BytesType {
			n++
		}
	}
	if n != uint64(b.GetCount()) {
		return fmt.Errorf("%w: count %d, but its events hold %d", ErrProtocol, b.GetCount(), n)
	}
	return nil
}
