package pluginsdk

import (
	"os"
	"runtime/debug"
)

// Garbage collection defaults of flowctl processes. A pipeline allocates a
// little per event (the attribute maps of decoded events, above all) and
// keeps little alive: a few batches in flight. With Go's default GOGC=100
// the collector runs every few megabytes and costs about a fifth of the
// CPU; letting the heap grow to five times what is live halves that, and a
// soft memory limit keeps a process from growing past a few hundred
// megabytes when something does keep much alive.
//
// GOGC and GOMEMLIMIT in the environment win, as they do for any Go
// program.
const (
	gcPercent = 400
	// DefaultMemoryLimit is the soft memory limit of a plugin process.
	DefaultMemoryLimit = 256 << 20
)

// SetGCDefaults applies the defaults above, with limit as the soft memory
// limit, unless the environment sets GOGC or GOMEMLIMIT. Serve calls it for
// plugins; the flowctl host calls it with a limit of its own.
func SetGCDefaults(limit int64) {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(limit)
	}
}
