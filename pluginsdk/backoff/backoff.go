// Package backoff computes the waits between retries: exponential from a
// base delay, capped, with random jitter. The host's restart policy, the
// router's on_error = "retry" and the http sink all wait this way, so that
// many instances that failed together (a shared downstream went away) do
// not come back in lockstep.
//
// The jitter only adds: the wait before retry n is at least Base·2ⁿ (until
// Max), so a configured delay keeps meaning "wait at least this long". Each
// wait counts from the previous attempt, so instances spread apart by the
// jitter stay apart once their waits reach Max.
//
// It is a package of its own under pluginsdk so that the host, first-party
// plugins and third-party authors share it without it becoming part of
// pluginsdk's own surface (the top level of the repository is fixed, see
// ARCHITECTURE.md).
package backoff

import (
	"math/rand/v2"
	"time"
)

// DefaultJitter is the jitter of a Policy that sets none: up to half the
// nominal wait again.
const DefaultJitter = 0.5

// Policy is an exponential backoff.
type Policy struct {
	// Base is the nominal wait before the first retry; it doubles with
	// each attempt.
	Base time.Duration
	// Max caps every wait, jitter included; 0 leaves waits uncapped.
	Max time.Duration
	// Jitter is the largest random share of the nominal wait added to it
	// (0.5: up to half again). 0 means DefaultJitter; negative means none.
	Jitter float64
}

// Nominal is the wait before retry attempt+1 without jitter: Base·2^attempt,
// capped at Max.
func (p Policy) Nominal(attempt int) time.Duration {
	d := p.Base
	for range max(attempt, 0) {
		if p.Max > 0 && d >= p.Max || d > time.Duration(1<<62) {
			break
		}
		d *= 2
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	return max(d, 0)
}

// Delay is the wait before retry attempt+1 (attempt counts from 0): the
// nominal wait plus up to Jitter of it at random, capped at Max.
func (p Policy) Delay(attempt int) time.Duration {
	d := p.Nominal(attempt)
	j := p.Jitter
	if j == 0 {
		j = DefaultJitter
	}
	if spread := time.Duration(float64(d) * j); j > 0 && spread > 0 {
		d += rand.N(spread)
	}
	if p.Max > 0 {
		d = min(d, p.Max)
	}
	return d
}
