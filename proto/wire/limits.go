package wire

// Limits on one event's attributes. The SDK refuses an event past them
// where it enters a component (a per-event error that on_error routes), and
// the host keeps dead-lettered events within them, so an event that one
// stage accepted never fails a later one for its size. They bound what a
// decoder allocates for one event, whatever a batch claims.
const (
	// MaxAttributes is the most attributes one event may carry.
	MaxAttributes = 1024
	// MaxAttributeBytes is the most bytes one event's attribute keys and
	// values may add up to.
	MaxAttributeBytes = 64 << 10
)
