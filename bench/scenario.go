package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"text/template"
	"time"

	"github.com/flowctl/flowctl/plugins/discard"
)

// PayloadSize is the size of every event's data, as the targets
// assume.
const PayloadSize = 100

// scenario is one measured run.
type scenario struct {
	Name string
	// Events is how many events the sources emit in all.
	Events int
	// Paths is how many times each event reaches the sinks: 3 for a fan-out
	// to three sinks, 2 for a diamond.
	Paths int
	// Pipeline is a text/template of the pipeline; .N is the events per
	// source, .Rate the generator's rate (0: unpaced).
	Pipeline string
	Rate     int
	// Sources is how many generators split Events between them.
	Sources int
	// Raw runs the raw gRPC baseline instead of flowctl.
	Raw bool
	// Target describes the goal, for the table.
	Target string
}

// scenarios are the runs of one bench, with event counts scaled by scale.
func scenarios(scale float64) []scenario {
	n := func(x int) int { return max(int(float64(x)*scale), 1000) }
	return []scenario{
		{Name: "raw", Events: n(10_000_000), Paths: 1, Raw: true, Target: "baseline"},
		{Name: "linear", Events: n(6_000_000), Paths: 1, Sources: 1, Pipeline: linearHCL, Target: ">= 1,000,000 ev/s"},
		{Name: "linear_2x", Events: n(12_000_000), Paths: 1, Sources: 1, Pipeline: linearHCL, Target: "time 2x linear (+-15%)"},
		{Name: "fanout", Events: n(3_000_000), Paths: 3, Sources: 1, Pipeline: fanoutHCL, Target: ">= 500,000 ev/s"},
		{Name: "fanin", Events: n(3_000_000), Paths: 1, Sources: 3, Pipeline: faninHCL, Target: ">= 500,000 ev/s"},
		{Name: "diamond", Events: n(3_000_000), Paths: 2, Sources: 1, Pipeline: diamondHCL, Target: "-"},
		{Name: "latency", Events: n(100_000), Paths: 1, Sources: 1, Rate: 10_000, Pipeline: latencyHCL, Target: "p99 <= 5 ms at 10,000 ev/s"},
	}
}

const sinkAttrs = `check_ids = true
  latency   = true`

const linearHCL = `
source "generator" "gen" {
  count        = {{.N}}
  payload_size = {{.Payload}}
  realtime     = true
  {{if .Batch}}batch {
    size = {{.Batch}}
  }{{end}}
}
processor "transform" "tag" {
  inputs = [source.gen]
  set    = { env = "bench" }
}
sink "discard" "out" {
  inputs = [processor.tag]
  report = "out.report.json"
  ` + sinkAttrs + `
}
`

const fanoutHCL = `
source "generator" "gen" {
  count        = {{.N}}
  payload_size = {{.Payload}}
  realtime     = true
  {{if .Batch}}batch {
    size = {{.Batch}}
  }{{end}}
}
{{range $i := .Three}}
sink "discard" "out{{$i}}" {
  inputs = [source.gen]
  report = "out{{$i}}.report.json"
  ` + sinkAttrs + `
}
{{end}}
`

const faninHCL = `
{{range $i := .Three}}
source "generator" "gen{{$i}}" {
  count        = {{$.N}}
  payload_size = {{$.Payload}}
  realtime     = true
  id_prefix    = "g{{$i}}-"
  {{if $.Batch}}batch {
    size = {{$.Batch}}
  }{{end}}
}
{{end}}
sink "discard" "out" {
  inputs = [source.gen1, source.gen2, source.gen3]
  report = "out.report.json"
  ` + sinkAttrs + `
}
`

const diamondHCL = `
source "generator" "gen" {
  count        = {{.N}}
  payload_size = {{.Payload}}
  realtime     = true
  {{if .Batch}}batch {
    size = {{.Batch}}
  }{{end}}
}
processor "transform" "left" {
  inputs = [source.gen]
  set    = { path = "left" }
}
processor "transform" "right" {
  inputs = [source.gen]
  set    = { path = "right" }
}
sink "discard" "out" {
  inputs = [processor.left, processor.right]
  report = "out.report.json"
  ` + sinkAttrs + `
}
`

// latencyHCL paces the generator and ships small batches quickly, as a
// latency-sensitive pipeline would be configured.
const latencyHCL = `
source "generator" "gen" {
  count        = {{.N}}
  payload_size = {{.Payload}}
  realtime     = true
  rate         = {{.Rate}}
  batch {
    size   = 100
    linger = "1ms"
  }
}
processor "transform" "tag" {
  inputs = [source.gen]
  set    = { env = "bench" }
}
sink "discard" "out" {
  inputs = [processor.tag]
  report = "out.report.json"
  ` + sinkAttrs + `
}
`

// run executes the scenario and measures it.
func (sc scenario) run(ctx context.Context, bin string, keep bool, batch int) (*Scenario, error) {
	if sc.Raw {
		return runRaw(ctx, sc)
	}
	dir, err := os.MkdirTemp("", "flowctl-bench-"+sc.Name+"-")
	if err != nil {
		return nil, err
	}
	if keep {
		fmt.Fprintf(os.Stderr, "bench: %s: keeping %s\n", sc.Name, dir)
	} else {
		defer os.RemoveAll(dir)
	}
	var src bytes.Buffer
	tmpl := template.Must(template.New(sc.Name).Parse(sc.Pipeline))
	perSource := sc.Events / sc.Sources
	err = tmpl.Execute(&src, map[string]any{"N": perSource, "Payload": PayloadSize, "Rate": sc.Rate, "Three": []int{1, 2, 3}, "Batch": batch})
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pipeline.hcl"), src.Bytes(), 0o644); err != nil {
		return nil, err
	}

	cmd := exec.CommandContext(ctx, bin, "apply", "--reset", "--state-dir", filepath.Join(dir, "state"), "pipeline.hcl")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Env = append(os.Environ(), "FLOWCTL_LOG_LEVEL=warn")
	if keep {
		cmd.Env = append(cmd.Env, "FLOWCTL_CPUPROFILE_DIR="+filepath.Join(dir, "profiles"))
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sampler := newSampler(cmd.Process.Pid)
	go sampler.run(ctx, 20*time.Millisecond)
	err = cmd.Wait()
	wall := time.Since(start)
	procs := sampler.stop()
	if err != nil {
		return nil, fmt.Errorf("flowctl apply: %w\n%s", err, stderr.String())
	}
	reports, err := readReports(dir)
	if err != nil {
		return nil, err
	}
	return sc.result(reports, procs, wall)
}

func readReports(dir string) ([]discard.Report, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.report.json"))
	if err != nil || len(paths) == 0 {
		return nil, fmt.Errorf("no sink report in %s: %v", dir, err)
	}
	var out []discard.Report
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		var r discard.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// result turns the sinks' reports and the processes' usage into the
// scenario's row. Throughput is measured over the sinks' window, from the
// first batch any sink received to the last one: plugin start-up is not the
// data plane.
func (sc scenario) result(reports []discard.Report, procs []procUsage, wall time.Duration) (*Scenario, error) {
	r := &Scenario{Name: sc.Name, Events: sc.Events, Target: sc.Target, WallSeconds: wall.Seconds()}
	var first, last int64
	var lat *discard.LatencyReport
	// Every sink receives every source's events, each once per path that
	// leads to it: a diamond's sink gets every event twice, which is not a
	// duplicate. A missing copy counts as lost, an extra one as duplicated.
	perSink := int64(sc.Events) * int64(sc.Paths) / int64(len(reports))
	for _, rep := range reports {
		if rep.IDs == nil {
			return nil, fmt.Errorf("a sink report has no id accounting")
		}
		r.Delivered += rep.Events
		extra := rep.IDs.Duplicates - (perSink - int64(sc.Events))
		r.Lost += int64(sc.Events) - rep.IDs.Distinct + max(0, -extra)
		r.Duplicated += max(0, extra)
		if rep.FirstWrite != 0 && (first == 0 || rep.FirstWrite < first) {
			first = rep.FirstWrite
		}
		last = max(last, rep.LastWrite)
		if rep.Latency != nil && (lat == nil || rep.Latency.P99 > lat.P99) {
			lat = rep.Latency // the slowest sink's
		}
	}
	secs := time.Duration(last - first).Seconds()
	if secs <= 0 {
		secs = wall.Seconds()
	}
	r.Seconds = secs
	r.EventsPerSec = float64(sc.Events) / secs
	r.MBPerSec = r.EventsPerSec * float64(wireSize()) / 1e6
	if lat != nil {
		r.P50ms, r.P99ms = lat.P50, lat.P99
	}
	r.setUsage(procs)
	return r, nil
}

// processUsage is the CPU and peak RSS of a process that started no other,
// exact from wait4.
func processUsage(name string, ps *os.ProcessState) procUsage {
	u := procUsage{Name: name, CPU: (ps.UserTime() + ps.SystemTime()).Seconds()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.PeakRSSMB = float64(ru.Maxrss) / 1024 // KiB on Linux
	}
	return u
}
