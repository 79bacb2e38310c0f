package main

import (
	"cmp"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flowctl/flowctl/plugins/generator"
	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
)

// Results is what bench/results.json holds.
type Results struct {
	Machine   Machine     `json:"machine"`
	Date      string      `json:"date"`
	Quick     bool        `json:"quick"`
	Scenarios []*Scenario `json:"scenarios"`
}

// Machine describes where the numbers were taken.
type Machine struct {
	CPU    string `json:"cpu"`
	Cores  int    `json:"cores"`
	MemGiB int    `json:"mem_gib"`
	Kernel string `json:"kernel"`
	Go     string `json:"go"`
}

// Scenario is one row of the results.
type Scenario struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	// Events is how many events the sources emitted; Delivered how many
	// the sinks received (Events times the paths to the sinks).
	Events    int     `json:"events"`
	Delivered int64   `json:"delivered"`
	Seconds   float64 `json:"seconds"`
	// WallSeconds includes starting and stopping the plugins.
	WallSeconds  float64 `json:"wall_seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	MBPerSec     float64 `json:"mb_per_sec"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	Lost         int64   `json:"lost"`
	Duplicated   int64   `json:"duplicated"`
	RatioToRaw   float64 `json:"ratio_to_raw"`
	// TimeRatio is, for the linearity check, this run's time over the
	// compared run's: 2 when twice the events take twice the time.
	TimeRatio float64 `json:"time_ratio,omitempty"`
	// SpeedUp is, for a parallel scenario, its events/s over the same
	// pipeline's with one instance.
	SpeedUp float64 `json:"speed_up,omitempty"`
	// RunsEventsPerSec is every run's events/s; the row is the median run.
	RunsEventsPerSec []float64 `json:"runs_events_per_sec"`
	// CPUSecPerMEvents and PeakRSSMB are per process: "host" and each
	// plugin by name.
	CPUSecPerMEvents map[string]float64 `json:"cpu_sec_per_mevents"`
	PeakRSSMB        map[string]float64 `json:"peak_rss_mb"`
}

func (r *Scenario) setUsage(procs []procUsage) {
	r.CPUSecPerMEvents = map[string]float64{}
	r.PeakRSSMB = map[string]float64{}
	for _, p := range byName(procs) {
		r.CPUSecPerMEvents[p.Name] = round(p.CPU / (float64(r.Events) / 1e6))
		r.PeakRSSMB[p.Name] = round(p.PeakRSSMB)
	}
}

// median returns the run with the median events/s (of an even number, the
// slower middle one), listing every run's.
func median(runs []*Scenario) *Scenario {
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b *Scenario) int { return cmp.Compare(a.EventsPerSec, b.EventsPerSec) })
	m := sorted[(len(sorted)-1)/2]
	m.RunsEventsPerSec = nil
	for _, r := range runs {
		m.RunsEventsPerSec = append(m.RunsEventsPerSec, float64(int64(r.EventsPerSec)))
	}
	for _, r := range runs {
		m.Lost, m.Duplicated = max(m.Lost, r.Lost), max(m.Duplicated, r.Duplicated)
	}
	return m
}

// finish fills in what compares scenarios with each other.
func (res *Results) finish() {
	byName := map[string]*Scenario{}
	for _, s := range res.Scenarios {
		byName[s.Name] = s
	}
	raw := byName["raw"]
	for _, s := range res.Scenarios {
		if raw != nil && raw.EventsPerSec > 0 {
			s.RatioToRaw = round(s.EventsPerSec / raw.EventsPerSec)
		}
		if s.Name == "linear_2x" {
			if base := byName["linear"]; base != nil && base.Seconds > 0 {
				s.TimeRatio = round(s.Seconds / base.Seconds)
			}
		}
		if base, ok := strings.CutSuffix(s.Name, "_p2"); ok && byName[base] != nil && byName[base].EventsPerSec > 0 {
			s.SpeedUp = round(s.EventsPerSec / byName[base].EventsPerSec)
		}
		s.EventsPerSec = float64(int64(s.EventsPerSec))
		s.MBPerSec = round(s.MBPerSec)
		s.Seconds, s.WallSeconds = round(s.Seconds), round(s.WallSeconds)
	}
}

// WriteTable prints the results for a person.
func (res *Results) WriteTable(w io.Writer) {
	fmt.Fprintf(w, "\nflowctl data plane, %s, %d cores, %s, %s\n", res.Machine.CPU, res.Machine.Cores, res.Machine.Go, res.Date)
	if res.Quick {
		fmt.Fprintln(w, "(quick run: too few events for the numbers to mean much)")
	}
	tw := tabwriter.NewWriter(w, 2, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tEVENTS\tEVENTS/S\tMB/S\tP50 MS\tP99 MS\tLOST\tDUP\tX RAW\tCPU S/M EVENTS\tPEAK RSS MB\tTARGET")
	for _, s := range res.Scenarios {
		ratio := fmt.Sprintf("%.2f", s.RatioToRaw)
		if s.TimeRatio != 0 {
			ratio += fmt.Sprintf(" (time x%.2f)", s.TimeRatio)
		}
		if s.SpeedUp != 0 {
			ratio += fmt.Sprintf(" (speed-up x%.2f)", s.SpeedUp)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.1f\t%.2f\t%.2f\t%d\t%d\t%s\t%s\t%s\t%s\n",
			s.Name, s.Events, s.EventsPerSec, s.MBPerSec, s.P50ms, s.P99ms, s.Lost, s.Duplicated, ratio,
			perProcess(s.CPUSecPerMEvents), perProcess(s.PeakRSSMB), s.Target)
	}
	_ = tw.Flush()
}

// perProcess renders "host 0.41, generator 0.52, ..." with the host first.
func perProcess(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		if n != "host" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if _, ok := m["host"]; ok {
		names = append([]string{"host"}, names...)
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.2f", n, m[n])
	}
	return strings.Join(parts, ", ")
}

func round(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

func describeMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m.MemGiB = (kb + 512*1024) / (1024 * 1024)
		}
	}
	return m
}

// benchEvent is event n as the generator emits it in these scenarios.
func benchEvent(n uint64) pluginsdk.Event {
	return pluginsdk.Event{
		ID:          fmt.Sprintf("%08d", n),
		Type:        generator.DefaultType,
		Time:        time.Now(),
		Attributes:  []pluginsdk.Attribute{{Key: "seq", Value: fmt.Sprint(n)}},
		ContentType: "application/json",
		Data:        generator.Payload(n, PayloadSize),
	}
}

// wireSize is the encoded size of one event, for MB/s.
func wireSize() int {
	return len(sdktest.AppendEvents(nil, []pluginsdk.Event{benchEvent(1_000_000)}))
}
