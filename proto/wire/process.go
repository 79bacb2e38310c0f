package wire

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
)

// Garbage collection defaults of flowctl processes. A pipeline allocates a
// little per event and keeps little alive: a few batches in flight. With
// Go's default GOGC=100 the collector runs every few megabytes and costs
// about a fifth of the CPU; letting the heap grow to five times what is live
// halves that, and a soft memory limit keeps a process from growing past a
// few hundred megabytes when something does keep much alive.
//
// GOGC and GOMEMLIMIT in the environment win, as they do for any Go
// program.
const (
	gcPercent = 400
	// PluginMemoryLimit is the soft memory limit of a plugin process.
	PluginMemoryLimit = 256 << 20
)

// SetGCDefaults applies the defaults above, with limit as the soft memory
// limit, unless the environment sets GOGC or GOMEMLIMIT. Plugins call it
// with PluginMemoryLimit; the flowctl host with a limit of its own.
func SetGCDefaults(limit int64) {
	if _, ok := os.LookupEnv("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(limit)
	}
}

// StartCPUProfile starts profiling into EnvCPUProfileDir when it is set and
// returns the function that stops and writes the profile; a no-op otherwise.
// name says which process the profile is of ("flowctl", a plugin's name).
// A process that is killed writes no profile.
func StartCPUProfile(name string) (stop func(), err error) {
	dir := os.Getenv(EnvCPUProfileDir)
	if dir == "" {
		return func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return func() {}, fmt.Errorf("%s: %w", EnvCPUProfileDir, err)
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.pprof", name, os.Getpid())))
	if err != nil {
		return func() {}, fmt.Errorf("%s: %w", EnvCPUProfileDir, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return func() {}, fmt.Errorf("%s: %w", EnvCPUProfileDir, err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
