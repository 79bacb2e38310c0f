package host

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/sync/errgroup"

	"github.com/flowctl/flowctl/drivers"
	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host/router"
	"github.com/flowctl/flowctl/host/supervisor"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// ApplyOptions tune one run.
type ApplyOptions struct {
	// Interrupt, when closed, stops the sources and drains what is in
	// flight; cancelling Apply's context stops at once.
	Interrupt <-chan struct{}
	// StopTimeout bounds each plugin's Stop request; default 10s.
	StopTimeout time.Duration
	// StartTimeout bounds each plugin's handshake; default 30s.
	StartTimeout time.Duration
}

// ConfigError is returned by Apply when a plugin rejects its configuration;
// Diagnostics point into the pipeline files.
type ConfigError struct {
	Diagnostics hcl.Diagnostics
}

func (e *ConfigError) Error() string { return e.Diagnostics.Error() }

// run is one Apply: the started instances and the router between them.
type run struct {
	h         *Host
	plan      *Plan
	opts      ApplyOptions
	mu        sync.Mutex
	instances map[flowhcl.Address]*supervisor.Instance
	// interrupted is set when the sources were stopped before they ended.
	interrupted bool
}

// Apply runs plan to completion and returns its summary. The summary is
// returned also when the run fails, with Err set.
func (h *Host) Apply(ctx context.Context, plan *Plan, opts ApplyOptions) (*Summary, error) {
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	r := &run{h: h, plan: plan, opts: opts, instances: map[flowhcl.Address]*supervisor.Instance{}}
	start := time.Now()
	// Plugins are stopped on every path, also when ctx is already done.
	defer r.stopAll(context.WithoutCancel(ctx))

	h.say("Starting %d plugins for pipeline %q...\n", len(plan.Components), plan.Config.Pipeline.Name)
	if err := r.startAll(ctx); err != nil {
		return nil, err
	}
	if err := r.configureAll(ctx); err != nil {
		return nil, err
	}
	streamCtx, cancelStreams := context.WithCancel(ctx)
	defer cancelStreams()
	nodes, err := r.openStreams(streamCtx)
	if err != nil {
		return nil, err
	}
	rt, err := router.New(nodes, router.Options{Logger: h.Log})
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", plan.Config.Pipeline.Name, err)
	}
	h.say("Running.\n")
	runErr := r.route(ctx, rt)
	cancelStreams()
	r.stopAll(context.WithoutCancel(ctx))
	sum := r.summary(rt, time.Since(start), runErr)
	return sum, runErr
}

func (h *Host) say(format string, args ...any) {
	if h.UI != nil {
		fmt.Fprintf(h.UI, format, args...)
	}
}

func (r *run) route(ctx context.Context, rt *router.Router) error {
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-r.opts.Interrupt:
		r.interrupted = true
		r.h.say("Interrupted: stopping sources and draining in-flight events (interrupt again to stop at once)...\n")
		rt.Drain()
		return <-done
	}
}

// startAll starts every plugin concurrently; one failure stops the rest.
func (r *run) startAll(ctx context.Context) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range r.plan.Components {
		g.Go(func() error {
			driver, ok := r.h.Drivers[c.Driver]
			if !ok {
				return fmt.Errorf("%s: unknown driver %q", c.Address(), c.Driver)
			}
			spec := drivers.Spec{Component: c.Address().String(), Path: c.Plugin.Path, Args: c.Plugin.Args, Dir: r.plan.Dir}
			inst, err := supervisor.Start(gctx, driver, spec, supervisor.Options{
				Logger: r.h.Log, StartTimeout: r.opts.StartTimeout, LogLevel: r.h.LogLevel, Stdout: r.h.Stdout,
			})
			if err != nil {
				return err
			}
			r.mu.Lock()
			r.instances[c.Address()] = inst
			r.mu.Unlock()
			return nil
		})
	}
	return g.Wait()
}

// configureAll checks each plugin's schema against what `describe` said and
// configures it; plugin diagnostics come back as file:line diagnostics.
func (r *run) configureAll(ctx context.Context) error {
	var diags hcl.Diagnostics
	for _, c := range r.plan.Components {
		inst := r.instances[c.Address()]
		schema, err := inst.Schema(ctx)
		if err != nil {
			return err
		}
		if schema.GetVersion() != c.Plugin.Version {
			return fmt.Errorf("%s: plugin %s reports version %s over gRPC but %s was resolved", c.Address(), c.Plugin.Path, schema.GetVersion(), c.Plugin.Version)
		}
		pd, err := inst.Configure(ctx, c.Schema.GetKind(), c.Schema.GetName(), c.ConfigJSON)
		if err != nil {
			return err
		}
		diags = append(diags, c.Node.Component.PluginDiagnostics(pd)...)
		r.h.Log.Debug("configured", "component", c.Address(), "pid", inst.Pid())
	}
	if diags.HasErrors() {
		return &ConfigError{Diagnostics: diags}
	}
	return nil
}

// openStreams opens the streams sinks first, so nothing is produced before
// there is somewhere for it to go.
func (r *run) openStreams(ctx context.Context) ([]router.Node, error) {
	comps := r.plan.Components
	nodes := make([]router.Node, len(comps))
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		inst := r.instances[c.Address()]
		n := router.Node{Name: c.Address().String()}
		for _, in := range c.Node.Inputs {
			n.Inputs = append(n.Inputs, in.String())
		}
		var err error
		switch c.Address().Kind {
		case flowhcl.KindSink:
			n.Sink, err = inst.SinkStream(ctx)
		case flowhcl.KindProcessor:
			n.Processor, err = inst.ProcessorStream(ctx)
		case flowhcl.KindSource:
			n.Source, err = inst.SourceStream(ctx)
			b := c.Node.Component.Batch
			n.Open = &flowctlv1.SourceOpen{MaxBatchEvents: uint32(b.Size), LingerNanos: int64(b.Linger)}
		}
		if err != nil {
			return nil, err
		}
		nodes[i] = n
	}
	return nodes, nil
}

// stopAll stops every started plugin in parallel. Instance.Stop is
// idempotent, so this runs again harmlessly on the deferred path.
func (r *run) stopAll(ctx context.Context) {
	r.mu.Lock()
	insts := make([]*supervisor.Instance, 0, len(r.instances))
	for _, inst := range r.instances {
		insts = append(insts, inst)
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, inst := range insts {
		wg.Go(func() {
			sctx, cancel := context.WithTimeout(ctx, r.opts.StopTimeout)
			defer cancel()
			inst.Stop(sctx)
		})
	}
	wg.Wait()
}
