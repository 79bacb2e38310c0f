package plane

import (
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowctl/flowctl/host/router"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

const (
	src  = router.KindSource
	proc = router.KindProcessor
	sink = router.KindSink
)

// every checks that sink saw each of the total events at least once and at
// most max times, and returns how many were seen more than once.
func every(t *testing.T, st *store, sinkName string, total, max int) int {
	t.Helper()
	dup := 0
	for i := range total {
		n := st.count(sinkName, strconv.Itoa(i))
		switch {
		case n == 0:
			t.Fatalf("%s: event %d lost", sinkName, i)
		case n > max:
			t.Fatalf("%s: event %d written %d times", sinkName, i, n)
		case n > 1:
			dup++
		}
	}
	return dup
}

func TestLinearDeliversEveryEventOnceAndCheckpointsTheEnd(t *testing.T) {
	st, cp := newStore(), newCheckpoints()
	source := &counter{t: t, total: 10000, size: 100}
	_, err := runPipeline(t, []spec{
		{name: "source.gen", kind: src, handler: func(int) any { return source }},
		{name: "processor.p", kind: proc, inputs: []string{"source.gen"}, handler: func(int) any { return &relay{t: t} }},
		{name: "sink.out", kind: sink, inputs: []string{"processor.p"}, handler: func(int) any { return &collect{t: t, name: "sink.out", st: st} }},
	}, Options{Checkpoint: cp.save, MaxInFlight: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dup := every(t, st, "sink.out", 10000, 1); dup != 0 {
		t.Fatalf("%d duplicates without a failure", dup)
	}
	if cp.last["source.gen"] != 9999 || cp.events["source.gen"] != 10000 {
		t.Fatalf("checkpoint at %d with %d events, want 9999 and 10000", cp.last["source.gen"], cp.events["source.gen"])
	}
	if source.acked != 9999 {
		t.Fatalf("source acked up to %d, want 9999", source.acked)
	}
}

func TestTopologies(t *testing.T) {
	pass := func(int) any { return &relay{t: t} }
	for _, tc := range []struct {
		name  string
		specs func(st *store) []spec
		// copies each sink gets of every event
		want map[string]int
	}{
		{"fanout", func(st *store) []spec {
			return []spec{
				{name: "source.a", kind: src, handler: func(int) any { return &counter{t: t, total: 3000, size: 50} }},
				{name: "sink.x", kind: sink, inputs: []string{"source.a"}, handler: func(int) any { return &collect{t: t, name: "sink.x", st: st} }},
				{name: "sink.y", kind: sink, inputs: []string{"source.a"}, handler: func(int) any { return &collect{t: t, name: "sink.y", st: st} }},
			}
		}, map[string]int{"sink.x": 1, "sink.y": 1}},
		{"diamond", func(st *store) []spec {
			return []spec{
				{name: "source.a", kind: src, handler: func(int) any { return &counter{t: t, total: 3000, size: 50} }},
				{name: "processor.l", kind: proc, inputs: []string{"source.a"}, handler: pass},
				{name: "processor.r", kind: proc, inputs: []string{"source.a"}, handler: pass},
				{name: "sink.x", kind: sink, inputs: []string{"processor.l", "processor.r"}, handler: func(int) any { return &collect{t: t, name: "sink.x", st: st} }},
			}
		}, map[string]int{"sink.x": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, cp := newStore(), newCheckpoints()
			if _, err := runPipeline(t, tc.specs(st), Options{Checkpoint: cp.save}, nil); err != nil {
				t.Fatal(err)
			}
			for sinkName, copies := range tc.want {
				for i := range 3000 {
					if n := st.count(sinkName, strconv.Itoa(i)); n != copies {
						t.Fatalf("%s got event %d %d times, want %d", sinkName, i, n, copies)
					}
				}
			}
			if cp.last["source.a"] != 2999 {
				t.Fatalf("checkpoint at %d, want 2999", cp.last["source.a"])
			}
		})
	}
}

func TestFanIn(t *testing.T) {
	st, cp := newStore(), newCheckpoints()
	_, err := runPipeline(t, []spec{
		{name: "source.a", kind: src, handler: func(int) any { return &counter{t: t, total: 2000, size: 64} }},
		{name: "source.b", kind: src, handler: func(int) any { return &counter{t: t, total: 3000, size: 10} }},
		{name: "sink.x", kind: sink, inputs: []string{"source.a", "source.b"}, handler: func(int) any { return &collect{t: t, name: "sink.x", st: st} }},
	}, Options{Checkpoint: cp.save}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Both sources number from 0: the sink sees ids below 2000 twice.
	for i := range 3000 {
		want := 1
		if i < 2000 {
			want = 2
		}
		if n := st.count("sink.x", strconv.Itoa(i)); n != want {
			t.Fatalf("event %d written %d times, want %d", i, n, want)
		}
	}
	if cp.last["source.a"] != 1999 || cp.last["source.b"] != 2999 {
		t.Fatalf("checkpoints %v", cp.last)
	}
}

// A processor or sink that crashes mid-run is restarted; the sources send
// again what was in flight; every event arrives, duplicates stay within the
// in-flight window and the checkpoint reaches the end.
func TestRestartedConsumerLosesNothing(t *testing.T) {
	const total, size, inFlight = 20000, 50, 8
	for _, victim := range []string{"processor.p", "sink.out"} {
		t.Run(victim, func(t *testing.T) {
			st, cp := newStore(), newCheckpoints()
			pHandler := func(start int) any {
				if victim == "processor.p" && start == 0 {
					return &relay{t: t, crashAt: 60}
				}
				return &relay{t: t}
			}
			sHandler := func(start int) any {
				k := &collect{t: t, name: "sink.out", st: st}
				if victim == "sink.out" && start == 0 {
					k.crashAt = 60
				}
				return k
			}
			co, err := runPipeline(t, []spec{
				{name: "source.gen", kind: src, handler: func(int) any { return &counter{t: t, total: total, size: size} }},
				{name: "processor.p", kind: proc, inputs: []string{"source.gen"}, handler: pHandler, restart: true},
				{name: "sink.out", kind: sink, inputs: []string{"processor.p"}, handler: sHandler, restart: true},
			}, Options{Checkpoint: cp.save, MaxInFlight: inFlight}, nil)
			if err != nil {
				t.Fatal(err)
			}
			dup := every(t, st, "sink.out", total, 2)
			if dup > inFlight*size {
				t.Fatalf("%d duplicates, more than the %d events in flight", dup, inFlight*size)
			}
			if cp.last["source.gen"] != total-1 || cp.events["source.gen"] != total {
				t.Fatalf("checkpoint at %d with %d events", cp.last["source.gen"], cp.events["source.gen"])
			}
			for _, s := range co.Stats() {
				if s.Name == victim && s.Restarts != 1 {
					t.Fatalf("%s restarted %d times, want 1", victim, s.Restarts)
				}
			}
		})
	}
}

// crashingSink is source.gen, counting to total in batches of size, into
// sink.out, which crashes at its crashAt-th batch in each of its first
// crashes starts and is restarted each time.
func crashingSink(t *testing.T, st *store, total, size, crashes, crashAt int) []spec {
	return []spec{
		{name: "source.gen", kind: src, handler: func(int) any { return &counter{t: t, total: total, size: size} }},
		{name: "sink.out", kind: sink, inputs: []string{"source.gen"}, restart: true, handler: func(start int) any {
			k := &collect{t: t, name: "sink.out", st: st}
			if start < crashes {
				k.crashAt = crashAt
			}
			return k
		}},
	}
}

// A sink that crashes again and again: each crash rewinds the source
// while the coordinator holds credits for tickets it has released (they go
// out a quarter window at a time). The rewind must hand those over first,
// or the source sends released batches again and their shares break the
// protocol.
func TestRewindSendsHeldCreditsFirst(t *testing.T) {
	const total, size, crashes = 20000, 20, 12
	st, cp := newStore(), newCheckpoints()
	co, err := runPipeline(t, crashingSink(t, st, total, size, crashes, 40), Options{Checkpoint: cp.save}, nil)
	if err != nil {
		t.Fatal(err)
	}
	every(t, st, "sink.out", total, crashes+1)
	if cp.last["source.gen"] != total-1 {
		t.Fatalf("checkpoint at %d", cp.last["source.gen"])
	}
	for _, s := range co.Stats() {
		if s.Name == "sink.out" && s.Restarts != crashes {
			t.Fatalf("sink restarted %d times, want %d", s.Restarts, crashes)
		}
	}
}

// The hooks the coordinator calls with a source's lock held may read
// Stats (the host's metrics do, for a component's labels), which takes
// every node's send lock; nothing may hold a send lock while it waits for a
// source's. A run whose TicketDone reads Stats at every release, through
// restarts that rewind, finishes.
func TestHooksMayReadStats(t *testing.T) {
	const total, size, crashes = 20000, 10, 4
	st := newStore()
	var co atomic.Pointer[Coordinator]
	done := make(chan error, 1)
	go func() {
		_, err := runPipeline(t, crashingSink(t, st, total, size, crashes, 300), Options{TicketDone: func(string, time.Duration) {
			if c := co.Load(); c != nil {
				c.Stats()
			}
		}}, func(c *Coordinator, _ *cluster) { co.Store(c) })
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the run did not finish in a minute: a lock cycle between a hook reading Stats and the coordinator")
	}
	every(t, st, "sink.out", total, crashes+1)
}

func TestRestartedSourceResumesAfterReleased(t *testing.T) {
	const total, size = 10000, 40
	st, cp := newStore(), newCheckpoints()
	_, err := runPipeline(t, []spec{
		{name: "source.gen", kind: src, restart: true, handler: func(start int) any {
			s := &counter{t: t, total: total, size: size}
			if start == 0 {
				s.failAt = 77
			}
			return s
		}},
		{name: "sink.out", kind: sink, inputs: []string{"source.gen"}, handler: func(int) any { return &collect{t: t, name: "sink.out", st: st} }},
	}, Options{Checkpoint: cp.save, MaxInFlight: 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if dup := every(t, st, "sink.out", total, 2); dup > 8*size {
		t.Fatalf("%d duplicates", dup)
	}
	if cp.last["source.gen"] != total-1 {
		t.Fatalf("checkpoint at %d", cp.last["source.gen"])
	}
}

// A killed plugin (its server gone, as after kill -9) is restarted too.
func TestKilledSinkIsRestarted(t *testing.T) {
	const total, size = 30000, 20
	st, cp := newStore(), newCheckpoints()
	_, err := runPipeline(t, []spec{
		{name: "source.gen", kind: src, handler: func(int) any { return &counter{t: t, total: total, size: size} }},
		{name: "sink.out", kind: sink, inputs: []string{"source.gen"}, restart: true, handler: func(int) any { return &collect{t: t, name: "sink.out", st: st} }},
	}, Options{Checkpoint: cp.save, MaxInFlight: 8}, func(_ *Coordinator, c *cluster) {
		for st.count("sink.out", "5000") == 0 {
			time.Sleep(time.Millisecond)
		}
		c.kill("sink.out")
	})
	if err != nil {
		t.Fatal(err)
	}
	every(t, st, "sink.out", total, 2)
	if cp.last["source.gen"] != total-1 {
		t.Fatalf("checkpoint at %d", cp.last["source.gen"])
	}
}

func TestOnError(t *testing.T) {
	failOdd := func(e *flowctlv1.Event) string {
		if n, _ := strconv.Atoi(e.Id); n%100 == 7 {
			return "odd one " + e.Id
		}
		return ""
	}
	t.Run("fail", func(t *testing.T) {
		st := newStore()
		cp := newCheckpoints()
		_, err := runPipeline(t, []spec{
			{name: "source.gen", kind: src, handler: func(int) any { return &counter{t: t, total: 1000, size: 10} }},
			{name: "processor.p", kind: proc, inputs: []string{"source.gen"}, handler: func(int) any { return &relay{t: t, fail: failOdd} }},
			{name: "sink.out", kind: sink, inputs: []string{"processor.p"}, handler: func(int) any { return &collect{t: t, name: "sink.out", st: st} }},
		}, Options{Checkpoint: cp.save}, nil)
		var ne *router.NodeError
		var be *router.BatchError
		if !errors.As(err, &ne) || ne.Node != "processor.p" || !errors.As(err, &be) || be.Event != 7 || !strings.Contains(be.Reason, "odd one 7") {
			t.Fatalf("error %v, want processor.p's event 7", err)
		}
		if last, ok := cp.last["source.gen"]; ok && last >= 7 {
			t.Fatalf("checkpointed past the failed event: %d", last)
		}
	})
	t.Run("fail, redacted", func(t *testing.T) {
		st := newStore()
		_, err := runPipeline(t, []spec{
			{name: "source.gen", kind: src, handler: func(int) any { return &counter{t: t, total: 1000, size: 10} }},
			{name: "processor.p", kind: proc, inputs: []string{"source.gen"}, handler: func(int) any { return &relay{t: t, fail: failOdd} }},
			{name: "sink.out", kind: sink, inputs: []string{"processor.p"}, handler: func(int) any { return &collect{t: t, name: "sink.out", st: st} }},
		}, Options{Redact: func(s string) string { return strings.ReplaceAll(s, "odd one", "(sensitive value)") }}, nil)
		if err == nil || strings.Contains(err.Error(), "odd one") || !strings.Contains(err.Error(), "(sensitive value) 7") {
			t.Fatalf("error %v, want the reason redacted", err)
		}
	})
	t.Run("retry then succeed", func(t *testing.T) {
		st, cp := newStore(), newCheckpoints()
		tries := 0
		k := &collect{t: t, name: "sink.out", st: st, nack: func(n int, _ []*flowctlv1.Event) string {
			if n == 3 && tries < 2 {
				tries++
				return "busy"
			}
			return ""
		}}
		co, err := runPipeline(t, []spec{
			{name: "source.gen", kind: src, handler: func(int) any { return &counter{t: t, total: 1000, size: 10} }},
			{name: "sink.out", kind: sink, inputs: []string{"source.gen"}, handler: func(int) any { return k },
				onError: router.ErrorPolicy{Mode: router.ErrorRetry, Attempts: 3, Delay: time.Millisecond}},
		}, Options{Checkpoint: cp.save}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if dup := every(t, st, "sink.out", 1000, 1); dup != 0 {
			t.Fatal(dup)
		}
		if s := co.Stats()[1]; s.Retried == 0 {
			t.Fatalf("stats %+v: nothing retried", s)
		}
		if cp.last["source.gen"] != 999 {
			t.Fatal(cp.last)
		}
	})
	t.Run("dead letter", func(t *testing.T) {
		st, cp := newStore(), newCheckpoints()
		co, err := runPipeline(t, []spec{
			{name: "source.gen", kind: src, handler: func(int) any { return &counter{t: t, total: 1000, size: 10} }},
			{name: "processor.p", kind: proc, inputs: []string{"source.gen"}, handler: func(int) any { return &relay{t: t, fail: failOdd} },
				onError: router.ErrorPolicy{Mode: router.ErrorRetry, Attempts: 1, DeadLetter: "sink.dlq"}},
			{name: "sink.out", kind: sink, inputs: []string{"processor.p"}, handler: func(int) any { return &collect{t: t, name: "sink.out", st: st} }},
			{name: "sink.dlq", kind: sink, handler: func(int) any { return &collect{t: t, name: "sink.dlq", st: st} }},
		}, Options{Checkpoint: cp.save}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 1000 {
			out, dlq := st.count("sink.out", strconv.Itoa(i)), st.count("sink.dlq", strconv.Itoa(i))
			if (i%100 == 7) != (dlq == 1) || (i%100 == 7) == (out == 1) {
				t.Fatalf("event %d: out %d, dead letter %d", i, out, dlq)
			}
		}
		for _, e := range st.evs["sink.dlq"] {
			if !strings.HasPrefix(e.Attributes["flowctl.error"], "odd one") || e.Attributes["flowctl.component"] != "processor.p" || e.Attributes["flowctl.attempts"] != "2" {
				t.Fatalf("dead letter attributes %v", e.Attributes)
			}
		}
		if s := co.Stats()[1]; s.DeadLettered != 10 || s.Retried != 10 {
			t.Fatalf("stats %+v", s)
		}
		if cp.last["source.gen"] != 999 {
			t.Fatal(cp.last)
		}
	})
}

// Drain stops the sources; what they sent is delivered and checkpointed,
// and the checkpoint says exactly how far.
func TestDrain(t *testing.T) {
	st, cp := newStore(), newCheckpoints()
	source := &counter{t: t, total: 1 << 30, size: 10}
	co, err := runPipeline(t, []spec{
		{name: "source.gen", kind: src, handler: func(int) any { return source }},
		{name: "sink.out", kind: sink, inputs: []string{"source.gen"}, handler: func(int) any { return &collect{t: t, name: "sink.out", st: st} }},
	}, Options{Checkpoint: cp.save}, func(co *Coordinator, _ *cluster) {
		for st.count("sink.out", "3000") == 0 {
			time.Sleep(time.Millisecond)
		}
		co.Drain()
	})
	if err != nil {
		t.Fatal(err)
	}
	last := cp.last["source.gen"]
	if last < 3000 {
		t.Fatalf("checkpoint at %d", last)
	}
	every(t, st, "sink.out", last+1, 1)
	if s := co.Stats()[0]; s.EventsAcked != uint64(last+1) {
		t.Fatalf("acked %d, checkpoint at %d", s.EventsAcked, last)
	}
}

// A failure the plugin calls permanent (FailedPrecondition) fails the run
// at once: a restart would not cure it.
func TestPermanentFailureIsNotRestarted(t *testing.T) {
	st := newStore()
	co, err := runPipeline(t, []spec{
		{name: "source.gen", kind: src, handler: func(int) any { return &counter{t: t, total: 1000, size: 10} }},
		{name: "processor.p", kind: proc, inputs: []string{"source.gen"}, restart: true, handler: func(int) any { return &relay{t: t, crashAt: 3, permanent: true} }},
		{name: "sink.out", kind: sink, inputs: []string{"processor.p"}, handler: func(int) any { return &collect{t: t, name: "sink.out", st: st} }},
	}, Options{}, nil)
	var ne *router.NodeError
	if !errors.As(err, &ne) || ne.Node != "processor.p" || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("error %v, want processor.p's permanent failure", err)
	}
	if s := co.Stats()[1]; s.Restarts != 0 {
		t.Fatalf("restarted %d times", s.Restarts)
	}
}
