package health

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestEvaluate(t *testing.T) {
	p := Policy{TTL: 30 * time.Second}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		o    Observation
		at   time.Duration // after t0
		want State
		why  string
	}{
		{"registered, no heartbeat yet", Observation{State: Starting, Registered: t0}, 5 * time.Second, Starting, ""},
		{"registered, silent past the TTL", Observation{State: Starting, Registered: t0}, 31 * time.Second, Unhealthy, "no heartbeat since registration for 31s (TTL 30s)"},
		{"fresh heartbeat", Observation{State: Starting, Registered: t0, LastHeartbeat: t0}, time.Second, Healthy, ""},
		{"late heartbeat", Observation{State: Healthy, Registered: t0, LastHeartbeat: t0}, 16 * time.Second, Degraded, "heartbeat late: last one 16s ago (TTL 30s)"},
		{"lost heartbeat", Observation{State: Degraded, Registered: t0, LastHeartbeat: t0}, 30*time.Second + time.Millisecond, Unhealthy, "no heartbeat for 30.001s (TTL 30s)"},
		{"reports degraded", Observation{State: Healthy, Registered: t0, LastHeartbeat: t0, Reported: StatusDegraded, Message: "disk 91% full"}, time.Second, Degraded, "reported degraded: disk 91% full"},
		{"reports failing", Observation{State: Healthy, Registered: t0, LastHeartbeat: t0, Reported: StatusFailing, Message: "broker down"}, time.Second, Unhealthy, "reported failing: broker down"},
		{"recovers after silence", Observation{State: Unhealthy, Registered: t0, LastHeartbeat: t0.Add(time.Minute)}, time.Minute + time.Second, Healthy, ""},
		{"stopped stays stopped", Observation{State: Stopped, Registered: t0}, time.Hour, Stopped, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := p.Evaluate(tt.o, t0.Add(tt.at))
			if got != tt.want || why != tt.why {
				t.Errorf("Evaluate = %s %q, want %s %q", got, why, tt.want, tt.why)
			}
		})
	}
}

func TestStateNames(t *testing.T) {
	for s := Starting; s <= Stopped; s++ {
		got, err := ParseState(strings.ToLower(s.String()))
		if err != nil || got != s {
			t.Errorf("ParseState(%q) = %v, %v", s, got, err)
		}
		if FromProto(s.Proto()) != s {
			t.Errorf("%s does not survive the wire", s)
		}
		if want := "SERVICE_STATE_" + s.String(); s.Proto().String() != want {
			t.Errorf("%s.Proto() = %s, want %s", s, s.Proto(), want)
		}
	}
	if _, err := ParseState("sleepy"); err == nil || !strings.Contains(err.Error(), "STARTING, HEALTHY, DEGRADED, UNHEALTHY, STOPPED") {
		t.Errorf("ParseState(sleepy) error = %v", err)
	}
	if FromProto(flowctlv1.ServiceState_SERVICE_STATE_UNSPECIFIED) != Unknown {
		t.Error("unspecified is not Unknown")
	}
}

func TestJanitorSweepsUntilCancelled(t *testing.T) {
	sweeps := make(chan time.Time, 10)
	done := make(chan struct{})
	jctx, stop := context.WithCancel(t.Context())
	go func() {
		Janitor(jctx, Policy{Interval: 10 * time.Millisecond}, func(now time.Time) { sweeps <- now })
		close(done)
	}()
	for range 3 {
		select {
		case <-sweeps:
		case <-time.After(5 * time.Second):
			t.Fatal("janitor did not sweep")
		}
	}
	stop()
	<-done
}
