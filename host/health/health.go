// Package health decides a registered component's state from its
// heartbeats: STARTING → HEALTHY ↔ DEGRADED → UNHEALTHY → STOPPED.
//
// A component is STARTING from registration until its first heartbeat, then
// HEALTHY while its heartbeats arrive and it reports itself OK. It is
// DEGRADED when it reports itself degraded, or when its last heartbeat is
// older than half the TTL (late, not yet lost). It is UNHEALTHY when the
// last heartbeat (or the registration, if none came) is older than the TTL,
// or it reports itself failing. A heartbeat brings an UNHEALTHY component
// back: the control plane believes what it hears last. STOPPED is final for
// a registration: it ends with Deregister, and only a new registration
// starts the cycle again.
//
// Evaluate is the whole rule, a pure function of what was heard and when;
// the registry applies it on every heartbeat, and the Janitor applies it
// every Interval to notice silence.
package health

import (
	"context"
	"fmt"
	"strings"
	"time"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// State is a component's health.
type State int

// The states, in the order of the cycle.
const (
	Unknown State = iota
	Starting
	Healthy
	Degraded
	Unhealthy
	Stopped
)

var stateNames = [...]string{"UNKNOWN", "STARTING", "HEALTHY", "DEGRADED", "UNHEALTHY", "STOPPED"}

func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int(s))
	}
	return stateNames[s]
}

// ParseState parses a state name, in any case.
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if strings.EqualFold(s, n) && i > 0 {
			return State(i), nil
		}
	}
	return Unknown, fmt.Errorf("unknown state %q: want one of %s", s, strings.Join(stateNames[1:], ", "))
}

// Proto returns the wire value of s.
func (s State) Proto() flowctlv1.ServiceState {
	if s < Starting || s > Stopped {
		return flowctlv1.ServiceState_SERVICE_STATE_UNSPECIFIED
	}
	// The enum lists the states in the same order.
	return flowctlv1.ServiceState(s)
}

// FromProto returns the State of a wire value.
func FromProto(s flowctlv1.ServiceState) State {
	if s < flowctlv1.ServiceState_SERVICE_STATE_STARTING || s > flowctlv1.ServiceState_SERVICE_STATE_STOPPED {
		return Unknown
	}
	return State(s)
}

// Status is what a component reports about itself in a heartbeat.
type Status int

// The reported statuses.
const (
	StatusOK Status = iota
	StatusDegraded
	StatusFailing
)

// StatusFromProto maps the wire value; unspecified means OK.
func StatusFromProto(s flowctlv1.HeartbeatStatus) Status {
	switch s {
	case flowctlv1.HeartbeatStatus_HEARTBEAT_STATUS_DEGRADED:
		return StatusDegraded
	case flowctlv1.HeartbeatStatus_HEARTBEAT_STATUS_FAILING:
		return StatusFailing
	}
	return StatusOK
}

// Defaults of Policy.
const (
	DefaultTTL      = 30 * time.Second
	DefaultInterval = 10 * time.Second
)

// Policy is the heartbeat TTL and how often the janitor looks.
type Policy struct {
	TTL      time.Duration
	Interval time.Duration
}

// WithDefaults fills zero fields with the defaults.
func (p Policy) WithDefaults() Policy {
	if p.TTL <= 0 {
		p.TTL = DefaultTTL
	}
	if p.Interval <= 0 {
		p.Interval = DefaultInterval
	}
	return p
}

// HeartbeatInterval is how often a component should send heartbeats: three
// per TTL, so one lost heartbeat never makes it UNHEALTHY.
func (p Policy) HeartbeatInterval() time.Duration { return p.WithDefaults().TTL / 3 }

// Observation is what the control plane has heard from a component.
type Observation struct {
	State      State
	Registered time.Time
	// LastHeartbeat is zero until the first heartbeat.
	LastHeartbeat time.Time
	Reported      Status
	// Message is the component's own message with its last status.
	Message string
}

// Evaluate returns the state o should be in at now, and why.
func (p Policy) Evaluate(o Observation, now time.Time) (State, string) {
	p = p.WithDefaults()
	if o.State == Stopped {
		return Stopped, ""
	}
	last, what := o.LastHeartbeat, "heartbeat"
	if last.IsZero() {
		last, what = o.Registered, "heartbeat since registration"
	}
	if age := now.Sub(last); age > p.TTL {
		return Unhealthy, fmt.Sprintf("no %s for %s (TTL %s)", what, age.Round(time.Millisecond), p.TTL)
	}
	if o.LastHeartbeat.IsZero() {
		return Starting, ""
	}
	switch o.Reported {
	case StatusFailing:
		return Unhealthy, "reported failing: " + o.Message
	case StatusDegraded:
		return Degraded, "reported degraded: " + o.Message
	}
	if age := now.Sub(last); age > p.TTL/2 {
		return Degraded, fmt.Sprintf("heartbeat late: last one %s ago (TTL %s)", age.Round(time.Millisecond), p.TTL)
	}
	return Healthy, o.Message
}

// Janitor calls sweep with the current time every p.Interval until ctx
// ends, so that silence is noticed without any heartbeat arriving.
func Janitor(ctx context.Context, p Policy, sweep func(now time.Time)) {
	t := time.NewTicker(p.WithDefaults().Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sweep(now)
		}
	}
}
