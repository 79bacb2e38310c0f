package supervisor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowctl/flowctl/pluginsdk/backoff"
)

// RestartPolicy is how a component's failed plugin is replaced: at most
// Attempts times over the whole run (not per failure, so a plugin that
// keeps crashing ends the run), waiting Backoff before each attempt.
type RestartPolicy struct {
	Attempts int
	// Backoff is jittered so that plugins failing together (a shared
	// dependency went away) do not all come back at once.
	Backoff backoff.Policy
}

// Restarter replaces one component's plugin each time its stream fails, as
// Policy allows. S is what the caller needs from a new instance: its open
// stream. What is specific to the caller (starting and configuring through
// the run, installing the instance, opening the stream, telling the user)
// comes in as hooks; the Restarter keeps the attempts, the waits and the
// error that ends the run.
//
// A Restarter is used by one goroutine at a time: the runner of its
// component, which restarts only after its stream has failed.
type Restarter[S any] struct {
	Policy RestartPolicy
	// Replace starts, configures and installs a new instance and opens its
	// stream. An error counts as an attempt; Replace must leave nothing
	// running when it fails.
	Replace func(ctx context.Context) (S, error)
	// Waiting, when set, is told before each wait: why the last try
	// failed, how long the wait is, and which attempt follows (from 1).
	Waiting func(cause error, delay time.Duration, attempt int)

	used int
}

// Restart ends old (what is left of the failed plugin; nil when nothing
// is) and replaces it. It returns the new instance's stream, ctx's error
// when ctx ends first, or, once Policy.Attempts are used up, an error
// wrapping the last failure with old's last output as a hint.
func (r *Restarter[S]) Restart(ctx context.Context, old *Instance, cause error) (S, error) {
	var none S
	var lastOutput []string
	if old != nil {
		lastOutput = old.LastOutput()
		old.Abort(ctx)
	}
	for {
		if r.used >= r.Policy.Attempts {
			return none, fmt.Errorf("plugin failed and has no restart attempts left (restart.attempts = %d): %w%s",
				r.Policy.Attempts, cause, outputHint(lastOutput))
		}
		delay := r.Policy.Backoff.Delay(r.used)
		r.used++
		if r.Waiting != nil {
			r.Waiting(cause, delay, r.used)
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return none, ctx.Err()
		}
		s, err := r.Replace(ctx)
		if err == nil {
			return s, nil
		}
		if ctx.Err() != nil {
			return none, ctx.Err()
		}
		cause = err
	}
}

// Attempts returns how many restarts have been tried so far.
func (r *Restarter[S]) Attempts() int { return r.used }

func outputHint(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return "\nlast plugin output:\n  " + strings.Join(lines, "\n  ")
}
