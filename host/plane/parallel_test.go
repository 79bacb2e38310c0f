package plane

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// instances are the specs of a stage of n instances, named stage[i].
func instances(n int, s spec, part flowctlv1.Partition) []spec {
	out := make([]spec, n)
	for i := range out {
		out[i] = s
		out[i].name = fmt.Sprintf("%s[%d]", s.name, i)
		out[i].stage, out[i].partition = s.name, part
	}
	return out
}

// Three instances of a processor and of a sink, partitioned by key: one
// processor instance is killed and one sink instance crashes mid-run.
// Every event arrives, duplicates stay within the in-flight window, a key
// stays with one sink instance, and each key's events arrive in order.
func TestParallelStagesByKeyLoseNothingAndKeepKeyOrder(t *testing.T) {
	const total, size, inFlight, keys = 30000, 50, 8, 29
	st, cp := newStore(), newCheckpoints()
	key := flowctlv1.Partition_PARTITION_KEY
	specs := []spec{{name: "source.gen", kind: src, handler: func(int) any { return &counter{t: t, total: total, size: size, keys: keys} }}}
	specs = append(specs, instances(3, spec{name: "processor.p", kind: proc, inputs: []string{"source.gen"}, restart: true,
		handler: func(int) any { return &relay{t: t} }}, key)...)
	sinks := instances(3, spec{name: "sink.out", kind: sink, inputs: []string{"processor.p"}, restart: true}, key)
	for i := range sinks {
		name := sinks[i].name
		sinks[i].handler = func(start int) any {
			k := &collect{t: t, name: name, st: st}
			if i == 2 && start == 0 {
				k.crashAt = 20
			}
			return k
		}
	}
	specs = append(specs, sinks...)
	co, err := runPipeline(t, specs, Options{Checkpoint: cp.save, MaxInFlight: inFlight}, func(_ *Coordinator, c *cluster) {
		for seen(st, "5000") == 0 {
			time.Sleep(time.Millisecond)
		}
		c.kill("processor.p[1]")
	})
	if err != nil {
		t.Fatal(err)
	}
	// Two failures (the killed processor, the crashed sink), each of which
	// may deliver again what the source had in flight: an event at most
	// once more per failure, duplicates at most one window per failure.
	const failures = 2
	dup := 0
	for i := range total {
		switch n := seen(st, strconv.Itoa(i)); {
		case n == 0:
			t.Fatalf("event %d lost", i)
		case n > 1+failures:
			t.Fatalf("event %d written %d times", i, n)
		case n > 1:
			dup += n - 1
		}
	}
	if dup > failures*inFlight*size {
		t.Fatalf("%d duplicates, more than the %d events in flight at %d failures", dup, failures*inFlight*size, failures)
	}
	home := map[string]string{}
	for _, s := range sinks {
		if len(st.evs[s.name]) == 0 {
			t.Errorf("%s got nothing", s.name)
		}
		last := map[string]int{}
		for _, e := range st.evs[s.name] {
			k := string(e.GetKey())
			if h, ok := home[k]; ok && h != s.name {
				t.Fatalf("key %s reached %s and %s", k, h, s.name)
			}
			home[k] = s.name
			n, _ := strconv.Atoi(e.GetId())
			if prev, ok := last[k]; ok && n <= prev {
				continue // a replayed event: seen before
			}
			if prev, ok := last[k]; ok && n != prev+keys {
				t.Fatalf("%s: key %s went from event %d to %d", s.name, k, prev, n)
			}
			last[k] = n
		}
	}
	if cp.last["source.gen"] != total-1 || cp.events["source.gen"] != total {
		t.Fatalf("checkpoint at %d with %d events", cp.last["source.gen"], cp.events["source.gen"])
	}
	restarts := map[string]uint64{}
	for _, s := range co.Stats() {
		restarts[s.Name] = s.Restarts
	}
	if restarts["processor.p[1]"] != 1 || restarts["sink.out[2]"] != 1 || restarts["processor.p[0]"] != 0 {
		t.Fatalf("restarts %v", restarts)
	}
}

// Without a key, each batch goes whole to whichever instance is ready:
// every instance works, and every event arrives once.
func TestParallelStageSharesBatches(t *testing.T) {
	const total, size = 20000, 40
	st, cp := newStore(), newCheckpoints()
	specs := []spec{{name: "source.gen", kind: src, handler: func(int) any { return &counter{t: t, total: total, size: size} }}}
	specs = append(specs, instances(3, spec{name: "processor.p", kind: proc, inputs: []string{"source.gen"},
		handler: func(int) any { return &relay{t: t} }}, flowctlv1.Partition_PARTITION_ANY)...)
	specs = append(specs, spec{name: "sink.out", kind: sink, inputs: []string{"processor.p"}, handler: func(int) any { return &collect{t: t, name: "sink.out", st: st} }})
	co, err := runPipeline(t, specs, Options{Checkpoint: cp.save, MaxInFlight: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dup := every(t, st, "sink.out", total, 1); dup != 0 {
		t.Fatalf("%d duplicates without a failure", dup)
	}
	var in uint64
	for _, s := range co.Stats() {
		if s.Kind == proc {
			if s.EventsIn == 0 {
				t.Errorf("%s got nothing", s.Name)
			}
			in += s.EventsIn
		}
	}
	if in != total || cp.events["source.gen"] != total {
		t.Fatalf("processors took %d events, %d checkpointed; want %d", in, cp.events["source.gen"], total)
	}
}

// seen is how often any instance of sink.out wrote id.
func seen(st *store, id string) int {
	n := 0
	for i := range 3 {
		n += st.count(fmt.Sprintf("sink.out[%d]", i), id)
	}
	return n
}
