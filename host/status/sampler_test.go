package status

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
)

// writeStat writes a /proc/<pid>/stat with the given CPU ticks and
// resident pages; the command name has a space and a parenthesis, as a
// process may name itself.
func writeStat(t *testing.T, root string, pid int, utime, stime, rssPages int) {
	t.Helper()
	dir := filepath.Join(root, fmt.Sprint(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stat := fmt.Sprintf("%d (flowctl (plugin) x) S 1 1 1 0 -1 4194560 100 0 0 0 %d %d 0 0 20 0 8 0 100 1000000 %d 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
		pid, utime, stime, rssPages)
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSamplerRatesAndResources(t *testing.T) {
	root := t.TempDir()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewSampler()
	s.procRoot, s.now = root, func() time.Time { return clock }
	src := host.ComponentSummary{Address: flowhcl.Address{Kind: flowhcl.KindSource, Name: "in"}, Driver: "process", Pid: 7}
	sink := host.ComponentSummary{Address: flowhcl.Address{Kind: flowhcl.KindSink, Name: "out"}, Driver: "docker", Pid: 8}
	writeStat(t, root, 7, 100, 50, 2560)
	writeStat(t, root, 8, 0, 0, 1)

	// Before the plugins start: no pid yet.
	starting := src
	starting.Pid = 0
	s.Counters([]host.ComponentSummary{starting, sink})
	clock = clock.Add(time.Second)

	first := s.Counters([]host.ComponentSummary{src, sink})
	if first[0].GetEventsPerSecond() != 0 || first[0].CpuPercent != nil {
		t.Errorf("first sample of the process: rate %v, cpu %v; want none yet", first[0].GetEventsPerSecond(), first[0].CpuPercent)
	}
	if m := first[0].MemoryBytes; m == nil || *m != 2560*uint64(os.Getpagesize()) {
		t.Errorf("memory %v, want 2560 pages", m)
	}
	if first[1].MemoryBytes != nil {
		t.Error("a docker plugin's pid is not a local process: no memory from /proc")
	}

	// Two seconds later: 3,000 more events, 0.5 s more CPU (50 ticks).
	clock = clock.Add(2 * time.Second)
	src.EventsOut, sink.EventsIn, sink.EventsAcked = 3000, 3000, 2000
	writeStat(t, root, 7, 130, 70, 2560)
	got := s.Counters([]host.ComponentSummary{src, sink})
	if r := got[0].GetEventsPerSecond(); r != 1000 {
		t.Errorf("source rate %v, want 1000 (emitted, over the 3 s seen)", r)
	}
	if r := got[1].GetEventsPerSecond(); r < 666 || r > 667 {
		t.Errorf("sink rate %v, want 2000/3 (acked)", r)
	}
	if c := got[0].CpuPercent; c == nil || *c != 25 {
		t.Errorf("cpu %v, want 25%% (0.5 s of CPU in 2 s)", c)
	}

	// A restarted plugin (new pid) has no CPU rate until its second sample.
	clock = clock.Add(time.Second)
	src.Pid = 9
	writeStat(t, root, 9, 1, 1, 10)
	if c := s.Counters([]host.ComponentSummary{src, sink})[0].CpuPercent; c != nil {
		t.Errorf("cpu %v across a restart, want none", *c)
	}

	// Long after, the rate covers the last Window only.
	for range 20 {
		clock = clock.Add(time.Second)
		src.EventsOut += 100
		s.Counters([]host.ComponentSummary{src, sink})
	}
	if r := s.Counters([]host.ComponentSummary{src, sink})[0].GetEventsPerSecond(); r < 90 || r > 100 {
		t.Errorf("rate %v after a slow-down, want about 100 (the last %s)", r, Window)
	}
}

func TestReadProcRejectsGarbage(t *testing.T) {
	root := t.TempDir()
	if _, err := readProc(root, 1); err == nil {
		t.Error("no error for a missing process")
	}
	if err := os.MkdirAll(filepath.Join(root, "2"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "2", "stat"), []byte("2 (x) S 1 2 3"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readProc(root, 2); err == nil {
		t.Error("no error for a truncated stat")
	}
	// This very process, from the real /proc.
	u, err := readProc("/proc", os.Getpid())
	if err != nil || u.rss == 0 {
		t.Errorf("own /proc: %+v, %v", u, err)
	}
}
