package host

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestApplyStartProgress: apply starts plugins a bounded number at a time
// and, when that takes a while, says how far it is.
func TestApplyStartProgress(t *testing.T) {
	defer func(d time.Duration) { progressInterval = d }(progressInterval)
	progressInterval = 10 * time.Millisecond
	h, ui := testHost(t)
	var src strings.Builder
	src.WriteString("source \"generator\" \"ticks\" {\n  count = 50\n}\n")
	prev := "source.ticks"
	for i := range 10 {
		fmt.Fprintf(&src, "processor \"transform\" \"p%d\" {\n  inputs = [%s]\n}\n", i, prev)
		prev = fmt.Sprintf("processor.p%d", i)
	}
	fmt.Fprintf(&src, "sink \"discard\" \"out\" {\n  inputs = [%s]\n}\n", prev)
	plan := load(t, h, src.String(), nil)

	sum, err := h.Apply(t.Context(), plan, ApplyOptions{StartParallelism: 2, StateDir: t.TempDir()})
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, ui.String())
	}
	for _, c := range sum.Components {
		if c.Address.String() == "sink.out" && c.EventsAcked != 50 {
			t.Errorf("the sink acked %d events, want 50", c.EventsAcked)
		}
	}
	out := ui.String()
	if !strings.Contains(out, "Starting plugins: 12/12\n") {
		t.Errorf("no final progress line in:\n%s", out)
	}
	if strings.Count(out, "Starting plugins: ") < 2 {
		t.Errorf("progress reported fewer than twice while 12 plugins started two at a time:\n%s", out)
	}
}
