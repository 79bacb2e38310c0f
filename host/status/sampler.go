package status

import (
	"sync"
	"time"

	flowhcl "github.com/flowctl/flowctl/hcl"
	"github.com/flowctl/flowctl/host"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Window is how far back a rate looks: long enough to smooth batching,
// short enough to show a stall within seconds.
const Window = 5 * time.Second

// Sampler turns a run's counters into the wire's ComponentCounters with
// what one reading cannot tell: events per second and CPU use over the
// last Window, and the resident memory of plugin processes the process
// driver runs (read from /proc). The control plane serves what it returns,
// so `flowctl status`, `status --watch` and apply's live block all show
// the same rates. It is safe for concurrent use.
type Sampler struct {
	now      func() time.Time
	procRoot string

	mu      sync.Mutex
	samples map[string][]sample // by component id, oldest first
}

type sample struct {
	at    time.Time
	moved uint64        // the events the rate counts
	pid   int           // the process the CPU time belongs to
	cpu   time.Duration // its CPU time so far; -1: unknown
}

// NewSampler returns a Sampler reading /proc.
func NewSampler() *Sampler {
	return &Sampler{now: time.Now, procRoot: "/proc", samples: map[string][]sample{}}
}

// Counters converts cs (a run's live counters) to the wire and adds the
// rates, CPU and memory.
func (s *Sampler) Counters(cs []host.ComponentSummary) []*flowctlv1.ComponentCounters {
	out := Counters(cs)
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range cs {
		id := c.Name()
		cur := sample{at: now, moved: Moved(c), pid: c.Pid, cpu: -1}
		if c.Pid > 0 && c.Driver == "process" {
			if u, err := readProc(s.procRoot, c.Pid); err == nil {
				cur.cpu = u.cpu
				out[i].MemoryBytes = &u.rss
			}
		}
		hist := s.samples[id]
		if len(hist) > 0 {
			base := hist[0] // the newest sample at least Window old, or the oldest
			if dt := now.Sub(base.at).Seconds(); dt > 0 && cur.moved >= base.moved {
				out[i].EventsPerSecond = float64(cur.moved-base.moved) / dt
			}
		}
		// CPU is counted from the oldest sample of the same process: one
		// taken before the plugin started, or before a restart, has none.
		if cur.cpu >= 0 {
			for _, base := range hist {
				if base.pid == cur.pid && base.cpu >= 0 && cur.cpu >= base.cpu {
					if dt := now.Sub(base.at).Seconds(); dt > 0 {
						pct := 100 * (cur.cpu - base.cpu).Seconds() / dt
						out[i].CpuPercent = &pct
					}
					break
				}
			}
		}
		// Keep one sample older than the window as the next base; record at
		// most every 100ms so that frequent readers keep the history short.
		if len(hist) == 0 || now.Sub(hist[len(hist)-1].at) >= 100*time.Millisecond {
			hist = append(hist, cur)
		}
		for len(hist) > 2 && now.Sub(hist[1].at) > Window {
			hist = hist[1:]
		}
		s.samples[id] = hist
	}
	return out
}

// Moved is the count a component's rate follows: what a source or
// processor emitted, what a sink acked.
func Moved(c host.ComponentSummary) uint64 {
	if c.Address.Kind == flowhcl.KindSink {
		return c.EventsAcked
	}
	return c.EventsOut
}

// Counters converts the host's per-component counters to the wire,
// without rates (a finished run's, for example).
func Counters(cs []host.ComponentSummary) []*flowctlv1.ComponentCounters {
	out := make([]*flowctlv1.ComponentCounters, len(cs))
	for i, c := range cs {
		out[i] = &flowctlv1.ComponentCounters{
			Id: c.Name(), Kind: c.Address.Kind.Proto(), Plugin: c.Plugin, Driver: c.Driver,
			Received: c.EventsIn, Emitted: c.EventsOut, Acked: c.EventsAcked, Failed: c.EventsFailed,
			Retried: c.Retried, DeadLettered: c.DeadLettered, Restarts: c.Restarts,
			LastError: c.LastError, Backlog: c.Backlog, Pid: int64(c.Pid), Remaining: c.Remaining,
		}
	}
	return out
}
