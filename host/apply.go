package host

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/hcl/v2"
	"golang.org/x/sync/errgroup"

	"github.com/flowctl/flowctl/drivers"
	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host/checkpoint"
	"github.com/flowctl/flowctl/host/plane"
	"github.com/flowctl/flowctl/host/redact"
	"github.com/flowctl/flowctl/host/router"
	"github.com/flowctl/flowctl/host/supervisor"
	"github.com/flowctl/flowctl/pluginsdk/backoff"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// ApplyOptions tune one run.
type ApplyOptions struct {
	// Interrupt, when closed, stops the sources and drains what is in
	// flight, for at most the pipeline's shutdown_timeout; cancelling
	// Apply's context stops at once.
	Interrupt <-chan struct{}
	// StopTimeout bounds each plugin's Stop request; default 10s.
	StopTimeout time.Duration
	// StartTimeout bounds each plugin's start and handshake, and each
	// request to configure it; default 30s.
	StartTimeout time.Duration
	// StartParallelism is how many plugins start at once; default
	// DefaultParallelism().
	StartParallelism int
	// StateDir holds the checkpoints; default .flowctl/state/<pipeline>
	// next to the pipeline file.
	StateDir string
	// Reset deletes the checkpoints first, so every source starts over.
	Reset bool
	// ShutdownTimeout overrides the pipeline's shutdown_timeout when set.
	ShutdownTimeout time.Duration
	// Health tunes the plugins' health checks.
	Health supervisor.HealthOptions
	// PluginTLS encrypts the connections to local plugins too (see the
	// supervisor package doc: they are in a private socket directory).
	PluginTLS bool
	// Observers follow the run (control plane, metrics, status display).
	Observers []Observer
	// PluginEnv, when set, gives each plugin instance more environment
	// (NAME=value) by component address: the run's control plane and the
	// plugin's own credential for it. It wins over flowctl's environment.
	PluginEnv func(component string) []string
	// ControlProcs, when above zero, is the GOMAXPROCS the host runs with
	// while the run's batches go plugin to plugin (host/plane), restored
	// when they stop. The host then only reads control messages, a few
	// hundred a second per plugin; with more than one P, each of them woke
	// an idle thread, and that handoff was a fifth of the host's CPU.
	// Zero leaves GOMAXPROCS alone, as do runs relayed through the host.
	// GOMAXPROCS is the process's: set it only where one Apply runs at a
	// time, as flowctl apply does.
	ControlProcs int
}

// ConfigError is returned by Apply when a plugin rejects its configuration;
// Diagnostics point into the pipeline files.
type ConfigError struct {
	Diagnostics hcl.Diagnostics
}

func (e *ConfigError) Error() string { return e.Diagnostics.Error() }

// run is one Apply: the started instances and the router between them.
type run struct {
	h *Host
	// log is the host's log through the run's redaction: everything the
	// run logs may quote what a plugin said.
	log   hclog.Logger
	plan  *Plan
	opts  ApplyOptions
	store *checkpoint.Store
	// id names the run in remote drivers' labels; authority issues the
	// certificates of remote plugins (nil when none runs remotely).
	id        string
	authority *drivers.Authority

	// streamCtx parents every plugin stream; it ends when routing does.
	streamCtx context.Context

	mu sync.Mutex
	// members are each component's instances: one, or parallelism many.
	members map[flowhcl.Address][]*member
	// acked counts each source's events acked across runs, for the
	// checkpoint record; types are the sources' component types, and
	// fingerprints the configuration each source's checkpoint records.
	acked        map[string]uint64
	types        map[string]string
	fingerprints map[string]sourceFingerprints
	// checkpoints are each source's checkpoints in this run, for the
	// checkpoint lag.
	checkpoints map[string]checkpointed

	// socketDir is the run's private directory for plugins' unix sockets.
	socketDir string

	interrupted bool // the sources were stopped before they ended
	abandoned   bool // the drain outlasted shutdown_timeout
	watchers    sync.WaitGroup

	// eng carries the batches once built (guarded by mu), for live
	// statistics.
	eng engine
}

// member is one instance of a component and its current plugin. A restart
// replaces inst; the old one is killed first.
type member struct {
	c *PlannedComponent
	// name is the component's address, or for an instance of a parallel
	// component its address and index: processor.tag[1].
	name         string
	inst         *supervisor.Instance
	cancelStream context.CancelFunc
	cancelWatch  context.CancelFunc
	// lastErr is the last failure's first line; meter times its batches.
	lastErr string
	meter   *meter
	stopped bool
}

// Apply runs plan to completion and returns its summary. The summary is
// returned also when the run fails, with Err set.
func (h *Host) Apply(ctx context.Context, plan *Plan, opts ApplyOptions) (sum *Summary, err error) {
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = plan.Config.Pipeline.ShutdownTimeout
	}
	if opts.StateDir == "" {
		opts.StateDir = DefaultStateDir(plan)
	}
	r := &run{h: h, plan: plan, opts: opts, id: newRunID(), members: map[flowhcl.Address][]*member{}, acked: map[string]uint64{}, types: map[string]string{},
		checkpoints: map[string]checkpointed{}, fingerprints: map[string]sourceFingerprints{}}
	if h.Redact == nil {
		h.Redact = redact.New()
	}
	h.Redact.Add(plan.Sensitive...)
	r.log = redact.Logger(h.Log, h.Redact)
	// What Apply returns is printed and stored: a plugin's words in it may
	// quote a sensitive value. Registered first, so it runs last.
	defer func() { err = r.redactError(err) }()
	if diags := checkLocked(plan); diags.HasErrors() {
		return nil, &ConfigError{Diagnostics: diags}
	}
	start := time.Now()
	if obs := observers(opts.Observers); len(obs) > 0 {
		obs.runStarted(runView{r})
		// Runs after the deferred stopAll: observers hear the end last.
		defer func() {
			if sum == nil {
				obs.runEnded(r.summary(time.Since(start), err))
				return
			}
			obs.runEnded(sum)
		}()
	}

	store, err := checkpoint.Open(opts.StateDir, time.Second)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	r.store = store
	opens, err := r.resume()
	if err != nil {
		return nil, err
	}

	cleanup, err := r.makeSocketDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	// Plugins are stopped on every path, also when ctx is already done.
	defer r.stopAll(context.WithoutCancel(ctx))
	h.say("Starting %d plugins for pipeline %q...\n", plan.plugins(), plan.Config.Pipeline.Name)
	if err := r.prepareRemote(ctx); err != nil {
		return nil, stoppedBy(ctx, err)
	}
	if err := r.startAll(ctx); err != nil {
		return nil, stoppedBy(ctx, err)
	}
	if err := r.configureAll(ctx); err != nil {
		return nil, stoppedBy(ctx, err)
	}
	streamCtx, cancelStreams := context.WithCancel(ctx)
	defer cancelStreams()
	r.streamCtx = streamCtx
	eng, err := r.engine(opens)
	if err != nil {
		return nil, stoppedBy(ctx, err)
	}
	r.mu.Lock()
	r.eng = eng
	r.mu.Unlock()
	h.say("Running.\n")
	restoreProcs := r.controlProcs(eng)
	runErr := r.permanent(r.route(ctx, eng))
	restoreProcs()
	cancelStreams()
	r.stopAll(context.WithoutCancel(ctx))
	return r.summary(time.Since(start), runErr), runErr
}

// controlProcs applies ApplyOptions.ControlProcs when eng is the direct
// data plane and returns what restores the GOMAXPROCS before it.
func (r *run) controlProcs(eng engine) (restore func()) {
	if _, direct := eng.(*plane.Coordinator); !direct || r.opts.ControlProcs <= 0 {
		return func() {}
	}
	prev := runtime.GOMAXPROCS(r.opts.ControlProcs)
	return func() { runtime.GOMAXPROCS(prev) }
}

// plugins is how many plugins the plan starts: one per instance.
func (p *Plan) plugins() int {
	n := 0
	for _, c := range p.Components {
		n += c.instances()
	}
	return n
}

// stoppedBy returns ctx's error when ctx ended, else err: a step that
// failed because the caller cancelled (a plugin handshake or a stream open
// cut short reports it in gRPC's words) failed because of the cancel.
func stoppedBy(ctx context.Context, err error) error {
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		// A gRPC call times out on the deadline itself, which may be a
		// moment before ctx's own timer marks it done.
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// CheckpointInterval is the shortest time between two checkpoints of a
// source. Each checkpoint is a synced bbolt commit (two fdatasyncs); a
// source sending a thousand batches a second would otherwise cost a
// thousand of them. Credits do not wait for checkpoints, so this costs no
// throughput, only up to this much delay before a source hears that its
// events were delivered and, on a host crash, up to this much more to
// deliver again: at 1,000,000 events/s, 50,000 events beside the in-flight
// window's 16,000. At 10 ms the commits were a sixth of the host's CPU in
// `linear`; at 25 ms, with the host's other costs cut, still a quarter
// (their fdatasyncs most of it), and 50 ms took a tenth off the host's CPU
// per event (BENCHMARKS.md).
const CheckpointInterval = 50 * time.Millisecond

// DefaultStateDir is where a pipeline keeps its checkpoints unless told
// otherwise: .flowctl/state/<pipeline name> next to the pipeline file.
func DefaultStateDir(plan *Plan) string {
	return filepath.Join(plan.Dir, ".flowctl", "state", plan.Config.Pipeline.Name)
}

func (h *Host) say(format string, args ...any) {
	if h.UI == nil {
		return
	}
	h.uiMu.Lock()
	defer h.uiMu.Unlock()
	// A progress line may quote a plugin's error.
	fmt.Fprint(h.UI, h.Redact.String(fmt.Sprintf(format, args...)))
}

// resume resets or reads the checkpoints and returns each source's open
// message. A source resumes only when neither its configuration nor that of
// a sink it reaches changed since its checkpoint (see startsOver).
func (r *run) resume() (map[flowhcl.Address]*flowctlv1.SourceOpen, error) {
	if r.opts.Reset {
		if err := r.store.Reset(); err != nil {
			return nil, err
		}
		r.h.say("Reset: checkpoints in %s deleted; every source starts from the beginning.\n", r.store.Path())
	}
	opens := map[flowhcl.Address]*flowctlv1.SourceOpen{}
	for _, c := range r.plan.Components {
		if c.Address().Kind != flowhcl.KindSource {
			continue
		}
		b := c.Node.Component.Batch
		open := &flowctlv1.SourceOpen{MaxBatchEvents: uint32(b.Size), LingerNanos: int64(b.Linger)}
		opens[c.Address()] = open
		r.types[c.Address().String()] = c.Node.Component.Type
		fps, err := r.sourceFingerprints(c)
		if err != nil {
			return nil, err
		}
		r.fingerprints[c.Address().String()] = fps
		cp, ok, err := r.store.Get(c.Address().String())
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if cp.Type != c.Node.Component.Type {
			return nil, fmt.Errorf("%s: the checkpoint in %s was written by a %q source, not %q; its position means nothing to this one. Run `flowctl apply --reset` to start every source over",
				c.Address(), r.store.Path(), cp.Type, c.Node.Component.Type)
		}
		if why := startsOver(cp, fps); len(why) > 0 {
			r.h.say("%s: starting over instead of resuming its checkpoint (%d events acked): %s. "+
				"The changed configuration gets every event; what already received them may get them again (delivery is at least once).\n",
				c.Address(), cp.Events, strings.Join(why, "; "))
			continue
		}
		open.Position = cp.Position
		r.acked[c.Address().String()] = cp.Events
		r.h.say("%s: resuming from its checkpoint (%d events acked in earlier runs; --reset starts over).\n", c.Address(), cp.Events)
	}
	return opens, nil
}

// sourceFingerprints is the configuration a source's checkpoint records:
// the source's own and that of each sink it reaches.
type sourceFingerprints struct {
	source checkpoint.Fingerprint
	sinks  map[string]checkpoint.Fingerprint
}

func (r *run) sourceFingerprints(c *PlannedComponent) (sourceFingerprints, error) {
	byAddr := make(map[flowhcl.Address]*PlannedComponent, len(r.plan.Components))
	for _, pc := range r.plan.Components {
		byAddr[pc.Address()] = pc
	}
	fp, err := r.store.Fingerprint(c.Node.Component.Type, c.ConfigJSON)
	if err != nil {
		return sourceFingerprints{}, fmt.Errorf("%s: %w", c.Address(), err)
	}
	out := sourceFingerprints{source: fp, sinks: map[string]checkpoint.Fingerprint{}}
	for _, addr := range r.plan.Graph.ReachableSinks(c.Address()) {
		sink := byAddr[addr]
		if sink == nil {
			continue
		}
		if out.sinks[addr.String()], err = r.store.Fingerprint(sink.Node.Component.Type, sink.ConfigJSON); err != nil {
			return sourceFingerprints{}, fmt.Errorf("%s: %w", addr, err)
		}
	}
	return out, nil
}

// startsOver says why a source must not resume from cp under the
// configuration now, or nothing when it may.
//
// A changed source may read something else, where the position means
// nothing. A changed sink, or one added since, never received the events
// before the position: resuming would leave it with a silent gap (issue 17:
// -var output=... wrote 99,000 of 100,000 events). Starting the source over
// delivers everything to it; sinks that were already there may receive
// events again, which at-least-once delivery allows. Refusing instead would
// make every configuration change a `--reset` of all sources. A checkpoint
// from before fingerprints existed resumes as it always did.
func startsOver(cp checkpoint.Checkpoint, now sourceFingerprints) []string {
	if cp.Source == nil {
		return nil
	}
	var why []string
	if ch := cp.Source.Changes(now.source); len(ch) > 0 {
		why = append(why, "its configuration changed ("+strings.Join(ch, ", ")+")")
	}
	for _, sink := range slices.Sorted(maps.Keys(now.sinks)) {
		old, ok := cp.Sinks[sink]
		if !ok {
			why = append(why, sink+" was not in the pipeline then")
			continue
		}
		if ch := old.Changes(now.sinks[sink]); len(ch) > 0 {
			why = append(why, sink+"'s configuration changed ("+strings.Join(ch, ", ")+")")
		}
	}
	return why
}

// checkpoint is the router's Checkpoint hook: it stores the position before
// the source is acked.
func (r *run) checkpoint(source string, position []byte, events uint64) error {
	now := time.Now()
	r.mu.Lock()
	r.acked[source] += events
	total := r.acked[source]
	r.mu.Unlock()
	fps := r.fingerprints[source]
	err := r.store.Put(source, checkpoint.Checkpoint{Position: position, Type: r.types[source], Events: total, Time: now,
		Source: &fps.source, Sinks: fps.sinks})
	if err != nil {
		return err
	}
	r.mu.Lock()
	ck := r.checkpoints[source]
	ck.events += events
	ck.at = now
	r.checkpoints[source] = ck
	var m *member
	for a, mm := range r.members {
		if a.Kind == flowhcl.KindSource && a.String() == source {
			m = mm[0] // a source is one instance
		}
	}
	r.mu.Unlock()
	if m != nil && len(r.opts.Observers) > 0 {
		m.meter.checkpointedAt(position)
	}
	return nil
}

// checkpointed is what a source checkpointed in this run.
type checkpointed struct {
	events uint64
	at     time.Time
}

func (r *run) route(ctx context.Context, rt engine) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-r.opts.Interrupt:
	}
	r.interrupted = true
	r.h.say("Interrupted: stopping sources and draining in-flight events for up to %s (interrupt again to stop at once)...\n", r.opts.ShutdownTimeout)
	rt.Drain()
	timer := time.NewTimer(r.opts.ShutdownTimeout)
	defer timer.Stop()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		r.abandoned = true
		cancel()
		<-done
		return fmt.Errorf("shutdown_timeout (%s) passed before the in-flight events were drained; stopped without them. They were not acked, so the next apply delivers them again", r.opts.ShutdownTimeout)
	}
}

// startAll starts every plugin, opts.StartParallelism at a time (each start
// is a process coming up; all at once they only slow each other past the
// start timeout); one failure stops the rest. When starts have to wait for
// each other and that takes a while, it says how far it is.
func (r *run) startAll(ctx context.Context) error {
	n := r.opts.StartParallelism
	if n <= 0 {
		n = DefaultParallelism()
	}
	var started atomic.Int64
	total := 0
	for _, c := range r.plan.Components {
		ms := make([]*member, c.instances())
		for i := range ms {
			ms[i] = &member{c: c, name: instanceName(c, i), meter: &meter{r: r, addr: c.Address(), kind: c.Address().Kind}}
		}
		r.members[c.Address()] = ms
		total += len(ms)
	}
	if total > n {
		// Starts wait for each other: say how far they are.
		stopProgress := r.progress(&started, total)
		defer stopProgress()
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for _, m := range r.all() {
		g.Go(func() error {
			inst, err := r.start(gctx, m.c, m.name)
			if err != nil {
				return err
			}
			r.mu.Lock()
			m.inst = inst
			r.mu.Unlock()
			started.Add(1)
			r.event(EventStarted, m, nil)
			return nil
		})
	}
	return g.Wait()
}

// instanceName names instance i of c: its address, or with parallelism
// its address and index, as in processor.tag[1].
func instanceName(c *PlannedComponent, i int) string {
	if c.instances() < 2 {
		return c.Address().String()
	}
	return fmt.Sprintf("%s[%d]", c.Address(), i)
}

// instances is how many plugins run c: its parallelism, at least one (a
// component not parsed from a file may leave it zero).
func (c *PlannedComponent) instances() int {
	return max(1, c.Node.Component.Parallelism.Instances)
}

// all lists every member, in the plan's order and each component's
// instances in order.
func (r *run) all() []*member {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*member
	for _, c := range r.plan.Components {
		out = append(out, r.members[c.Address()]...)
	}
	return out
}

// progressInterval is how often a long start says how far it is.
var progressInterval = 2 * time.Second

// progress prints "Starting plugins: 140/3002" every progressInterval
// until stop is called, and the final count when it printed any.
func (r *run) progress(done *atomic.Int64, total int) (stop func()) {
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		said := false
		for {
			select {
			case <-t.C:
				r.h.say("Starting plugins: %d/%d\n", done.Load(), total)
				said = true
			case <-quit:
				if said {
					r.h.say("Starting plugins: %d/%d\n", done.Load(), total)
				}
				return
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// start starts a plugin for c, as its instance name.
func (r *run) start(ctx context.Context, c *PlannedComponent, name string) (*supervisor.Instance, error) {
	driver, ok := r.h.Drivers[c.Driver]
	if !ok {
		return nil, fmt.Errorf("%s: unknown driver %q", c.Address(), c.Driver)
	}
	spec := r.spec(c)
	spec.Component = name
	return supervisor.Start(ctx, driver, spec, supervisor.Options{
		Logger: r.log, StartTimeout: r.opts.StartTimeout, LogLevel: r.h.LogLevel, Stdout: r.h.Stdout,
		SocketDir: r.socketDir, TLS: r.opts.PluginTLS,
	})
}

// configureAll checks each plugin's schema against what `describe` said and
// configures it; plugin diagnostics come back as file:line diagnostics.
func (r *run) configureAll(ctx context.Context) error {
	var diags hcl.Diagnostics
	for _, c := range r.plan.Components {
		for i, m := range r.members[c.Address()] {
			pd, err := r.configure(ctx, c, m.inst)
			if err != nil {
				return err
			}
			if i == 0 { // the instances share one configuration
				diags = append(diags, c.Node.Component.PluginDiagnostics(pd)...)
			}
		}
	}
	if diags.HasErrors() {
		return &ConfigError{Diagnostics: diags}
	}
	return nil
}

func (r *run) configure(ctx context.Context, c *PlannedComponent, inst *supervisor.Instance) ([]*flowctlv1.Diagnostic, error) {
	if err := r.checkVersion(ctx, c, inst); err != nil {
		return nil, err
	}
	var pd []*flowctlv1.Diagnostic
	err := r.request(ctx, func(ctx context.Context) error {
		var err error
		pd, err = inst.Configure(ctx, c.Schema.GetKind(), c.Schema.GetName(), c.ConfigJSON)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.log.Debug("configured", "component", c.Address(), "pid", inst.Pid())
	return pd, nil
}

// checkVersion checks that the plugin reports over gRPC the version its
// describe did.
func (r *run) checkVersion(ctx context.Context, c *PlannedComponent, inst *supervisor.Instance) error {
	var schema *flowctlv1.GetSchemaResponse
	err := r.request(ctx, func(ctx context.Context) error {
		var err error
		schema, err = inst.Schema(ctx)
		return err
	})
	if err != nil {
		return err
	}
	if schema.GetVersion() != c.Plugin.Version {
		return fmt.Errorf("%s: plugin %s reports version %s over gRPC but %s was resolved", c.Address(), c.Plugin.Path, schema.GetVersion(), c.Plugin.Version)
	}
	return nil
}

// request runs one request to a started plugin within the start timeout: a
// plugin that started but does not answer must not hold the run forever,
// and one that is merely slow (a loaded machine, a CPU quota) gets as long
// as --start-timeout allows it to come up.
func (r *run) request(ctx context.Context, fn func(context.Context) error) error {
	d := r.opts.StartTimeout
	if d <= 0 {
		d = supervisor.DefaultStartTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := fn(rctx)
	if err != nil && ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w (no answer within %v, --start-timeout)", err, d)
	}
	return err
}

// nodes opens every stream, sinks first so nothing is produced before there
// is somewhere for it to go, and describes the components to the router.
func (r *run) nodes(opens map[flowhcl.Address]*flowctlv1.SourceOpen) ([]router.Node, error) {
	comps := r.plan.Components
	nodes := make([]router.Node, len(comps))
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		m := r.members[c.Address()][0] // the relay runs no parallel component (relayed)
		n := router.Node{Name: c.Address().String(), Open: opens[c.Address()], Restart: restarter(r, m, r.open), OnError: errorPolicy(c)}
		for _, in := range c.Node.Inputs {
			n.Inputs = append(n.Inputs, in.String())
		}
		streams, err := r.open(m)
		if err != nil {
			return nil, err
		}
		n.Streams = streams
		nodes[i] = n
	}
	return nodes, nil
}

// open opens m's protocol 1 stream under a context of its own, which a
// restart cancels, and starts watching the instance's health.
func (r *run) open(m *member) (router.Streams, error) {
	ctx, cancel := context.WithCancel(r.streamCtx)
	var s router.Streams
	var err error
	switch m.c.Address().Kind {
	case flowhcl.KindSink:
		s.Sink, err = m.inst.SinkStream(ctx)
	case flowhcl.KindProcessor:
		s.Processor, err = m.inst.ProcessorStream(ctx)
	case flowhcl.KindSource:
		s.Source, err = m.inst.SourceStream(ctx)
	}
	if err != nil {
		cancel()
		return router.Streams{}, err
	}
	r.watch(m, cancel)
	if len(r.opts.Observers) == 0 {
		return s, nil // nobody reads the meters: keep the batch path bare
	}
	return m.meter.meterStreams(s), nil
}

// watch notes m's new stream (cancelStream ends it) and watches the
// instance's health until the stream is replaced or the run ends.
func (r *run) watch(m *member, cancelStream context.CancelFunc) {
	wctx, cancelWatch := context.WithCancel(r.streamCtx)
	r.mu.Lock()
	m.cancelStream, m.cancelWatch = cancelStream, cancelWatch
	inst := m.inst
	r.mu.Unlock()
	r.event(EventServing, m, nil)
	hopts := r.opts.Health
	hopts.Report = func(err error) {
		if err == nil {
			r.event(EventServing, m, nil)
		} else {
			r.event(EventUnwell, m, err)
		}
	}
	r.watchers.Go(func() {
		if err := inst.Watch(wctx, hopts); err != nil {
			r.log.Warn("plugin unhealthy", "component", m.name, "error", err)
		}
	})
}

// restarter returns m's Restart hook: it stops the failed stream and lets
// a supervisor.Restarter replace the plugin under m's restart policy, with
// the run starting and configuring each new one and opening its stream
// with open.
func restarter[S any](r *run, m *member, open func(*member) (S, error)) func(context.Context, error) (S, error) {
	pol := m.c.Node.Component.Restart
	rs := &supervisor.Restarter[S]{
		Policy:  supervisor.RestartPolicy{Attempts: pol.Attempts, Backoff: backoff.Policy{Base: pol.Delay, Max: pol.MaxDelay}},
		Replace: func(ctx context.Context) (S, error) { return replace(ctx, r, m, open) },
		Waiting: func(cause error, delay time.Duration, attempt int) {
			r.h.say("%s: plugin failed (%v); restarting in %s (attempt %d of %d)...\n", m.name, firstLine(cause), delay, attempt, pol.Attempts)
		},
	}
	return func(ctx context.Context, cause error) (S, error) {
		// The router and the coordinator name the component already.
		var ne *router.NodeError
		if errors.As(cause, &ne) {
			cause = ne.Err
		}
		r.event(EventFailed, m, cause)
		r.mu.Lock()
		old := m.inst
		m.cancelWatch()
		m.cancelStream()
		r.mu.Unlock()
		return rs.Restart(ctx, old, cause)
	}
}

// replace starts and configures a new plugin for m, makes it m's instance
// and opens its stream; on failure it leaves no new plugin running.
func replace[S any](ctx context.Context, r *run, m *member, open func(*member) (S, error)) (S, error) {
	var none S
	inst, err := r.start(ctx, m.c, m.name)
	if err != nil {
		return none, err
	}
	pd, err := r.configure(ctx, m.c, inst)
	if err == nil && len(m.c.Node.Component.PluginDiagnostics(pd)) > 0 {
		err = fmt.Errorf("restarted plugin rejected its configuration: %s", m.c.Node.Component.PluginDiagnostics(pd).Error())
	}
	if err != nil {
		inst.Kill(ctx)
		return none, err
	}
	r.mu.Lock()
	m.inst = inst
	r.mu.Unlock()
	r.event(EventStarted, m, nil)
	s, err := open(m)
	if err != nil {
		inst.Kill(ctx)
		return none, err
	}
	r.h.say("%s: restarted (%s).\n", m.name, inst.Location())
	return s, nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// redactError scrubs the run's sensitive values from err; a ConfigError's
// diagnostics (a plugin's answer to Configure) are scrubbed one by one.
func (r *run) redactError(err error) error {
	var cerr *ConfigError
	if errors.As(err, &cerr) {
		r.redactDiags(cerr.Diagnostics)
		return err
	}
	return r.h.Redact.Error(err)
}

func (r *run) redactDiags(diags hcl.Diagnostics) {
	for _, d := range diags {
		d.Summary = r.h.Redact.String(d.Summary)
		d.Detail = r.h.Redact.String(d.Detail)
	}
}

// stopAll stops every started plugin in parallel. Instance.Stop is
// idempotent, so this runs again harmlessly on the deferred path.
func (r *run) stopAll(ctx context.Context) {
	var ms []*member
	all := r.all()
	r.mu.Lock()
	for _, m := range all {
		if m.cancelWatch != nil {
			m.cancelWatch()
		}
		if m.inst != nil { // nil: never started
			ms = append(ms, m)
		}
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, r.opts.StopTimeout)
			defer cancel()
			m.inst.Stop(sctx)
			r.mu.Lock()
			first := !m.stopped
			m.stopped = true
			r.mu.Unlock()
			if first {
				r.event(EventStopped, m, nil)
			}
		})
	}
	wg.Wait()
	r.watchers.Wait()
}
