package backoff

import (
	"testing"
	"time"
)

func TestNominal(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	for attempt, want := range []time.Duration{10, 20, 40, 50, 50} {
		if got := p.Nominal(attempt); got != want*time.Millisecond {
			t.Errorf("Nominal(%d) = %v, want %v", attempt, got, want*time.Millisecond)
		}
	}
	if got := (Policy{Base: time.Second}).Nominal(3); got != 8*time.Second {
		t.Errorf("uncapped Nominal(3) = %v, want 8s", got)
	}
	if got := (Policy{Base: time.Second}).Nominal(200); got <= 0 {
		t.Errorf("uncapped Nominal(200) = %v, want no overflow", got)
	}
}

// TestDelayJitters checks the bounds a caller relies on (never below the
// nominal wait, never above Max or half again) and that the waits of
// instances retrying together really differ.
func TestDelayJitters(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	for attempt := range 6 {
		nominal := p.Nominal(attempt)
		upper := min(nominal+nominal/2, p.Max)
		seen := map[time.Duration]bool{}
		for range 200 {
			d := p.Delay(attempt)
			if d < nominal || d > upper {
				t.Fatalf("Delay(%d) = %v, want within [%v, %v]", attempt, d, nominal, upper)
			}
			seen[d] = true
		}
		if nominal < p.Max && len(seen) < 50 {
			t.Errorf("Delay(%d) took %d distinct values in 200 draws: not jittered", attempt, len(seen))
		}
	}
}

func TestDelayWithoutJitter(t *testing.T) {
	p := Policy{Base: 10 * time.Millisecond, Max: time.Second, Jitter: -1}
	for attempt := range 4 {
		if got, want := p.Delay(attempt), p.Nominal(attempt); got != want {
			t.Errorf("Delay(%d) without jitter = %v, want %v", attempt, got, want)
		}
	}
	if got := (Policy{}).Delay(3); got != 0 {
		t.Errorf("zero policy Delay = %v, want 0", got)
	}
}
