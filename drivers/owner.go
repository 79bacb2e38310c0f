package drivers

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Labels every remote driver puts on what it creates (containers, pods,
// services, secrets), so that a later run, or a person, can tell whose it is.
const (
	// LabelRun is the run id of the apply that created the object.
	LabelRun = "flowctl.io/run"
	// LabelOwner is the host process that created it: OwnerID.
	LabelOwner = "flowctl.io/owner"
	// LabelComponent is the component address, e.g. "sink.out".
	LabelComponent = "flowctl.io/component"
	// LabelPipeline is the pipeline's name.
	LabelPipeline = "flowctl.io/pipeline"
)

// OwnerID names this host process for LabelOwner: host name, pid and the
// process's start time (so that a reused pid is not mistaken for it),
// joined by "_" to fit a Kubernetes label value.
func OwnerID() string {
	h, _ := os.Hostname()
	return labelSafe(h) + "_" + strconv.Itoa(os.Getpid()) + "_" + strconv.FormatUint(startTime(os.Getpid()), 10)
}

// OwnerGone reports whether the host process an OwnerID names has ended,
// and so whatever it created is stale. Objects of another machine, or with
// a label that does not parse, are never stale to this one: only their own
// host, or a person, can tell.
func OwnerGone(owner string) bool {
	parts := strings.Split(owner, "_")
	if len(parts) != 3 {
		return false
	}
	h, _ := os.Hostname()
	if parts[0] != labelSafe(h) {
		return false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	start, err := strconv.ParseUint(parts[2], 10, 64)
	return err == nil && start != 0 && startTime(pid) != start
}

// startTime is the process's start time in clock ticks since boot
// (/proc/PID/stat field 22); 0 where /proc is not there.
func startTime(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// labelSafe keeps what a label value may hold: letters, digits, '-', '.'.
func labelSafe(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-.")
	if len(out) > 40 {
		out = out[:40]
	}
	if out == "" {
		out = "host"
	}
	return out
}
