package host

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"time"

	"github.com/flowctl/flowctl/drivers"
	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/proto/wire"
)

// This file is what Apply does for remote drivers (docker, kubernetes): a
// run id for their labels, a certificate authority for network mode, and
// the removal of what crashed earlier runs left behind.

// newRunID names one apply: the start time and a random suffix, short and
// valid as a label value everywhere.
func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return time.Now().UTC().Format("20060102t150405") + "-" + hex.EncodeToString(b)
}

// prepareRemote issues the run's CA when a component runs remotely, and
// lets each remote driver in use remove what runs whose host is gone left
// behind. A driver that cannot clean up (its daemon is down) says why when
// its first plugin starts; here it is only logged.
func (r *run) prepareRemote(ctx context.Context) error {
	byDriver := map[drivers.Remote][]drivers.Spec{}
	var order []drivers.Remote
	for _, c := range r.plan.Components {
		rd, ok := r.h.Drivers[c.Driver].(drivers.Remote)
		if !ok {
			continue
		}
		if err := r.ensureAuthority(); err != nil {
			return err
		}
		if _, seen := byDriver[rd]; !seen {
			order = append(order, rd)
		}
		byDriver[rd] = append(byDriver[rd], r.spec(c))
	}
	for _, rd := range order {
		removed, err := rd.CleanStale(ctx, byDriver[rd])
		for _, what := range removed {
			r.h.say("Removed %s, left behind by a flowctl that is no longer running.\n", what)
		}
		if err != nil {
			r.log.Debug("clean up stale plugins", "driver", rd.Name(), "error", err)
		}
	}
	return nil
}

// ensureAuthority makes the run's certificate authority, which remote
// plugins need for network mode, once.
func (r *run) ensureAuthority() error {
	if r.authority != nil {
		return nil
	}
	a, err := drivers.NewAuthority(r.id)
	if err != nil {
		return err
	}
	r.authority = a
	return nil
}

// spec describes c's plugin instance to its driver.
func (r *run) spec(c *PlannedComponent) drivers.Spec {
	// The host registers the plugins it runs with the control plane; they
	// must not register themselves too. What they may still say about
	// themselves, they say with their own credential (PluginEnv): no
	// token of the run reaches them.
	env := []string{wire.EnvEndpoint + "=", wire.EnvToken + "="}
	// The component's env attribute comes before the host's own settings,
	// so it cannot override the plugin's credential.
	env = append(env, componentEnv(c.Env, os.LookupEnv)...)
	if r.opts.PluginEnv != nil {
		env = append(env, r.opts.PluginEnv(c.Address().String())...)
	}
	return drivers.Spec{
		Component: c.Address().String(),
		Path:      c.Plugin.Path,
		Args:      c.Plugin.Args,
		Dir:       r.plan.Dir,
		Checksum:  c.Plugin.Checksum,
		Pipeline:  r.plan.Config.Pipeline.Name,
		RunID:     r.id,
		Options:   driverOptions(c.Node.Component.Driver),
		Authority: r.authority,
		Env:       env,
	}
}

// componentEnv is what a component's env attribute adds to its plugin's
// environment: its NAME = value pairs, and the names it passes through with
// their values in flowctl's environment (lookup), those that are set.
func componentEnv(env *flowhcl.Env, lookup func(string) (string, bool)) []string {
	if env == nil {
		return nil
	}
	out := make([]string, 0, len(env.Set)+len(env.Pass))
	for _, name := range env.Pass {
		if v, ok := lookup(name); ok {
			out = append(out, name+"="+v)
		}
	}
	for _, e := range env.Set {
		out = append(out, e.Name+"="+e.Value)
	}
	return out
}

func driverOptions(d *flowhcl.Driver) drivers.Options {
	if d == nil {
		return drivers.Options{}
	}
	return drivers.Options{
		Image: d.Image, Env: d.Env, Mounts: d.Mounts, Network: d.Network, CPU: d.CPU, Memory: d.Memory,
		Namespace: d.Namespace, Resources: d.Resources, Labels: d.Labels, ServiceAccount: d.ServiceAccount,
		Kubeconfig: d.Kubeconfig, PullPolicy: d.PullPolicy,
	}
}
