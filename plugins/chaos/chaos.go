// Package chaos is the flowctl "chaos" plugin: fault-injection components
// for flowctl's own fault tests (`make chaos`), which kill plugins and the
// host with SIGKILL, slow sinks down and make them nack. It is compiled into
// the flowctl binary only under the build tag chaos; it is not meant for
// production pipelines.
//
// # Sink "chaos"
//
// Writes events to a file as JSON Lines, exactly as the file sink does: the
// line format of plugins/internal/jsonl (so the file source reads it back),
// always appending, missing parent directories created, a partial last line
// left by a crashed run terminated before new lines are added, and a
// relative path resolved against the plugin's working directory (the
// pipeline file's directory). Write returns, and the host acks the batch,
// only once the whole batch is written and, with fsync, synced. Options:
//
//   - path (string, required): the file to append to.
//   - fsync (bool, default true): sync the file before acknowledging each
//     batch (devices and pipes are not synced).
//   - delay (duration, default "0s"): sleep this long at the start of every
//     Write, refused or not: a slow sink. The sleep ends early when the
//     Write's context does; the batch is then nacked with the context's
//     error.
//   - nack_ids (list of strings, default empty): ids of events to refuse.
//   - nack_times (number, default 0): how many times each listed id is
//     refused before it is accepted; 0 refuses it always.
//
// A Write whose batch holds a listed id that must still be refused writes
// nothing of the batch and fails with
//
//	chaos: refusing event <id> (refusal <n> of <nack_times|always>)
//
// naming the first such event; the SDK nacks the whole batch with that
// reason. Each refused id in the batch counts one refusal (an id listed
// twice in one batch counts once). Batches without an id still to refuse
// are written normally.
//
// # Processor "chaos"
//
// Passes every event through unchanged. Options:
//
//   - fail_ids (list of strings, default empty): ids of events to fail.
//   - fail_times (number, default 0): how many times each listed id fails
//     before it passes; 0 fails it always. A failing event produces no
//     output and Process returns
//     `chaos: failing event <id> (failure <n> of <fail_times|always>)`, a
//     per-event error the host handles by the component's on_error policy.
//   - delay (duration, default "0s"): sleep this long before each event;
//     the sleep ends early when the context does, and the event then fails
//     with the context's error.
//   - exit_after (number, default 0 = never): once this many events have
//     been processed (passed or failed), the whole plugin process exits at
//     once with os.Exit(3): no Teardown, no answer for the batch in hand.
//     It simulates a crash, to test restarts without an external kill.
//
// # Counting
//
// Refusals, failures and processed events are counted in memory, per
// component instance. flowctl runs one instance per plugin process, and a
// restart starts a new process, so a restarted plugin counts from zero
// again: with nack_times = 2 it refuses each listed id twice more, and
// with exit_after = n it processes n more events before exiting again.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/flowctl/flowctl/pluginsdk"
)

// ExitCode is the status the processor exits with when exit_after is reached.
const ExitCode = 3

// Plugin returns the chaos plugin at the given version: the "chaos" sink
// and the "chaos" processor.
func Plugin(version string) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "chaos",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewSink("chaos",
				"Fault tests only: writes JSON Lines like the file sink, slowly (delay) and refusing listed event ids (nack_ids).",
				sinkSpec(), newSink),
			pluginsdk.NewProcessor("chaos",
				"Fault tests only: passes events through, failing listed ids (fail_ids), slowly (delay), and exits the process after exit_after events.",
				processorSpec(), newProcessor),
		},
	}
}

// faults decides which events to refuse (sink) or fail (processor) and
// counts, per id, how often each was.
type faults struct {
	verb   string            // "refusing" or "failing", for the error
	noun   string            // "refusal" or "failure"
	times  uint64            // refusals per id before it is accepted; 0: always
	counts map[string]uint64 // listed id → refusals so far
}

// newFaults reads the list attribute ids and the count attribute times.
func newFaults(c pluginsdk.Config, ids, times, verb, noun string) (*faults, error) {
	n, err := wholeNumber(c, times)
	if err != nil {
		return nil, err
	}
	f := &faults{verb: verb, noun: noun, times: n, counts: map[string]uint64{}}
	for i, id := range c.StringList(ids) {
		if id == "" {
			return nil, pluginsdk.NewAttrError(errors.New("an event id must not be empty"), ids, strconv.Itoa(i))
		}
		f.counts[id] = 0
	}
	return f, nil
}

// check counts a fault for id and returns the error to report when id must
// still be refused; it returns nil, counting nothing, otherwise.
func (f *faults) check(id string) error {
	n, listed := f.counts[id]
	if !listed || (f.times > 0 && n >= f.times) {
		return nil
	}
	n++
	f.counts[id] = n
	of := "always"
	if f.times > 0 {
		of = strconv.FormatUint(f.times, 10)
	}
	return fmt.Errorf("chaos: %s event %s (%s %d of %s)", f.verb, id, f.noun, n, of)
}

// wholeNumber reads the number attribute name, which must be a whole
// number, 0 or more.
func wholeNumber(c pluginsdk.Config, name string) (uint64, error) {
	v := c.Float(name)
	if v < 0 || v != math.Trunc(v) || v >= 1<<63 {
		return 0, pluginsdk.NewAttrError(fmt.Errorf("must be a whole number, 0 or more; got %v", v), name)
	}
	return uint64(v), nil
}

// delay reads the duration attribute "delay", which must not be negative.
func delay(c pluginsdk.Config) (time.Duration, error) {
	d := c.Duration("delay")
	if d < 0 {
		return 0, pluginsdk.NewAttrError(fmt.Errorf("must not be negative; got %v", d), "delay")
	}
	return d, nil
}

// sleep waits for d, or until ctx ends and returns its error.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
