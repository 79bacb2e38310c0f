package registry

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/flowctl/flowctl/host/health"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func openBolt(t *testing.T, dir string) *Bolt {
	t.Helper()
	b, err := OpenBolt(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkFile opens the bbolt file afresh and checks its consistency.
func checkFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o644, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatalf("reopen %s: %v", path, err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Errorf("%s is inconsistent: %v", path, err)
	}
}

func stateOf(t *testing.T, r *Registry, runID, id string) health.State {
	t.Helper()
	s, err := r.Service(runID, id)
	if err != nil {
		t.Fatal(err)
	}
	return health.FromProto(s.GetState())
}

// TestLifecycle walks one component through every state with the janitor's
// Sweep and a fake clock.
func TestLifecycle(t *testing.T) {
	for _, store := range []struct {
		name string
		open func(t *testing.T) Store
	}{
		{"memory", func(*testing.T) Store { return NewMemory() }},
		{"bolt", func(t *testing.T) Store {
			b := openBolt(t, t.TempDir())
			t.Cleanup(func() { checkFile(t, b.Path()) })
			return b
		}},
	} {
		t.Run(store.name, func(t *testing.T) {
			s := store.open(t)
			defer s.Close()
			clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			r, err := Open(s, Options{Policy: health.Policy{TTL: 3 * time.Second}, Now: clk.now})
			if err != nil {
				t.Fatal(err)
			}
			first, w := r.Watch()
			defer w.Close()
			if len(first) != 0 {
				t.Fatalf("a new run has %d services", len(first))
			}
			if _, err := r.Register(&flowctlv1.RegisterRequest{Id: "ext"}, false); err != nil {
				t.Fatal(err)
			}
			steps := []struct {
				do   func()
				want health.State
			}{
				{func() {}, health.Starting},
				{func() { r.Heartbeat("ext", r.RunID(), health.StatusOK, "", nil) }, health.Healthy},
				{func() { clk.add(2 * time.Second); r.Sweep(clk.now()) }, health.Degraded}, // late: past TTL/2
				{func() { r.Heartbeat("ext", "", health.StatusOK, "", nil) }, health.Healthy},
				{func() { clk.add(3100 * time.Millisecond); r.Sweep(clk.now()) }, health.Unhealthy},
				{func() { r.Heartbeat("ext", "", health.StatusOK, "", nil) }, health.Healthy}, // back
				{func() { r.Deregister("ext", "", "bye") }, health.Stopped},
			}
			var want []health.State
			for i, st := range steps {
				st.do()
				if got := stateOf(t, r, "", "ext"); got != st.want {
					t.Fatalf("step %d: %s, want %s", i, got, st.want)
				}
				if i > 0 {
					want = append(want, st.want)
				}
			}
			if _, err := r.Heartbeat("ext", "", health.StatusOK, "", nil); err == nil {
				t.Error("a heartbeat after Deregister was accepted")
			}
			// Each change was streamed once.
			var got []health.State
			for len(got) < len(want) {
				ev := <-w.Events()
				if ev.GetType() == flowctlv1.ServiceEvent_TYPE_STATE {
					got = append(got, health.FromProto(ev.GetService().GetState()))
				}
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("streamed states %v, want %v", got, want)
				}
			}
		})
	}
}

// TestStaleRunNeverHealthy: a run whose flowctl died (its store never
// saw End) is LOST when the next one opens the same file, its live
// registrations UNHEALTHY, and a heartbeat naming it is refused.
func TestStaleRunNeverHealthy(t *testing.T) {
	dir := t.TempDir()
	b := openBolt(t, dir)
	old, err := Open(b, Options{Pipeline: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"source.a", "sink.b"} {
		if _, err := old.Register(&flowctlv1.RegisterRequest{Id: id}, true); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Heartbeat(id, "", health.StatusOK, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	oldRun := old.RunID()
	b.Close() // the process dies: no End

	b = openBolt(t, dir)
	defer func() { b.Close(); checkFile(t, filepath.Join(dir, FileName)) }()
	time.Sleep(time.Second) // run ids carry the second
	cur, err := Open(b, Options{Pipeline: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if cur.RunID() == oldRun {
		t.Fatal("the new run has the old id")
	}
	run, err := cur.GetRun(oldRun)
	if err != nil || run.GetState() != flowctlv1.RunState_RUN_STATE_LOST {
		t.Fatalf("old run = %v, %v; want LOST", run.GetState(), err)
	}
	all, err := cur.Services(true)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("%d services in all runs, want the old 2", len(all))
	}
	for _, s := range all {
		if health.FromProto(s.GetState()) != health.Unhealthy || s.GetRunId() != oldRun {
			t.Errorf("%s of run %s is %s (%s), want UNHEALTHY", s.GetId(), s.GetRunId(), s.GetState(), s.GetMessage())
		}
	}
	now, err := cur.Services(false)
	if err != nil || len(now) != 0 {
		t.Fatalf("current run lists %v, %v; want nothing", now, err)
	}
	if _, err := cur.Heartbeat("source.a", oldRun, health.StatusOK, "", nil); err == nil {
		t.Error("a heartbeat for the lost run was accepted")
	}
	// Ending the current run cleanly is remembered as such.
	if err := cur.End(flowctlv1.RunState_RUN_STATE_COMPLETED, nil, nil); err != nil {
		t.Fatal(err)
	}
	runs, err := cur.Runs()
	if err != nil || len(runs) != 2 || runs[0].GetId() != cur.RunID() || runs[0].GetState() != flowctlv1.RunState_RUN_STATE_COMPLETED {
		t.Fatalf("runs = %v, %v", runs, err)
	}
}

func TestBoltInUse(t *testing.T) {
	dir := t.TempDir()
	b := openBolt(t, dir)
	defer b.Close()
	if _, err := OpenBolt(dir, 50*time.Millisecond); err == nil {
		t.Fatal("a second open of the same file succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
}

// TestLaggingWatcherIsCut: a watcher that does not read is ended, not
// waited for.
func TestLaggingWatcherIsCut(t *testing.T) {
	r, err := Open(NewMemory(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, w := r.Watch()
	defer w.Close()
	for i := range watchBuffer + 1 {
		if _, err := r.Register(&flowctlv1.RegisterRequest{Id: string(rune('a' + i%26))}, false); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range w.Events() {
		n++
	}
	if n != watchBuffer || w.Err() != ErrWatcherLagged {
		t.Fatalf("read %d events, err %v; want %d and ErrWatcherLagged", n, w.Err(), watchBuffer)
	}
}

// controlplane.db is private to its user: 0600, in a directory made 0700.
func TestBoltIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	b := openBolt(t, dir)
	defer b.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
}
