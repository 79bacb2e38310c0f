package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-plugin"

	"github.com/flowctl/flowctl/pluginsdk/backoff"
)

// crashed is an instance whose plugin has gone: it never started a process
// (Abort has nothing to kill) and left two lines of output.
func crashed(t *testing.T) *Instance {
	t.Helper()
	in := &Instance{stderr: newTailBuffer(20), client: plugin.NewClient(&plugin.ClientConfig{})}
	_, _ = in.stderr.Write([]byte("starting\npanic: out of disk\n"))
	return in
}

func TestRestarter(t *testing.T) {
	errCrash := errors.New("plugin exited")
	quick := backoff.Policy{Base: time.Millisecond, Max: 2 * time.Millisecond}

	t.Run("replaces on the first attempt", func(t *testing.T) {
		var waits []int
		r := &Restarter[string]{
			Policy:  RestartPolicy{Attempts: 3, Backoff: quick},
			Replace: func(context.Context) (string, error) { return "stream 2", nil },
			Waiting: func(_ error, _ time.Duration, attempt int) { waits = append(waits, attempt) },
		}
		s, err := r.Restart(t.Context(), crashed(t), errCrash)
		if err != nil || s != "stream 2" {
			t.Fatalf("Restart = %q, %v; want stream 2", s, err)
		}
		if r.Attempts() != 1 || len(waits) != 1 || waits[0] != 1 {
			t.Errorf("attempts %d, waits %v; want 1 attempt announced as 1", r.Attempts(), waits)
		}
	})

	t.Run("failed starts count and the last failure is reported", func(t *testing.T) {
		starts := 0
		var causes []string
		r := &Restarter[string]{
			Policy: RestartPolicy{Attempts: 2, Backoff: quick},
			Replace: func(context.Context) (string, error) {
				starts++
				return "", fmt.Errorf("start %d: handshake timed out", starts)
			},
			Waiting: func(cause error, _ time.Duration, _ int) { causes = append(causes, cause.Error()) },
		}
		_, err := r.Restart(t.Context(), crashed(t), errCrash)
		if starts != 2 {
			t.Errorf("%d starts, want 2 (restart.attempts)", starts)
		}
		want := "plugin failed and has no restart attempts left (restart.attempts = 2): start 2: handshake timed out\nlast plugin output:\n  starting\n  panic: out of disk"
		if err == nil || err.Error() != want {
			t.Fatalf("error %q, want %q", err, want)
		}
		if len(causes) != 2 || causes[0] != errCrash.Error() || causes[1] != "start 1: handshake timed out" {
			t.Errorf("waits announced causes %q", causes)
		}
		// Attempts are the run's, not one failure's: none are left.
		_, err = r.Restart(t.Context(), nil, errCrash)
		if starts != 2 || err == nil || !strings.Contains(err.Error(), "no restart attempts left (restart.attempts = 2): plugin exited") {
			t.Errorf("second Restart: %d starts, error %v", starts, err)
		}
		if !errors.Is(err, errCrash) {
			t.Errorf("error %v does not wrap the cause", err)
		}
	})

	t.Run("no attempts", func(t *testing.T) {
		r := &Restarter[string]{Replace: func(context.Context) (string, error) {
			t.Error("Replace called with restart.attempts = 0")
			return "", nil
		}}
		_, err := r.Restart(t.Context(), nil, errCrash)
		if err == nil || err.Error() != "plugin failed and has no restart attempts left (restart.attempts = 0): plugin exited" {
			t.Fatalf("error %v", err)
		}
	})

	t.Run("cancel during the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		r := &Restarter[string]{
			Policy: RestartPolicy{Attempts: 5, Backoff: backoff.Policy{Base: time.Hour}},
			Replace: func(context.Context) (string, error) {
				t.Error("Replace called after the context ended")
				return "", nil
			},
			Waiting: func(_ error, d time.Duration, _ int) {
				if d < time.Hour {
					t.Errorf("wait %v, want at least the base delay", d)
				}
				cancel()
			},
		}
		start := time.Now()
		_, err := r.Restart(ctx, crashed(t), errCrash)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("Restart took %v after cancel", d)
		}
	})

	t.Run("cancel during a start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		r := &Restarter[string]{
			Policy: RestartPolicy{Attempts: 5, Backoff: quick},
			Replace: func(ctx context.Context) (string, error) {
				cancel()
				<-ctx.Done()
				return "", fmt.Errorf("start: %w", ctx.Err())
			},
		}
		_, err := r.Restart(ctx, nil, errCrash)
		if !errors.Is(err, context.Canceled) || r.Attempts() != 1 {
			t.Fatalf("error %v after %d attempts, want context.Canceled after 1", err, r.Attempts())
		}
	})
}
