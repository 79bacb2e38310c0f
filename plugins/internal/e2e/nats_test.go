package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowctl/flowctl/plugins/internal/testserver"
)

const needsNATS = "a nats-server with JetStream (apt-get install nats-server)"

func jetStream(t *testing.T, srv *testserver.NATS) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(srv.URL(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func streamMsgs(t *testing.T, js jetstream.JetStream, stream string) uint64 {
	t.Helper()
	s, err := js.Stream(t.Context(), stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// streamIDs counts the stream's messages by Nats-Msg-Id.
func streamIDs(t *testing.T, js jetstream.JetStream, stream string) map[string]int {
	t.Helper()
	total := streamMsgs(t, js, stream)
	cons, err := js.OrderedConsumer(t.Context(), stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for n := uint64(0); n < total; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			ids[m.Headers().Get(jetstream.MsgIDHeader)]++
			got++
		}
		if got == 0 {
			t.Fatalf("read %d of the stream's %d messages, then nothing", n, total)
		}
		n += uint64(got)
	}
	return ids
}

// checkIDs checks that ids holds every generator id 1..n, each at most
// maxEach times, and nothing else.
func checkIDs(t *testing.T, what string, ids map[string]int, n, maxEach int) {
	t.Helper()
	var missing []string
	dups := 0
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%08d", i)
		switch c := ids[id]; {
		case c == 0:
			missing = append(missing, id)
		case c > maxEach:
			t.Errorf("%s: event %s %d times, want at most %d", what, id, c, maxEach)
		case c > 1:
			dups += c - 1
		}
		delete(ids, id)
	}
	if len(ids) > 0 {
		t.Errorf("%s: %d unexpected ids", what, len(ids))
	}
	if len(missing) > 0 {
		t.Errorf("%s: %d of %d events missing, first %v", what, len(missing), n, missing[:min(5, len(missing))])
		return
	}
	t.Logf("%s: all %d events, %d duplicates", what, n, dups)
}

// TestAccNatsKillSink: SIGKILL of the nats sink plugin mid-run, restarted
// or applied again: the stream holds exactly one message per event.
func TestAccNatsKillSink(t *testing.T) {
	testserver.Acc(t, needsNATS)
	srv := testserver.StartNATS(t)
	js := jetStream(t, srv)
	const n = 20000
	tests := []struct {
		name     string
		attempts int
		exit     int
	}{
		{"restarted within the run", 3, 0},
		{"run fails and is applied again", 0, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream := fmt.Sprintf("KILL%d", i)
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "p.hcl"), fmt.Sprintf(`
variable "nats_url" {
  type = string
}
pipeline "natskill" {
  restart {
    attempts = %d
    delay    = "100ms"
  }
}
source "generator" "ticks" {
  count = %d
  rate  = 4000
  batch {
    size = 200
  }
}
sink "nats" "out" {
  inputs  = [source.ticks]
  url     = var.nats_url
  subject = "kill.%d"
  stream  = %q
}
`, tt.attempts, n, i, stream))
			args := []string{"apply", "-var", "nats_url=" + srv.URL(), "p.hcl"}
			r := start(t, dir, nil, args...)
			eventually(t, r, time.Minute, "3000 messages stored", func() bool { return streamMsgs(t, js, stream) >= 3000 })
			r.kill("nats")
			if code := r.wait(2 * time.Minute); code != tt.exit {
				t.Fatalf("killed run: exit %d, want %d:\n%s", code, tt.exit, r.output())
			}
			if tt.exit != 0 {
				apply(t, dir, nil, 0, args...)
			} else if !strings.Contains(r.output(), "sink.out: restarted") {
				t.Errorf("no restart reported:\n%s", r.output())
			}
			if got := streamMsgs(t, js, stream); got != n {
				t.Errorf("stream holds %d messages, want exactly %d", got, n)
			}
			checkIDs(t, "stream "+stream, streamIDs(t, js, stream), n, 1)
		})
	}
}

// publish stores generator-like messages from..to in the background, at
// about rate a second.
func publish(t *testing.T, js jetstream.JetStream, subject string, from, to, rate int) <-chan error {
	done := make(chan error, 1)
	go func() {
		tick := time.NewTicker(time.Second / time.Duration(rate/100))
		defer tick.Stop()
		for i := from; i <= to; {
			<-tick.C
			for j := 0; j < 100 && i <= to; j, i = j+1, i+1 {
				msg := nats.NewMsg(subject)
				msg.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%08d", i))
				msg.Header.Set("Content-Type", "application/json")
				msg.Data = fmt.Appendf(nil, `{"seq":%d}`, i)
				if _, err := js.PublishMsg(t.Context(), msg); err != nil {
					done <- err
					return
				}
			}
		}
		done <- nil
	}()
	return done
}

func fileIDs(t *testing.T, path string) map[string]int {
	t.Helper()
	ids := map[string]int{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return ids
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var l struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		ids[l.ID]++
	}
	return ids
}

func lines(path string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), "\n")
}

// TestAccNatsKillSource: SIGKILL of the nats source plugin mid-run while
// messages keep arriving. What it had not had acked is delivered again
// from the stream; every message reaches the file and the consumer ends
// with everything acked.
func TestAccNatsKillSource(t *testing.T) {
	testserver.Acc(t, needsNATS)
	srv := testserver.StartNATS(t)
	js := jetStream(t, srv)
	const n = 6000
	tests := []struct {
		name     string
		attempts int
		exit     int
	}{
		{"restarted within the run", 3, 0},
		{"run fails and is applied again", 0, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, subject := fmt.Sprintf("SRC%d", i), fmt.Sprintf("src.%d", i)
			if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: stream, Subjects: []string{subject}}); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "p.hcl"), fmt.Sprintf(`
variable "nats_url" {
  type = string
}
pipeline "natssrc" {
  restart {
    attempts = %d
    delay    = "100ms"
  }
}
source "nats" "in" {
  url           = var.nats_url
  stream        = %q
  consumer      = "e2e"
  ack_wait      = "2s"
  end_when_idle = "4s"
  batch {
    size = 100
  }
}
sink "file" "out" {
  inputs = [source.in]
  path   = "out.jsonl"
}
`, tt.attempts, stream))
			published := publish(t, js, subject, 1, n, 2000)
			args := []string{"apply", "-var", "nats_url=" + srv.URL(), "p.hcl"}
			r := start(t, dir, nil, args...)
			out := filepath.Join(dir, "out.jsonl")
			eventually(t, r, time.Minute, "1500 events written", func() bool { return lines(out) >= 1500 })
			r.kill("nats")
			if code := r.wait(2 * time.Minute); code != tt.exit {
				t.Fatalf("killed run: exit %d, want %d:\n%s", code, tt.exit, r.output())
			}
			if tt.exit != 0 {
				apply(t, dir, nil, 0, args...)
			}
			if err := <-published; err != nil {
				t.Fatal(err)
			}
			checkIDs(t, "out.jsonl", fileIDs(t, out), n, 2)
			c, err := js.Consumer(t.Context(), stream, "e2e")
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Info(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if info.AckFloor.Stream != n || info.NumAckPending != 0 || info.NumPending != 0 {
				t.Errorf("consumer: acked up to %d, %d awaiting ack, %d not delivered; want %d, 0, 0", info.AckFloor.Stream, info.NumAckPending, info.NumPending, n)
			}
		})
	}
}
