package pluginsdk

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
)

// EnvCPUProfileDir names a directory into which every flowctl process — the
// host and each plugin it starts, which inherit the variable — writes a CPU
// profile (NAME-PID.pprof) for `go tool pprof`. It is for finding where a
// pipeline spends its time; unset, nothing is profiled.
const EnvCPUProfileDir = "FLOWCTL_CPUPROFILE_DIR"

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
