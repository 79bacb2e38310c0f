package host

import (
	"context"
	"encoding/hex"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"golang.org/x/sync/errgroup"

	"github.com/flowctl/flowctl/drivers"
	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host/redact"
)

// CheckOptions tune CheckConfig.
type CheckOptions struct {
	// StartTimeout bounds each plugin's start and each request to it;
	// default 30s.
	StartTimeout time.Duration
	// StopTimeout bounds each plugin's Stop request; default 10s.
	StopTimeout time.Duration
	// Parallelism is how many plugin processes may run at once; default
	// DefaultParallelism().
	Parallelism int
}

// DefaultParallelism is how many plugins are started at once unless told
// otherwise: a few per CPU. Starting a plugin is mostly CPU (a process and
// a Go runtime coming up), so more at once only makes each start slower,
// and a start that outlasts --start-timeout fails the run.
func DefaultParallelism() int {
	return max(4, 2*runtime.GOMAXPROCS(0))
}

// CheckConfig has every component's plugin check its configuration the way
// apply will, without running anything. Each plugin binary is started once
// and asked to check every component it serves (Configure with
// validate_only: the plugin runs the component's constructor and keeps
// nothing), then stopped; at most opts.Parallelism plugins run at once.
// Component constructors validate and have no side effects (the pluginsdk
// contract), so nothing is opened, connected or written. A plugin whose
// schema does not offer validate_only (built with an older SDK) is started
// once per component, as apply would. What the plugins reject comes back as
// diagnostics at the attribute they name, in the plan's component order; an
// error is a plugin that could not be started or asked.
//
// Load alone checks each block against its plugin's schema (types, names,
// required attributes); CheckConfig adds what only the plugin knows, such as
// a value out of range or an expression that does not compile.
func (h *Host) CheckConfig(ctx context.Context, plan *Plan, opts CheckOptions) (diags hcl.Diagnostics, err error) {
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 10 * time.Second
	}
	if opts.Parallelism <= 0 {
		opts.Parallelism = DefaultParallelism()
	}
	if h.Redact == nil {
		h.Redact = redact.New()
	}
	h.Redact.Add(plan.Sensitive...)
	r := &run{
		h: h, plan: plan, members: map[flowhcl.Address][]*member{}, id: newRunID(),
		opts: ApplyOptions{StartTimeout: opts.StartTimeout, StopTimeout: opts.StopTimeout},
		log:  redact.Logger(h.Log, h.Redact),
	}
	// A plugin's answer may quote a sensitive value.
	defer func() {
		err = r.redactError(err)
		r.redactDiags(diags)
	}()
	cleanup, err := r.makeSocketDir()
	if err != nil {
		return nil, err
	}
	defer cleanup()
	for _, c := range plan.Components {
		if _, remote := h.Drivers[c.Driver].(drivers.Remote); remote {
			// Remote plugins serve in network mode, with the run's
			// certificates, for a check as for a run.
			if err := r.ensureAuthority(); err != nil {
				return nil, err
			}
		}
	}

	index := make(map[*PlannedComponent]int, len(plan.Components))
	for i, c := range plan.Components {
		index[c] = i
	}
	found := make([]hcl.Diagnostics, len(plan.Components))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(opts.Parallelism)
	for _, group := range checkGroups(plan.Components) {
		g.Go(func() error {
			diags, err := r.checkGroup(gctx, group)
			if err != nil {
				return err
			}
			for i, c := range group {
				found[index[c]] = diags[i]
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, stoppedBy(ctx, err)
	}
	var all hcl.Diagnostics
	for _, d := range found {
		all = append(all, d...)
	}
	return all, nil
}

// checkGroups groups the components that one plugin process can check: the
// same binary, arguments and driver settings, from a plugin that answers
// validate_only. Groups keep the plan's order, and so do their members.
func checkGroups(comps []*PlannedComponent) [][]*PlannedComponent {
	var groups [][]*PlannedComponent
	at := map[string]int{}
	for _, c := range comps {
		key := c.Address().String()
		if c.validateOnly {
			key = checkKey(c)
		}
		i, ok := at[key]
		if !ok {
			i = len(groups)
			at[key] = i
			groups = append(groups, nil)
		}
		groups[i] = append(groups[i], c)
	}
	return groups
}

// checkKey identifies the process a component's plugin would run as.
func checkKey(c *PlannedComponent) string {
	return strings.Join([]string{
		c.Plugin.Path, strings.Join(c.Plugin.Args, "\x00"), hex.EncodeToString(c.Plugin.Checksum),
		c.Driver, fmt.Sprintf("%#v", driverOptions(c.Node.Component.Driver)),
	}, "\x01")
}

// checkGroup starts the group's plugin once, has it check every member's
// configuration and stops it, returning each member's diagnostics.
func (r *run) checkGroup(ctx context.Context, group []*PlannedComponent) ([]hcl.Diagnostics, error) {
	first := group[0]
	inst, err := r.start(ctx, first, first.Address().String())
	if err != nil {
		return nil, err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.StopTimeout)
		defer cancel()
		inst.Stop(sctx)
	}()
	if err := r.checkVersion(ctx, first, inst); err != nil {
		return nil, err
	}
	out := make([]hcl.Diagnostics, len(group))
	for i, c := range group {
		err := r.request(ctx, func(ctx context.Context) error {
			pd, err := inst.Check(ctx, c.Schema.GetKind(), c.Schema.GetName(), c.Address().String(), c.ConfigJSON)
			out[i] = c.Node.Component.PluginDiagnostics(pd)
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
