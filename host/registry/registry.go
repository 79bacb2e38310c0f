// Package registry is the control plane's record of runs and of the
// components registered in them, kept in a Store (bbolt, or memory).
//
// Every registration belongs to a run. Open starts a new run for the
// process that opens the store (a pipeline run for `flowctl apply`, a
// server session for `flowctl server`) and closes the books on earlier
// ones: a run still marked RUNNING was lost with its flowctl (killed,
// crashed), and its components that never deregistered are marked
// UNHEALTHY, "left over". Only the current run's components ever become
// HEALTHY; a heartbeat that names an earlier run is refused with
// ErrNotRegistered, and the component registers again.
//
// States follow package health: Register makes a component STARTING,
// heartbeats make it HEALTHY or DEGRADED, Sweep (called by the janitor)
// marks the silent ones UNHEALTHY, Deregister makes it STOPPED. Every state
// change is logged and sent to watchers.
package registry

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/protobuf/proto"

	"github.com/flowctl/flowctl/host/health"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Errors a caller can act on.
var (
	// ErrNotRegistered: the id is not registered in the current run.
	ErrNotRegistered = errors.New("not registered in the current run")
	// ErrNotFound: no such run or service.
	ErrNotFound = errors.New("not found")
	// ErrInvalid: a request lacks what it needs (an id).
	ErrInvalid = errors.New("invalid request")
	// ErrLimit: a new self-registration would pass Options.MaxServices.
	ErrLimit = errors.New("registration limit reached")
)

// Options configure a Registry.
type Options struct {
	Logger hclog.Logger
	Policy health.Policy
	// Pipeline names the run's pipeline; empty for a standalone server.
	Pipeline string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Counters returns the current run's live per-component counters.
type Counters func() []*flowctlv1.ComponentCounters

// Registry is safe for concurrent use.
type Registry struct {
	store  Store
	log    hclog.Logger
	policy health.Policy
	now    func() time.Time

	mu       sync.Mutex
	run      *flowctlv1.Run
	services map[string]*entry // the current run's, by id
	counters Counters
	watchers map[*Watcher]struct{}
	closed   bool
	max      int // see SetMaxServices
}

// entry is a registration and what health needs that the record lacks.
type entry struct {
	svc      *flowctlv1.Service
	reported health.Status
	said     string // the component's last message
}

// Open starts a new run in store. It marks runs left RUNNING as LOST and
// their live registrations UNHEALTHY.
func Open(store Store, opts Options) (*Registry, error) {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Registry{
		store: store, log: opts.Logger.Named("registry"), policy: opts.Policy.WithDefaults(), now: opts.Now,
		services: map[string]*entry{}, watchers: map[*Watcher]struct{}{},
	}
	now := r.now()
	if err := r.closeLostRuns(now); err != nil {
		return nil, err
	}
	r.run = &flowctlv1.Run{Id: NewRunID(now), Pipeline: opts.Pipeline, State: flowctlv1.RunState_RUN_STATE_RUNNING, StartedUnixNano: now.UnixNano()}
	if err := store.PutRun(r.run); err != nil {
		return nil, err
	}
	return r, nil
}

// NewRunID returns a run id that sorts by start time.
func NewRunID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

func (r *Registry) closeLostRuns(now time.Time) error {
	runs, err := r.store.Runs()
	if err != nil {
		return err
	}
	for _, run := range runs {
		if run.GetState() != flowctlv1.RunState_RUN_STATE_RUNNING {
			continue
		}
		run.State = flowctlv1.RunState_RUN_STATE_LOST
		run.Error = "flowctl went away while the run was in progress (killed or crashed); the counters are from its last save"
		if err := r.store.PutRun(run); err != nil {
			return err
		}
		svcs, err := r.store.Services(run.GetId())
		if err != nil {
			return err
		}
		for _, s := range svcs {
			if health.FromProto(s.GetState()) == health.Stopped || health.FromProto(s.GetState()) == health.Unhealthy {
				continue
			}
			s.State = health.Unhealthy.Proto()
			s.Message = fmt.Sprintf("left over from run %s, which ended without deregistering it; not part of the current run", run.GetId())
			s.StateSinceUnixNano = now.UnixNano()
			if err := r.store.PutService(s); err != nil {
				return err
			}
		}
		r.log.Warn("an earlier run was lost; its registrations are stale", "run", run.GetId(), "pipeline", run.GetPipeline())
	}
	return nil
}

// RunID is the current run's id.
func (r *Registry) RunID() string { return r.run.GetId() }

// Policy is the health policy in force.
func (r *Registry) Policy() health.Policy { return r.policy }

// SetEndpoint records where the control plane of the current run listens.
func (r *Registry) SetEndpoint(endpoint string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.Endpoint = endpoint
	return r.store.PutRun(r.run)
}

// SetPid records the host process of the current run.
func (r *Registry) SetPid(pid int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.Pid = int64(pid)
	return r.store.PutRun(r.run)
}

// SetCounters installs the source of the current run's live counters.
func (r *Registry) SetCounters(c Counters) {
	r.mu.Lock()
	r.counters = c
	r.mu.Unlock()
}

// SetMaxServices bounds the live registrations of the current run that
// components made themselves (the host's own, managed ones are bounded by
// its pipeline): one more is refused with ErrLimit. 0 means no bound.
func (r *Registry) SetMaxServices(n int) {
	r.mu.Lock()
	r.max = n
	r.mu.Unlock()
}

// Register adds or replaces a component of the current run. managed marks
// components the host registers for the plugins it runs.
func (r *Registry) Register(req *flowctlv1.RegisterRequest, managed bool) (*flowctlv1.Service, error) {
	if strings.TrimSpace(req.GetId()) == "" {
		return nil, fmt.Errorf("%w: a registration needs an id", ErrInvalid)
	}
	now := r.now()
	svc := &flowctlv1.Service{
		Id: req.GetId(), Kind: req.GetKind(), Plugin: req.GetPlugin(), Version: req.GetVersion(),
		Endpoint: req.GetEndpoint(), Metadata: maps.Clone(req.GetMetadata()), RunId: r.run.GetId(),
		State: health.Starting.Proto(), Message: "registered; waiting for the first heartbeat",
		RegisteredUnixNano: now.UnixNano(), StateSinceUnixNano: now.UnixNano(), Managed: managed,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, again := r.services[svc.GetId()]; !again && !managed && r.max > 0 && r.selfRegistered() >= r.max {
		return nil, fmt.Errorf("%w: %d components registered themselves in run %s and are live, the most this control plane keeps; deregister some first", ErrLimit, r.max, r.run.GetId())
	}
	if err := r.store.PutService(svc); err != nil {
		return nil, err
	}
	r.services[svc.GetId()] = &entry{svc: svc}
	r.log.Info("component registered", "id", svc.GetId(), "kind", kindName(svc.GetKind()), "plugin", svc.GetPlugin(), "managed", managed)
	r.notify(&flowctlv1.ServiceEvent{Type: flowctlv1.ServiceEvent_TYPE_REGISTERED, Service: proto.CloneOf(svc)})
	return proto.CloneOf(svc), nil
}

// Heartbeat records a heartbeat of id in run runID ("" means the current
// run) and returns the component's state.
func (r *Registry) Heartbeat(id, runID string, status health.Status, message string, metrics map[string]float64) (health.State, error) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e, err := r.current(id, runID)
	if err != nil {
		return health.Unknown, err
	}
	if health.FromProto(e.svc.GetState()) == health.Stopped {
		return health.Stopped, fmt.Errorf("%s: %w: it deregistered; register again", id, ErrNotRegistered)
	}
	e.svc.LastHeartbeatUnixNano = now.UnixNano()
	e.reported, e.said = status, message
	if metrics != nil {
		e.svc.Metrics = maps.Clone(metrics)
	}
	r.evaluate(e, now)
	if err := r.store.PutService(e.svc); err != nil {
		return health.Unknown, err
	}
	return health.FromProto(e.svc.GetState()), nil
}

// Deregister marks id STOPPED.
func (r *Registry) Deregister(id, runID, message string) error {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	e, err := r.current(id, runID)
	if err != nil {
		return err
	}
	if message == "" {
		message = "deregistered"
	}
	r.transition(e, health.Stopped, message, now)
	delete(r.services, id)
	r.notify(&flowctlv1.ServiceEvent{Type: flowctlv1.ServiceEvent_TYPE_DEREGISTERED, Service: proto.CloneOf(e.svc)})
	return r.store.PutService(e.svc)
}

// selfRegistered counts the live registrations components made
// themselves; r.mu is held.
func (r *Registry) selfRegistered() int {
	n := 0
	for _, e := range r.services {
		if !e.svc.GetManaged() {
			n++
		}
	}
	return n
}

func (r *Registry) current(id, runID string) (*entry, error) {
	if runID != "" && runID != r.run.GetId() {
		return nil, fmt.Errorf("%s: %w: run %s is over (the current run is %s)", id, ErrNotRegistered, runID, r.run.GetId())
	}
	e, ok := r.services[id]
	if !ok {
		return nil, fmt.Errorf("%s: %w (run %s)", id, ErrNotRegistered, r.run.GetId())
	}
	return e, nil
}

// Sweep re-evaluates every live registration at now; the janitor calls it.
// It also saves the current run's counters, so a lost run keeps recent ones.
func (r *Registry) Sweep(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.services {
		if r.evaluate(e, now) {
			if err := r.store.PutService(e.svc); err != nil {
				r.log.Error("save service state", "id", e.svc.GetId(), "error", err)
			}
		}
	}
	if r.counters != nil && !r.closed {
		r.run.Components = r.counters()
		if err := r.store.PutRun(r.run); err != nil {
			r.log.Error("save run counters", "error", err)
		}
	}
}

// evaluate applies the health rule and reports whether the state changed.
func (r *Registry) evaluate(e *entry, now time.Time) bool {
	o := health.Observation{
		State: health.FromProto(e.svc.GetState()), Reported: e.reported, Message: e.said,
		Registered: time.Unix(0, e.svc.GetRegisteredUnixNano()),
	}
	if hb := e.svc.GetLastHeartbeatUnixNano(); hb != 0 {
		o.LastHeartbeat = time.Unix(0, hb)
	}
	next, why := r.policy.Evaluate(o, now)
	if next == o.State {
		e.svc.Message = why
		return false
	}
	r.transition(e, next, why, now)
	return true
}

func (r *Registry) transition(e *entry, to health.State, why string, now time.Time) {
	from := health.FromProto(e.svc.GetState())
	e.svc.State, e.svc.Message, e.svc.StateSinceUnixNano = to.Proto(), why, now.UnixNano()
	if from == to {
		return
	}
	args := []any{"id", e.svc.GetId(), "from", from.String(), "to", to.String()}
	if why != "" {
		args = append(args, "reason", why)
	}
	if to == health.Unhealthy {
		r.log.Warn("component state changed", args...)
	} else {
		r.log.Info("component state changed", args...)
	}
	r.notify(&flowctlv1.ServiceEvent{Type: flowctlv1.ServiceEvent_TYPE_STATE, Service: proto.CloneOf(e.svc), Previous: from.Proto()})
}

// Services returns the current run's registrations, or with allRuns every
// run's, sorted by run (newest first) and id.
func (r *Registry) Services(allRuns bool) ([]*flowctlv1.Service, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	runID := r.run.GetId()
	if allRuns {
		runID = ""
	}
	out, err := r.store.Services(runID)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *flowctlv1.Service) int {
		if c := strings.Compare(b.GetRunId(), a.GetRunId()); c != 0 {
			return c
		}
		return strings.Compare(a.GetId(), b.GetId())
	})
	return out, nil
}

// Service returns one registration; runID "" means the current run.
func (r *Registry) Service(runID, id string) (*flowctlv1.Service, error) {
	r.mu.Lock()
	if runID == "" {
		runID = r.run.GetId()
	}
	if e, ok := r.services[id]; ok && runID == r.run.GetId() {
		defer r.mu.Unlock()
		return proto.CloneOf(e.svc), nil
	}
	r.mu.Unlock()
	// Deregistered, or of an earlier run: only the store has it.
	svcs, err := r.store.Services(runID)
	if err != nil {
		return nil, err
	}
	for _, s := range svcs {
		if s.GetId() == id {
			return s, nil
		}
	}
	return nil, fmt.Errorf("service %q in run %s: %w", id, runID, ErrNotFound)
}

// States returns the current run's live states by id.
func (r *Registry) States() map[string]health.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]health.State, len(r.services))
	for id, e := range r.services {
		out[id] = health.FromProto(e.svc.GetState())
	}
	return out
}

// Runs returns every run, newest first; the current one with live counters.
func (r *Registry) Runs() ([]*flowctlv1.Run, error) {
	runs, err := r.store.Runs()
	if err != nil {
		return nil, err
	}
	cur := r.Run()
	for i, run := range runs {
		if run.GetId() == cur.GetId() {
			runs[i] = cur
		}
	}
	slices.SortFunc(runs, func(a, b *flowctlv1.Run) int { return strings.Compare(b.GetId(), a.GetId()) })
	return runs, nil
}

// Run returns the current run with live counters and component states.
func (r *Registry) Run() *flowctlv1.Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := proto.CloneOf(r.run)
	if r.counters != nil && !r.closed {
		run.Components = r.counters()
	}
	for _, c := range run.Components {
		if e, ok := r.services[c.GetId()]; ok {
			c.State = e.svc.GetState()
		}
	}
	return run
}

// GetRun returns the run id; "" means the current one.
func (r *Registry) GetRun(id string) (*flowctlv1.Run, error) {
	if id == "" || id == r.run.GetId() {
		return r.Run(), nil
	}
	runs, err := r.store.Runs()
	if err != nil {
		return nil, err
	}
	for _, run := range runs {
		if run.GetId() == id {
			return run, nil
		}
	}
	return nil, fmt.Errorf("run %q: %w", id, ErrNotFound)
}

// End closes the current run with its final state and counters; the
// counters source is dropped. Components still registered are marked
// STOPPED: their run is over.
func (r *Registry) End(state flowctlv1.RunState, runErr error, final []*flowctlv1.ComponentCounters) error {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run.State, r.run.EndedUnixNano = state, now.UnixNano()
	if runErr != nil {
		r.run.Error = runErr.Error()
	}
	if final != nil {
		r.run.Components = final
	}
	for _, c := range r.run.Components {
		if e, ok := r.services[c.GetId()]; ok {
			c.State = e.svc.GetState()
		}
	}
	r.counters = nil
	r.closed = true
	for id, e := range r.services {
		r.transition(e, health.Stopped, "the run ended", now)
		if err := r.store.PutService(e.svc); err != nil {
			return err
		}
		delete(r.services, id)
	}
	return r.store.PutRun(r.run)
}

func kindName(k flowctlv1.Kind) string {
	return strings.ToLower(strings.TrimPrefix(k.String(), "KIND_"))
}
