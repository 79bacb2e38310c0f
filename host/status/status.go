// Package status is the one view of a run that people and scripts read:
// `flowctl status` (table and -o json), `flowctl status --watch` and the
// live block of `flowctl apply` are all built from a Run made by FromRun
// and drawn by the same renderer, so they show the same columns, units and
// numbers. The numbers come from the control plane (GetRun), which reads
// the router's counters, so they are apply's summary's too.
//
// Host side, Sampler adds what one reading cannot tell: events per second
// over the last few seconds and the CPU and memory of plugin processes
// (the process driver's, read from /proc). A source that knows how many
// events it has left (a source's optional Remaining method, see pluginsdk) gives an ETA.
//
// JSON (-o json) is this package's Run, Component and Service: numbers
// are JSON numbers, states and kinds plain lowercase or upper-case names
// as the table shows them (never the protobuf enum names), times RFC 3339.
package status

import (
	"maps"
	"math"
	"strings"
	"time"

	"github.com/flowctl/flowctl/host/health"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Run is one run of a pipeline (or a standalone control plane) with its
// components.
type Run struct {
	ID string `json:"id"`
	// Pipeline is empty for a standalone control plane's run.
	Pipeline string `json:"pipeline"`
	// State is running, completed, failed, interrupted or lost.
	State     string     `json:"state"`
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// Seconds is how long it ran (so far).
	Seconds  float64 `json:"duration_seconds"`
	Error    string  `json:"error,omitempty"`
	Endpoint string  `json:"endpoint,omitempty"`
	Pid      int64   `json:"pid,omitempty"`
	// EventsPerSecond is what the sources emit (running runs only).
	EventsPerSecond float64 `json:"events_per_second"`
	// ETASeconds is when every source expects to be done: set while
	// running when every source knows what it has left and moves.
	ETASeconds *float64    `json:"eta_seconds"`
	Components []Component `json:"components"`
	// Services are the components that registered themselves (they are
	// not the host's, so they have no counters).
	// (`status -o json` lists every registration beside the run instead.)
	Services []Service `json:"-"`
}

// Component is one of the run's components with its counters.
type Component struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Plugin string `json:"plugin"`
	Driver string `json:"driver"`
	Pid    int64  `json:"pid,omitempty"`
	// State is the control plane's: STARTING, HEALTHY, DEGRADED,
	// UNHEALTHY, STOPPED, or UNKNOWN before it registered.
	State        string `json:"state"`
	Received     uint64 `json:"received"`
	Emitted      uint64 `json:"emitted"`
	Acked        uint64 `json:"acked"`
	Failed       uint64 `json:"failed"`
	Retried      uint64 `json:"retried"`
	DeadLettered uint64 `json:"dead_lettered"`
	Restarts     uint64 `json:"restarts"`
	// Backlog is batches awaiting their answer.
	Backlog uint64 `json:"backlog_batches"`
	// EventsPerSecond: emitted (sources, processors) or acked (sinks),
	// over the last few seconds.
	EventsPerSecond float64 `json:"events_per_second"`
	// CPUPercent (100 = one core) and MemoryBytes (resident) are null
	// when the driver cannot tell.
	CPUPercent  *float64 `json:"cpu_percent"`
	MemoryBytes *uint64  `json:"memory_bytes"`
	// Remaining is what a source still has to emit; null when unknown.
	Remaining  *uint64  `json:"remaining"`
	ETASeconds *float64 `json:"eta_seconds"`
	LastError  string   `json:"last_error,omitempty"`
	// Registration is the control plane's record of it, when asked for
	// one component.
	Registration *Service `json:"registration,omitempty"`
}

// Service is a registration with the control plane.
type Service struct {
	ID              string             `json:"id"`
	Kind            string             `json:"kind"`
	Plugin          string             `json:"plugin"`
	Version         string             `json:"version,omitempty"`
	Endpoint        string             `json:"endpoint,omitempty"`
	RunID           string             `json:"run_id"`
	State           string             `json:"state"`
	Message         string             `json:"message,omitempty"`
	Managed         bool               `json:"managed"`
	RegisteredAt    *time.Time         `json:"registered_at,omitempty"`
	StateSince      *time.Time         `json:"state_since,omitempty"`
	LastHeartbeatAt *time.Time         `json:"last_heartbeat_at,omitempty"`
	Metrics         map[string]float64 `json:"metrics"`
	Metadata        map[string]string  `json:"metadata"`
}

// FromRun builds the view of run at now; svcs are the control plane's
// registrations (those of other runs are left out).
func FromRun(run *flowctlv1.Run, svcs []*flowctlv1.Service, now time.Time) *Run {
	r := &Run{
		ID: run.GetId(), Pipeline: run.GetPipeline(), State: RunStateText(run.GetState()),
		StartedAt: timeOf(run.GetStartedUnixNano()), EndedAt: timeOf(run.GetEndedUnixNano()),
		Error: run.GetError(), Endpoint: run.GetEndpoint(), Pid: run.GetPid(),
		Components: []Component{}, Services: []Service{},
	}
	if r.StartedAt != nil {
		end := now
		if r.EndedAt != nil {
			end = *r.EndedAt
		}
		r.Seconds = end.Sub(*r.StartedAt).Seconds()
	}
	running := run.GetState() == flowctlv1.RunState_RUN_STATE_RUNNING
	listed := map[string]bool{}
	eta, etaKnown := 0.0, true
	sources := 0
	for _, cc := range run.GetComponents() {
		listed[cc.GetId()] = true
		c := Component{
			ID: cc.GetId(), Kind: KindText(cc.GetKind()), Plugin: cc.GetPlugin(), Driver: cc.GetDriver(), Pid: cc.GetPid(),
			State: health.FromProto(cc.GetState()).String(), Received: cc.GetReceived(), Emitted: cc.GetEmitted(),
			Acked: cc.GetAcked(), Failed: cc.GetFailed(), Retried: cc.GetRetried(), DeadLettered: cc.GetDeadLettered(),
			Restarts: cc.GetRestarts(), Backlog: cc.GetBacklog(), LastError: cc.GetLastError(),
			Remaining: cc.Remaining,
		}
		if running {
			c.EventsPerSecond, c.CPUPercent, c.MemoryBytes = cc.GetEventsPerSecond(), cc.CpuPercent, cc.MemoryBytes
		}
		if cc.GetKind() == flowctlv1.Kind_KIND_SOURCE {
			sources++
			r.EventsPerSecond += c.EventsPerSecond
			switch {
			case !running:
			case c.Remaining != nil && *c.Remaining == 0:
				c.ETASeconds = ptr(0.0)
			case c.Remaining != nil && c.EventsPerSecond > 0:
				c.ETASeconds = ptr(math.Ceil(float64(*c.Remaining) / c.EventsPerSecond))
			}
			if c.ETASeconds == nil {
				etaKnown = false
			} else {
				eta = max(eta, *c.ETASeconds)
			}
		}
		r.Components = append(r.Components, c)
	}
	if running && etaKnown && sources > 0 {
		r.ETASeconds = &eta
	}
	for _, s := range svcs {
		if s.GetRunId() == run.GetId() && !listed[s.GetId()] {
			r.Services = append(r.Services, FromService(s))
		}
	}
	return r
}

// FromService is the view of one registration.
func FromService(s *flowctlv1.Service) Service {
	out := Service{
		ID: s.GetId(), Kind: KindText(s.GetKind()), Plugin: s.GetPlugin(), Version: s.GetVersion(), Endpoint: s.GetEndpoint(),
		RunID: s.GetRunId(), State: health.FromProto(s.GetState()).String(), Message: s.GetMessage(), Managed: s.GetManaged(),
		RegisteredAt: timeOf(s.GetRegisteredUnixNano()), StateSince: timeOf(s.GetStateSinceUnixNano()),
		LastHeartbeatAt: timeOf(s.GetLastHeartbeatUnixNano()),
		Metrics:         maps.Clone(s.GetMetrics()), Metadata: maps.Clone(s.GetMetadata()),
	}
	if out.Metrics == nil {
		out.Metrics = map[string]float64{}
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	return out
}

// Component returns the component id of r, if it has one.
func (r *Run) Component(id string) (Component, bool) {
	for _, c := range r.Components {
		if c.ID == id {
			return c, true
		}
	}
	return Component{}, false
}

// KindText is a kind as people write it: source, processor, sink ("-"
// when unknown).
func KindText(k flowctlv1.Kind) string {
	if k == flowctlv1.Kind_KIND_UNSPECIFIED {
		return "-"
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "KIND_"))
}

// RunStateText is a run state as people read it: running, completed ...
func RunStateText(s flowctlv1.RunState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "RUN_STATE_"))
}

func timeOf(unixNano int64) *time.Time {
	if unixNano == 0 {
		return nil
	}
	t := time.Unix(0, unixNano).UTC()
	return &t
}

func ptr[T any](v T) *T { return &v }
