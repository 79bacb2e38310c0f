// Package discard is the flowctl "discard" plugin: a sink that acks every
// event without writing it anywhere, for benchmarks and for pipelines run
// only for their side effects. At Teardown it logs how many events and
// batches it discarded.
//
// For load tests it can also account for what it received: with `report`
// set it writes a JSON report (Report) at Teardown; `check_ids` tracks the
// sequence number that ends each event id (as the generator's ids do) to
// count distinct events and duplicates (per id prefix, so several sources
// may feed one sink); `latency` measures, per event, the
// time from its event time to the Write that received it (meaningful with
// a generator in realtime mode).
package discard

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowctl/flowctl/pluginsdk"
)

// Plugin returns the discard plugin at the given version.
func Plugin(version string) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "discard",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewSink("discard",
				"Acknowledges and drops every event; logs the total when it stops, and can report what it received.",
				spec(), newSink),
		},
	}
}

func spec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.String("report", "Write a JSON report of what was received to this file when the sink stops.").Default(""),
		pluginsdk.Bool("check_ids", "In the report, count distinct events and duplicates by the sequence number that ends each event id.").Default(false),
		pluginsdk.Bool("latency", "In the report, give percentiles of the time from each event's time to its arrival.").Default(false),
	)
}

// Report is what the sink writes to its report file.
type Report struct {
	Events  int64 `json:"events"`
	Batches int64 `json:"batches"`
	// FirstWrite and LastWrite are when the first and the last batch
	// arrived, in nanoseconds since the Unix epoch; 0 when none did.
	FirstWrite int64 `json:"first_write_unix_nano"`
	LastWrite  int64 `json:"last_write_unix_nano"`
	// IDs is present with check_ids.
	IDs *IDReport `json:"ids,omitempty"`
	// Latency is present with latency.
	Latency *LatencyReport `json:"latency,omitempty"`
}

// Sink drops events and counts them.
type Sink struct {
	log    pluginsdk.Logger
	report string
	// The counters are atomic because the host may stop the plugin, calling
	// Teardown, while a Write runs.
	events  atomic.Int64
	batches atomic.Int64

	// mu guards what only a report needs; Writes never overlap, so it is
	// taken without contention except against Teardown.
	mu         sync.Mutex
	first      int64
	last       int64
	ids        *idSet
	latency    *histogram
	reportDone bool
}

var _ pluginsdk.Sink = (*Sink)(nil)

func newSink(init pluginsdk.Init) (pluginsdk.Sink, error) {
	log := init.Logger
	s := &Sink{log: log, report: init.Config.String("report")}
	if init.Config.Bool("check_ids") {
		s.ids = &idSet{}
	}
	if init.Config.Bool("latency") {
		s.latency = &histogram{}
	}
	if s.report == "" && (s.ids != nil || s.latency != nil) {
		return nil, pluginsdk.NewAttrError(fmt.Errorf("check_ids and latency need a report file to write to"), "report")
	}
	return s, nil
}

// Open does nothing.
func (s *Sink) Open(context.Context) error { return nil }

// Write counts the batch and acks it.
func (s *Sink) Write(_ context.Context, batch []pluginsdk.Event) error {
	s.events.Add(int64(len(batch)))
	s.batches.Add(1)
	if s.report == "" {
		return nil
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.first == 0 {
		s.first = now.UnixNano()
	}
	s.last = now.UnixNano()
	for i := range batch {
		if s.ids != nil {
			s.ids.add(batch[i].ID)
		}
		if s.latency != nil && !batch[i].Time.IsZero() {
			s.latency.record(now.Sub(batch[i].Time))
		}
	}
	return nil
}

// Events returns how many events the sink has discarded.
func (s *Sink) Events() int64 { return s.events.Load() }

// Teardown logs the totals and writes the report.
func (s *Sink) Teardown(context.Context) error {
	s.log.Info("discarded events", "events", s.events.Load(), "batches", s.batches.Load())
	if s.report == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reportDone {
		return nil
	}
	s.reportDone = true
	r := Report{Events: s.events.Load(), Batches: s.batches.Load(), FirstWrite: s.first, LastWrite: s.last}
	if s.ids != nil {
		r.IDs = s.ids.report()
	}
	if s.latency != nil {
		r.Latency = s.latency.report()
	}
	return writeJSON(s.report, r)
}

// writeJSON replaces path with v's JSON through a rename, so a reader never
// sees half a report.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("discard: encode report: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".discard-report-*")
	if err != nil {
		return fmt.Errorf("discard: write report: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		_ = tmp.Close()
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("discard: write report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("discard: write report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("discard: write report: %w", err)
	}
	return nil
}
