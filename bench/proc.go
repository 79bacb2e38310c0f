package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procUsage is one process's CPU time and peak resident memory.
type procUsage struct {
	Name      string
	CPU       float64 // seconds, user + system
	PeakRSSMB float64
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux configuration Go supports.
const clockTicks = 100

// sampler follows a process (a flowctl host) and its children (the plugins
// it starts) through /proc, keeping each one's latest CPU time and peak RSS.
// The last few milliseconds before a process exits may be missed. (wait4's
// rusage cannot stand in for the host's: it includes the plugins the host
// reaped.)
type sampler struct {
	parent int
	mu     sync.Mutex
	seen   map[int]*procUsage
	order  []int
	done   chan struct{}
	exited chan struct{}
}

func newSampler(parent int) *sampler {
	return &sampler{parent: parent, seen: map[int]*procUsage{}, done: make(chan struct{}), exited: make(chan struct{})}
}

func (s *sampler) run(ctx context.Context, every time.Duration) {
	defer close(s.exited)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.sample()
		select {
		case <-t.C:
		case <-s.done:
			return
		case <-ctx.Done():
			return
		}
	}
}

// stop ends sampling and returns the children's usage in the order they
// were first seen.
func (s *sampler) stop() []procUsage {
	close(s.done)
	<-s.exited
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]procUsage, 0, len(s.order))
	for _, pid := range s.order {
		out = append(out, *s.seen[pid])
	}
	return out
}

func (s *sampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.track(s.parent, "host")
	for _, pid := range children(s.parent) {
		if _, ok := s.seen[pid]; ok {
			s.track(pid, "")
			continue
		}
		if name, ok := pluginName(pid); ok {
			s.track(pid, name)
		} // else not (yet) a plugin serving a component
	}
}

// track reads one process's usage, adding it under name when first seen.
// A process that has exited keeps its last reading.
func (s *sampler) track(pid int, name string) {
	st, err := readStat(pid)
	if err != nil {
		return
	}
	rss := peakRSSMB(pid)
	u, ok := s.seen[pid]
	if !ok {
		u = &procUsage{Name: name}
		s.seen[pid] = u
		s.order = append(s.order, pid)
	}
	u.CPU = max(u.CPU, st.cpu)
	u.PeakRSSMB = max(u.PeakRSSMB, rss)
}

// children lists the processes whose parent is pid, from each of its
// threads' /proc/PID/task/TID/children. Scanning all of /proc instead, as
// an earlier sampler did, took up to a quarter of a core at this rate
// (PERF-NOTES.md) and so slowed what it measured.
func children(pid int) []int {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(dir, t.Name(), "children"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

type stat struct {
	cpu float64
}

// readStat parses /proc/PID/stat: the fields after the parenthesised
// command name, of which utime and stime are the 12th and 13th.
func readStat(pid int) (stat, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return stat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("malformed stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return stat{}, fmt.Errorf("malformed stat")
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return stat{cpu: (ut + st) / clockTicks}, nil
}

// peakRSSMB reads VmHWM, the process's peak resident set.
func peakRSSMB(pid int) float64 {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// pluginName names a plugin process by its command line: the built-in
// plugins run as `flowctl __plugin NAME`. It is false for anything else: a
// child between fork and exec (still the host's command line), and a
// plugin run only to describe itself.
func pluginName(pid int) (string, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return "", false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) == 3 && args[1] == "__plugin" {
		return args[2], true
	}
	return "", false
}

// byName sums usage per process name and numbers repeated names (two
// transforms: "transform", "transform#2").
func byName(procs []procUsage) []procUsage {
	count := map[string]int{}
	out := make([]procUsage, 0, len(procs))
	for _, p := range procs {
		count[p.Name]++
		if n := count[p.Name]; n > 1 {
			p.Name = fmt.Sprintf("%s#%d", p.Name, n)
		}
		out = append(out, p)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name == "host" && out[j].Name != "host" })
	return out
}
