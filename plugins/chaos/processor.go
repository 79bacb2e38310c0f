package chaos

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/flowctl/flowctl/pluginsdk"
)

func processorSpec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.StringList("fail_ids", "Ids of events to fail: each produces no output and a per-event error.").Default([]string{}),
		pluginsdk.Number("fail_times", "How many times each id in fail_ids fails before it passes; 0 fails it always. Counted in memory: a restarted plugin counts again.").Default(0),
		pluginsdk.Duration("delay", "Sleep this long before each event.").Default("0s"),
		pluginsdk.StringList("corrupt_ids", "Ids of events to emit with an attribute (chaos.corrupt) that is not valid UTF-8, as a careless source might: the next component refuses them.").Default([]string{}),
		pluginsdk.Number("exit_after", "Exit the whole plugin process abruptly (os.Exit(3)) once this many events were processed in it; 0 never exits.").Default(0),
	)
}

// Processor passes events through, failing the listed ids, and crashes its
// process after exit_after events. Process is never called concurrently,
// so its counters need no lock.
type Processor struct {
	delay     time.Duration
	fails     *faults
	exitAfter uint64 // 0: never
	corrupt   map[string]bool
	processed uint64
	log       pluginsdk.Logger
	exit      func(code int) // os.Exit; replaced in tests
}

var _ pluginsdk.Processor = (*Processor)(nil)

func newProcessor(init pluginsdk.Init) (pluginsdk.Processor, error) {
	d, err := delay(init.Config)
	if err != nil {
		return nil, err
	}
	fails, err := newFaults(init.Config, "fail_ids", "fail_times", "failing", "failure")
	if err != nil {
		return nil, err
	}
	exitAfter, err := wholeNumber(init.Config, "exit_after")
	if err != nil {
		return nil, err
	}
	log := init.Logger
	corrupt := map[string]bool{}
	for _, id := range init.Config.StringList("corrupt_ids") {
		corrupt[id] = true
	}
	return &Processor{delay: d, fails: fails, exitAfter: exitAfter, corrupt: corrupt, log: log, exit: os.Exit}, nil
}

// Open does nothing: the processor holds no resources.
func (p *Processor) Open(context.Context) error { return nil }

// Process sleeps for delay, then fails the event if it is listed and must
// still fail, or emits it unchanged. Once exit_after events have been
// processed it exits the process.
func (p *Processor) Process(ctx context.Context, in pluginsdk.Event, emit func(pluginsdk.Event)) error {
	if err := sleep(ctx, p.delay); err != nil {
		return fmt.Errorf("chaos processor: delay interrupted: %w", err)
	}
	err := p.fails.check(in.ID)
	if err == nil {
		if p.corrupt[in.ID] {
			in.SetAttribute("chaos.corrupt", "\xff\xfe")
		}
		emit(in)
	}
	p.processed++
	if exitDue(p.processed, p.exitAfter) {
		p.log.Error("exiting the plugin process as configured by exit_after",
			"exit_after", p.exitAfter, "processed", p.processed, "exit_code", ExitCode)
		p.exit(ExitCode)
	}
	return err
}

// exitDue reports whether a processor that has processed events so far
// must exit, given exit_after (0: never).
func exitDue(processed, exitAfter uint64) bool {
	return exitAfter > 0 && processed >= exitAfter
}

// Teardown does nothing.
func (p *Processor) Teardown(context.Context) error { return nil }
