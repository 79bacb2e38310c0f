package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host/router"
)

// Summary is what a run did, per component.
type Summary struct {
	Pipeline    string
	Duration    time.Duration
	Interrupted bool
	// Abandoned: interrupted, and the drain outlasted shutdown_timeout.
	Abandoned  bool
	StateDir   string
	Components []ComponentSummary
	// Err is the run's failure, nil when it completed.
	Err error
}

// ComponentSummary counts one component's events.
type ComponentSummary struct {
	Address flowhcl.Address
	// Instance names one instance of a parallel component
	// ("processor.tag[1]"), which has a summary of its own; empty for a
	// component of one instance.
	Instance string
	// Plugin names the plugin for people ("flowctl/file 0.1.0 (built-in)");
	// PluginSource and PluginVersion are its parts ("flowctl/file", "0.1.0").
	Plugin        string
	PluginSource  string
	PluginVersion string
	Driver        string
	Pid           int
	// EventsIn is what the component received (sources: none).
	EventsIn uint64
	// EventsOut is what it emitted (sinks: none).
	EventsOut uint64
	// EventsAcked: for a source, events whose positions were acked after
	// every sink had them; for a sink, events it confirmed written.
	EventsAcked  uint64
	EventsFailed uint64
	// Retried events were sent again (on_error = "retry"); DeadLettered
	// went to the dead-letter sink; Restarts counts plugin restarts.
	Retried      uint64
	DeadLettered uint64
	Restarts     uint64
	// Backlog counts the batches sent to the plugin (or, for a source,
	// received from it) that await their answer (ack); LastError is the
	// first line of its last failure, if any. Neither is in the table.
	// Backlog is counted only while observers follow the run.
	Backlog   uint64
	LastError string

	// Sources only, and only while observers follow the run:
	// UncheckpointedEvents and UncheckpointedBatches were emitted and not
	// yet checkpointed (every sink has not had them yet); LastCheckpoint is
	// when this run last checkpointed it (zero: not yet); Remaining is the
	// events it said it still has to emit (nil: it does not know).
	UncheckpointedEvents  uint64
	UncheckpointedBatches uint64
	LastCheckpoint        time.Time
	Remaining             *uint64
}

func (r *run) summary(d time.Duration, err error) *Summary {
	return &Summary{
		Pipeline: r.plan.Config.Pipeline.Name, Duration: d, Interrupted: r.interrupted, Abandoned: r.abandoned,
		Err: r.redactError(err), StateDir: r.opts.StateDir, Components: r.stats(),
	}
}

// stats returns every component's counters so far (zero before the router
// runs), in topological order.
func (r *run) stats() []ComponentSummary {
	stats := map[string]router.NodeStats{}
	r.mu.Lock()
	eng := r.eng
	r.mu.Unlock()
	if eng != nil {
		for _, st := range eng.Stats() {
			stats[st.Name] = st
		}
	}
	out := make([]ComponentSummary, 0, len(r.plan.Components))
	for _, c := range r.plan.Components {
		for i := range c.instances() {
			out = append(out, r.instanceStats(c, instanceName(c, i), stats))
		}
	}
	return out
}

// instanceStats is the summary of one member, name, of c.
func (r *run) instanceStats(c *PlannedComponent, name string, stats map[string]router.NodeStats) ComponentSummary {
	st := stats[name]
	cs := ComponentSummary{
		Address: c.Address(), Plugin: c.Plugin.String(), PluginSource: c.Plugin.Source, PluginVersion: c.Plugin.Version, Driver: c.Driver,
		EventsIn: st.EventsIn, EventsOut: st.EventsOut, EventsAcked: st.EventsAcked, EventsFailed: st.EventsFailed,
		Retried: st.Retried, DeadLettered: st.DeadLettered, Restarts: st.Restarts,
	}
	if name != c.Address().String() {
		cs.Instance = name
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var m *member
	for _, mm := range r.members[c.Address()] {
		if mm.name == name && mm.inst != nil {
			m = mm
		}
	}
	if m != nil {
		cs.Pid = m.inst.Pid()
		cs.LastError = m.lastErr
		cs.Backlog = max(m.meter.backlog(), st.Queued) // one of them is zero: it depends on the engine
		if c.Address().Kind == flowhcl.KindSource {
			ck := r.checkpoints[c.Address().String()]
			cs.LastCheckpoint = ck.at
			if cs.EventsOut > ck.events {
				cs.UncheckpointedEvents = cs.EventsOut - ck.events
			}
			cs.UncheckpointedBatches, cs.Remaining = m.meter.sourceProgress()
			// On the direct data plane: the batches not yet delivered
			// everywhere (those delivered and awaiting the next
			// checkpoint, at most CheckpointInterval's worth, are not
			// counted).
			cs.UncheckpointedBatches = max(cs.UncheckpointedBatches, st.Queued)
		}
	}
	return cs
}

// Name is the component's address, or the instance's name.
func (c ComponentSummary) Name() string { return nameOf(c.Address, c.Instance) }

// WriteTable prints the summary for a person.
func (s *Summary) WriteTable(w io.Writer) {
	state := "completed"
	switch {
	case s.Interrupted && errors.Is(s.Err, context.Canceled):
		state = "stopped at once (interrupted twice)"
	case s.Err != nil:
		state = "failed"
	case s.Interrupted && s.Abandoned:
		state = "interrupted (in-flight events not drained within shutdown_timeout)"
	case s.Interrupted:
		state = "interrupted (sources stopped, in-flight events drained)"
	}
	fmt.Fprintf(w, "\nPipeline %q %s in %s.\n\n", s.Pipeline, state, s.Duration.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPLUGIN\tDRIVER\tIN\tOUT\tACKED\tFAILED\tRETRIED\tDEAD-LETTERED\tRESTARTS\t")
	for _, c := range s.Components {
		in, out := strconv.FormatUint(c.EventsIn, 10), strconv.FormatUint(c.EventsOut, 10)
		acked := strconv.FormatUint(c.EventsAcked, 10)
		switch c.Address.Kind {
		case flowhcl.KindSource:
			in = "-"
		case flowhcl.KindProcessor:
			acked = "-" // acks belong to sources and sinks
		case flowhcl.KindSink:
			out = "-"
		}
		failed, retried, dead := strconv.FormatUint(c.EventsFailed, 10), strconv.FormatUint(c.Retried, 10), strconv.FormatUint(c.DeadLettered, 10)
		if c.Address.Kind == flowhcl.KindSource {
			failed, retried, dead = "-", "-", "-" // a source's failures are restarts
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", c.Name(), c.Plugin, c.Driver, in, out, acked, failed, retried, dead, c.Restarts)
	}
	_ = tw.Flush()
	if s.Duration > 0 {
		var in uint64
		for _, c := range s.Components {
			if c.Address.Kind == flowhcl.KindSource {
				in += c.EventsOut
			}
		}
		fmt.Fprintf(w, "\n%d source events, %.0f events/s.\n", in, float64(in)/s.Duration.Seconds())
	}
	if s.StateDir != "" {
		fmt.Fprintf(w, "Checkpoints: %s\n", s.StateDir)
	}
}
