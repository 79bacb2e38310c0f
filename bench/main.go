// Command bench measures flowctl's data plane on this machine. It runs
// pipelines of real plugin processes through bin/flowctl — linear, fan-out,
// fan-in, diamond, a paced latency run and a run of twice the events — and,
// in the same run, a raw baseline: the same batches of the same events over
// one plain gRPC stream between two processes with nothing in between.
//
// Per scenario it reports events/s, MB/s, latency percentiles (event time to
// arrival at the sink), CPU seconds per million events and peak RSS of every
// process, the ratio to the raw baseline, and what the sinks counted: every
// event must arrive, exactly once per path. It prints a table and writes
// JSON (-out). It exits 1 when a run fails or loses or duplicates an event;
// performance targets are reported, not enforced.
//
//	go run ./bench                 # full run (make bench), a few minutes
//	go run ./bench -quick          # a smoke run with few events (CI)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	// Re-executed as one side of the raw baseline.
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "raw-") {
		os.Exit(rawMain(os.Args[1], os.Args[2:]))
	}
	os.Exit(run())
}

func run() int {
	var (
		flowctl = flag.String("flowctl", "bin/flowctl", "the flowctl binary to measure")
		out     = flag.String("out", "", "write the results as JSON to this file")
		quick   = flag.Bool("quick", false, "few events per scenario: a smoke run, not a measurement")
		only    = flag.String("only", "", "comma-separated scenario names to run (default: all)")
		keep    = flag.Bool("keep", false, "keep each scenario's directory (pipeline, reports, CPU profiles)")
		batch   = flag.Int("batch", 0, "source batch size of the throughput scenarios (0: flowctl's default)")
		runs    = flag.Int("runs", 3, "run each scenario this many times and report the median run: a shared machine's speed varies from minute to minute")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	bin, err := filepath.Abs(*flowctl)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v (run make build first)\n", err)
		return 2
	}
	scale := 1.0
	if *quick {
		scale = 0.02
	}
	res := Results{Machine: describeMachine(), Quick: *quick, Date: time.Now().UTC().Format(time.RFC3339)}
	failed := false
	for _, sc := range scenarios(scale) {
		if *only != "" && !contains(strings.Split(*only, ","), sc.Name) {
			continue
		}
		var done []*Scenario
		for i := range max(*runs, 1) {
			fmt.Fprintf(os.Stderr, "bench: %-10s %d events, run %d...\n", sc.Name, sc.Events, i+1)
			r, err := sc.run(ctx, bin, *keep, *batch)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: %v\n", sc.Name, err)
				failed = true
				break
			}
			// Every run must deliver every event exactly once per path.
			if r.Lost != 0 || r.Duplicated != 0 {
				fmt.Fprintf(os.Stderr, "bench: %s: %d events lost, %d duplicated\n", sc.Name, r.Lost, r.Duplicated)
				failed = true
			}
			done = append(done, r)
		}
		if ctx.Err() != nil {
			break
		}
		if len(done) > 0 {
			res.Scenarios = append(res.Scenarios, median(done))
		}
	}
	res.finish()
	res.WriteTable(os.Stdout)
	if *out != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(*out, append(b, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
	}
	if failed {
		return 1
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}
