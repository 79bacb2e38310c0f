package host

import (
	"runtime"
	"sync"
	"testing"
	"time"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// procsSeen is an Observer that notes the GOMAXPROCS each batch of the
// run finished under.
type procsSeen struct {
	mu   sync.Mutex
	seen map[int]int // GOMAXPROCS: batches
}

func (p *procsSeen) RunStarted(RunView)              {}
func (p *procsSeen) ComponentChanged(ComponentEvent) {}
func (p *procsSeen) RunEnded(*Summary)               {}

func (p *procsSeen) BatchDone(flowhcl.Address, flowhcl.Kind, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[int]int{}
	}
	p.seen[runtime.GOMAXPROCS(0)]++
}

// TestApplyControlProcs: with ControlProcs set, a run on the direct data
// plane routes on that many Ps and gives the others back when it ends; a
// run relayed through the host (here, by --plugin-tls) keeps them all.
func TestApplyControlProcs(t *testing.T) {
	// Two Ps at least, so that one is a change, whatever the machine.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	before := runtime.GOMAXPROCS(0)
	for _, tc := range []struct {
		name      string
		pluginTLS bool
		want      int
	}{
		{name: "direct", want: 1},
		{name: "relayed", pluginTLS: true, want: before},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, ui := testHost(t)
			plan := load(t, h, `
source "generator" "ticks" {
  count = 2000
  rate  = 10000
  batch {
    size = 100
  }
}
sink "discard" "out" {
  inputs = [source.ticks]
}`, nil)
			seen := &procsSeen{}
			_, err := h.Apply(t.Context(), plan, ApplyOptions{ControlProcs: 1, PluginTLS: tc.pluginTLS, Observers: []Observer{seen}})
			if err != nil {
				t.Fatalf("apply: %v\n%s", err, ui.String())
			}
			seen.mu.Lock()
			defer seen.mu.Unlock()
			if len(seen.seen) != 1 || seen.seen[tc.want] == 0 {
				t.Errorf("batches finished under GOMAXPROCS %v (GOMAXPROCS: batches), want all under %d", seen.seen, tc.want)
			}
			if got := runtime.GOMAXPROCS(0); got != before {
				t.Errorf("GOMAXPROCS is %d after the run, want %d back", got, before)
			}
		})
	}
}
