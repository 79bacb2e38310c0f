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
		for _, c := range r.plan.Components {
			if n := c.instances(); n > 1 {
				return nil, fmt.Errorf("%s has parallelism = %d, which needs batches to go plugin to plugin, but %s: run it with parallelism = 1, or with plugins that can reach each other directly", c.Address(), n, why)
			}
		}
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
	for _, m := range r.all() {
		if m.inst.Protocol < wire.ProtocolDataPlane {
			return fmt.Sprintf("%s (%s) speaks plugin protocol %d only", m.name, m.inst.Path, m.inst.Protocol)
		}
	}
	for _, e := range r.edges() {
		for _, from := range r.members[e[0]] {
			for _, to := range r.members[e[1]] {
				switch {
				case to.inst.PeerAddr(from.inst.Network()) != "":
				case to.inst.HostOnlyTLS():
					return fmt.Sprintf("local plugins serve only the host when their connections are encrypted (--plugin-tls), so %s cannot reach %s directly", from.name, to.name)
				default:
					return fmt.Sprintf("%s (driver %q) cannot reach %s (driver %q) directly", from.name, from.c.Driver, to.name, to.c.Driver)
				}
			}
		}
	}
	return ""
}

// parallelPeers checks that every plugin sending to a parallel component
// speaks protocol 3: an older one would send each batch to every instance.
func (r *run) parallelPeers() error {
	for _, e := range r.edges() {
		to := r.members[e[1]]
		if len(to) < 2 {
			continue
		}
		for _, from := range r.members[e[0]] {
			if from.inst.Protocol < wire.ProtocolParallel {
				return fmt.Errorf("%s runs as %d instances, but %s, which sends to it, is a plugin (%s) of protocol %d: sending to parallel components takes protocol %d; run %s with parallelism = 1, or use a release of the plugin built with a current pluginsdk",
					e[1], len(to), from.name, from.inst.Path, from.inst.Protocol, wire.ProtocolParallel, e[1])
			}
		}
	}
	return nil
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
// (to a container or a pod), by member: their peers accept only callers
// the run's CA signed.
func (r *run) peerTLS() (map[*member]plane.TLS, error) {
	out := map[*member]plane.TLS{}
	for _, e := range r.edges() {
		for _, from := range r.members[e[0]] {
			for _, to := range r.members[e[1]] {
				if _, done := out[from]; done || strings.HasPrefix(to.inst.PeerAddr(from.inst.Network()), "unix:") {
					continue
				}
				if r.authority == nil {
					return nil, fmt.Errorf("%s sends to %s over TCP, and the run has no certificate authority", from.name, to.name)
				}
				cert, key, err := r.authority.PeerCert(from.name)
				if err != nil {
					return nil, err
				}
				out[from] = plane.TLS{Cert: cert, Key: key, CA: r.authority.CAPEM()}
			}
		}
	}
	return out, nil
}

// planeNodes opens every plugin's control stream, sinks first, and
// describes the members to the coordinator, an instance of a parallel
// component as a node of its own; byName finds a member by its name.
func (r *run) planeNodes(opens map[flowhcl.Address]*flowctlv1.SourceOpen) (nodes []plane.Node, byName map[string]*member, err error) {
	if err := r.parallelPeers(); err != nil {
		return nil, nil, err
	}
	tls, err := r.peerTLS()
	if err != nil {
		return nil, nil, err
	}
	ms := r.all()
	nodes = make([]plane.Node, len(ms))
	byName = make(map[string]*member, len(ms))
	for i := len(ms) - 1; i >= 0; i-- {
		m := ms[i]
		c := m.c
		byName[m.name] = m
		n := plane.Node{
			Name: m.name, Kind: c.Address().Kind, Open: opens[c.Address()],
			Restart: restarter(r, m, r.openNode), OnError: errorPolicy(c), TLS: tls[m],
		}
		if par := c.Node.Component.Parallelism; par.Instances > 1 {
			n.Stage = c.Address().String()
			if par.ByKey {
				n.Partition = flowctlv1.Partition_PARTITION_KEY
			}
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
