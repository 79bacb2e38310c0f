// Package discard is the flowctl "discard" plugin: a sink that acks every
// event without writing it anywhere, for benchmarks and for pipelines run
// only for their side effects. At Teardown it logs how many events and
// batches it discarded.
package discard

import (
	"context"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"

	"github.com/flowctl/flowctl/pluginsdk"
)

// Plugin returns the discard plugin at the given version.
func Plugin(version string) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "discard",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewSink("discard",
				"Acknowledges and drops every event; logs the total when it stops.",
				pluginsdk.NewSpec(), newSink),
		},
	}
}

// Sink drops events and counts them.
type Sink struct {
	log hclog.Logger
	// The counters are atomic because the host may stop the plugin, calling
	// Teardown, while a Write runs.
	events  atomic.Int64
	batches atomic.Int64
}

var _ pluginsdk.Sink = (*Sink)(nil)

func newSink(init pluginsdk.Init) (pluginsdk.Sink, error) {
	log := init.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Sink{log: log}, nil
}

// Open does nothing.
func (s *Sink) Open(context.Context) error { return nil }

// Write counts the batch and acks it.
func (s *Sink) Write(_ context.Context, batch []pluginsdk.Event) error {
	s.events.Add(int64(len(batch)))
	s.batches.Add(1)
	return nil
}

// Events returns how many events the sink has discarded.
func (s *Sink) Events() int64 { return s.events.Load() }

// Teardown logs the totals.
func (s *Sink) Teardown(context.Context) error {
	s.log.Info("discarded events", "events", s.events.Load(), "batches", s.batches.Load())
	return nil
}
