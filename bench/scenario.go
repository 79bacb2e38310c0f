package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
	// Pipeline writes the pipeline file.
	Pipeline func(p shape) string
	// Raw runs the raw gRPC baseline instead of flowctl.
	Raw bool
	// Target describes the goal, for the table.
	Target string
}

// shape is what a scenario's pipeline is built from.
type shape struct {
	// Events is the scenario's total; sources split it.
	Events int
	// Batch is the sources' batch size; 0 keeps flowctl's default.
	Batch int
}

// scenarios are the runs of one bench, with event counts scaled by scale.
func scenarios(scale float64) []scenario {
	n := func(x int) int { return max(int(float64(x)*scale), 3000) }
	return []scenario{
		{Name: "raw", Events: n(10_000_000), Paths: 1, Raw: true, Target: "baseline"},
		{Name: "linear", Events: n(6_000_000), Paths: 1, Pipeline: linear, Target: ">= 1,000,000 ev/s"},
		{Name: "linear_2x", Events: n(12_000_000), Paths: 1, Pipeline: linear, Target: "time 2x linear (+-15%)"},
		{Name: "fanout", Events: n(3_000_000), Paths: 3, Pipeline: fanout, Target: ">= 500,000 ev/s"},
		{Name: "fanin", Events: n(3_000_000), Paths: 1, Pipeline: fanin, Target: ">= 500,000 ev/s"},
		{Name: "diamond", Events: n(3_000_000), Paths: 2, Pipeline: diamond, Target: "-"},
		{Name: "latency", Events: n(100_000), Paths: 1, Pipeline: latency, Target: "p99 <= 5 ms at 10,000 ev/s"},
		{Name: "cpu_heavy", Events: n(300_000), Paths: 1, Pipeline: cpuHeavy(1), Target: "-"},
		{Name: "cpu_heavy_p2", Events: n(300_000), Paths: 1, Pipeline: cpuHeavy(2), Target: "events/s >= 1.5 x cpu_heavy"},
	}
}

// costlyExpr is a cel expression of a few tens of microseconds per event
// that depends on the event, so nothing folds it away.
const costlyExpr = `[1, 2, 3, 4, 5].map(x, [1, 2, 3, 4].map(y, (id.size() + x) * y)).map(l, l.filter(v, v % 7 == 3).size()).exists(c, c > 100) ? 'rare' : string(id.size())`

// cpuHeavy is generator → a costly cel processor with parallelism
// instances → discard: the processor is the bottleneck, so instances on
// free cores move more events.
func cpuHeavy(parallelism int) func(p shape) string {
	return func(p shape) string {
		proc := fmt.Sprintf("processor \"cel\" \"heavy\" {\n  inputs      = [source.gen]\n  parallelism = %d\n  set         = { n = %q }\n}\n", parallelism, costlyExpr)
		return genSource("gen", p.Events, "", 0, p.Batch, "") + proc + discardSink("out", "processor.heavy")
	}
}

func linear(p shape) string {
	return genSource("gen", p.Events, "", 0, p.Batch, "") +
		tagProcessor("tag", "source.gen", "env") +
		discardSink("out", "processor.tag")
}

func fanout(p shape) string {
	return genSource("gen", p.Events, "", 0, p.Batch, "") +
		discardSink("out1", "source.gen") + discardSink("out2", "source.gen") + discardSink("out3", "source.gen")
}

// fanin's three generators tell their events apart by id prefix, which the
// sink's id accounting keeps separate.
func fanin(p shape) string {
	per := p.Events / 3
	return genSource("gen1", per, "g1-", 0, p.Batch, "") + genSource("gen2", per, "g2-", 0, p.Batch, "") +
		genSource("gen3", p.Events-2*per, "g3-", 0, p.Batch, "") +
		discardSink("out", "source.gen1", "source.gen2", "source.gen3")
}

func diamond(p shape) string {
	return genSource("gen", p.Events, "", 0, p.Batch, "") +
		tagProcessor("left", "source.gen", "path") + tagProcessor("right", "source.gen", "path") +
		discardSink("out", "processor.left", "processor.right")
}

// latency paces the generator and ships small batches quickly, as a
// latency-sensitive pipeline would be configured.
func latency(p shape) string {
	return genSource("gen", p.Events, "", 10_000, 100, "1ms") +
		tagProcessor("tag", "source.gen", "env") +
		discardSink("out", "processor.tag")
}

// genSource is a source of count realtime-stamped events.
func genSource(name string, count int, idPrefix string, rate, batch int, linger string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "source \"generator\" %q {\n  count        = %d\n  payload_size = %d\n  realtime     = true\n", name, count, PayloadSize)
	if idPrefix != "" {
		fmt.Fprintf(&b, "  id_prefix    = %q\n", idPrefix)
	}
	if rate > 0 {
		fmt.Fprintf(&b, "  rate         = %d\n", rate)
	}
	if batch > 0 || linger != "" {
		b.WriteString("  batch {\n")
		if batch > 0 {
			fmt.Fprintf(&b, "    size = %d\n", batch)
		}
		if linger != "" {
			fmt.Fprintf(&b, "    linger = %q\n", linger)
		}
		b.WriteString("  }\n")
	}
	return b.String() + "}\n"
}

// tagProcessor sets one attribute on every event.
func tagProcessor(name, input, attr string) string {
	return fmt.Sprintf("processor \"transform\" %q {\n  inputs = [%s]\n  set    = { %s = %q }\n}\n", name, input, attr, name)
}

// discardSink accounts for every event it gets in NAME.report.json.
func discardSink(name string, inputs ...string) string {
	return fmt.Sprintf("sink \"discard\" %q {\n  inputs    = [%s]\n  report    = %q\n  check_ids = true\n  latency   = true\n}\n",
		name, strings.Join(inputs, ", "), name+".report.json")
}

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
	src := sc.Pipeline(shape{Events: sc.Events, Batch: batch})
	if err := os.WriteFile(filepath.Join(dir, "pipeline.hcl"), []byte(src), 0o644); err != nil {
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
