package host

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/flowctl/flowctl/drivers"
	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host/plane"
	"github.com/flowctl/flowctl/host/router"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// engine carries a run's batches. host/plane, the direct data plane, when
// every plugin can take part in it: batches go from plugin to plugin and the
// host sees only control messages. host/router when one cannot (it speaks
// protocol 1 only, or its peers cannot reach it): every batch is relayed
// through the host. Both keep the same delivery guarantees.
type engine interface {
	Run(context.Context) error
	Drain()
	Stats() []router.NodeStats
}

// engine builds the run's engine and opens every plugin's stream.
func (r *run) engine(opens map[flowhcl.Address]*flowctlv1.SourceOpen) (engine, error) {
	if why := r.relayed(); why != "" {
		r.log.Info("batches relay through the host", "why", why)
		nodes, err := r.nodes(opens)
		if err != nil {
			return nil, err
		}
		rt, err := router.New(nodes, router.Options{Logger: r.log, Checkpoint: r.checkpoint, CheckpointInterval: CheckpointInterval, Redact: r.h.Redact.String})
		if err != nil {
			return nil, fmt.Errorf("pipeline %s: %w", r.plan.Config.Pipeline.Name, err)
		}
		return rt, nil
	}
	nodes, byName, err := r.planeNodes(opens)
	if err != nil {
		return nil, err
	}
	opts := plane.Options{
		Logger: r.log, Checkpoint: r.checkpoint, CheckpointInterval: CheckpointInterval, Redact: r.h.Redact.String,
		Peer: func(from, to string) *flowctlv1.Peer {
			r.mu.Lock()
			addr := byName[to].inst.PeerAddr(byName[from].inst.Network())
			r.mu.Unlock()
			p := &flowctlv1.Peer{Address: addr}
			if !strings.HasPrefix(addr, "unix:") {
				p.ServerName = drivers.PluginServerName
			}
			return p
		},
	}
	if len(r.opts.Observers) > 0 {
		done := func(name string, d time.Duration) { byName[name].meter.done(d) }
		opts.TicketDone, opts.BatchDone = done, done
		opts.Remaining = func(source string, n uint64) { byName[source].meter.setRemaining(n) }
	}
	c, err := plane.New(nodes, opts)
	if err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", r.plan.Config.Pipeline.Name, err)
	}
	return c, nil
}

// relayed says why the run's batches must go through the host, or "" when
// they can go from plugin to plugin: every plugin speaks protocol 2 and
// reaches every plugin it sends to.
func (r *run) relayed() string {
	for _, c := range r.plan.Components {
		if m := r.members[c.Address()]; m.inst.Protocol < wire.ProtocolDataPlane {
			return fmt.Sprintf("%s (%s) speaks plugin protocol %d only", c.Address(), m.inst.Path, m.inst.Protocol)
		}
	}
	for _, e := range r.edges() {
		from, to := r.members[e[0]], r.members[e[1]]
		if to.inst.PeerAddr(from.inst.Network()) == "" {
			return fmt.Sprintf("%s (driver %q) cannot reach %s (driver %q) directly", e[0], from.c.Driver, e[1], to.c.Driver)
		}
	}
	return ""
}

// edges are the pipeline's edges, from and to: each input, and each
// component's dead-letter sink.
func (r *run) edges() [][2]flowhcl.Address {
	var out [][2]flowhcl.Address
	for _, c := range r.plan.Components {
		for _, in := range c.Node.Inputs {
			out = append(out, [2]flowhcl.Address{in, c.Address()})
		}
		if oe := c.Node.Component.OnError; oe != nil && oe.DeadLetter != nil {
			out = append(out, [2]flowhcl.Address{c.Address(), oe.DeadLetter.Address})
		}
	}
	return out
}

// peerTLS issues certificates to the plugins that send batches over TCP
// (to a container or a pod): their peers accept only callers the run's CA
// signed.
func (r *run) peerTLS() (map[flowhcl.Address]plane.TLS, error) {
	out := map[flowhcl.Address]plane.TLS{}
	for _, e := range r.edges() {
		from, to := r.members[e[0]], r.members[e[1]]
		if _, done := out[e[0]]; done || strings.HasPrefix(to.inst.PeerAddr(from.inst.Network()), "unix:") {
			continue
		}
		if r.authority == nil {
			return nil, fmt.Errorf("%s sends to %s over TCP, and the run has no certificate authority", e[0], e[1])
		}
		cert, key, err := r.authority.PeerCert(e[0].String())
		if err != nil {
			return nil, err
		}
		out[e[0]] = plane.TLS{Cert: cert, Key: key, CA: r.authority.CAPEM()}
	}
	return out, nil
}

// planeNodes opens every plugin's control stream, sinks first, and
// describes the components to the coordinator; byName finds a component's
// member by its address.
func (r *run) planeNodes(opens map[flowhcl.Address]*flowctlv1.SourceOpen) (nodes []plane.Node, byName map[string]*member, err error) {
	tls, err := r.peerTLS()
	if err != nil {
		return nil, nil, err
	}
	comps := r.plan.Components
	nodes = make([]plane.Node, len(comps))
	byName = make(map[string]*member, len(comps))
	for i := len(comps) - 1; i >= 0; i-- {
		c := comps[i]
		m := r.members[c.Address()]
		byName[c.Address().String()] = m
		n := plane.Node{
			Name: c.Address().String(), Kind: c.Address().Kind, Open: opens[c.Address()],
			Restart: restarter(r, m, r.openNode), OnError: errorPolicy(c), TLS: tls[c.Address()],
		}
		for _, in := range c.Node.Inputs {
			n.Inputs = append(n.Inputs, in.String())
		}
		if n.Conn, err = r.openNode(m); err != nil {
			return nil, nil, err
		}
		nodes[i] = n
	}
	return nodes, byName, nil
}

// openNode opens m's protocol 2 control stream under a context of its own,
// which a restart cancels, and starts watching the instance's health.
func (r *run) openNode(m *member) (plane.Conn, error) {
	ctx, cancel := context.WithCancel(r.streamCtx)
	s, err := m.inst.NodeStream(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	r.watch(m, cancel)
	return s, nil
}

// errorPolicy is what c's on_error block asks for.
func errorPolicy(c *PlannedComponent) router.ErrorPolicy {
	oe := c.Node.Component.OnError
	if oe == nil {
		return router.ErrorPolicy{}
	}
	p := router.ErrorPolicy{Mode: oe.Mode, Attempts: oe.Retry.Attempts, Delay: oe.Retry.Delay, MaxDelay: oe.Retry.MaxDelay}
	if oe.DeadLetter != nil {
		p.DeadLetter = oe.DeadLetter.Address.String()
	}
	return p
}
