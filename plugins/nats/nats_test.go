package nats

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowctl/flowctl/plugins/internal/testserver"
	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

const (
	version = "0.0.0-test"
	needs   = "a nats-server with JetStream (apt-get install nats-server)"
)

func events(from, to int) []pluginsdk.Event {
	var out []pluginsdk.Event
	for i := from; i <= to; i++ {
		out = append(out, pluginsdk.Event{
			ID: fmt.Sprintf("e%04d", i), Type: "order.created", Time: time.Date(2025, 3, 4, 5, 6, 7, i, time.UTC),
			Key: []byte{0, byte(i)}, Attributes: []pluginsdk.Attribute{{Key: "n", Value: fmt.Sprint(i)}, {Key: "multi\nline", Value: "a\r\nb"}},
			ContentType: "application/json", Data: fmt.Appendf(nil, `{"seq":%d}`, i),
		})
	}
	return out
}

func TestConformance(t *testing.T) {
	sdktest.Conformance(t, Plugin(version))
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		kind   sdktest.Kind
		config map[string]any
		path   string
		want   string
	}{
		{sdktest.KindSink, map[string]any{"subject": "a..b"}, "subject", "empty token 2"},
		{sdktest.KindSink, map[string]any{"subject": "a.*"}, "subject", "has a wildcard"},
		{sdktest.KindSink, map[string]any{"subject": "a", "stream": "my.stream"}, "stream", "is not a JetStream name"},
		{sdktest.KindSink, map[string]any{"subject": "a", "token": "t", "user": "u"}, "token", "either token or user"},
		{sdktest.KindSource, map[string]any{"stream": "S", "consumer": "c", "deliver": "last"}, "deliver", `"last": want "all" or "new"`},
		{sdktest.KindSource, map[string]any{"stream": "S", "consumer": "c d"}, "consumer", "is not a JetStream name"},
		{sdktest.KindSource, map[string]any{"stream": "S", "consumer": "c", "ack_wait": "10ms"}, "ack_wait", "at least 1s"},
		{sdktest.KindSource, map[string]any{"stream": "S", "consumer": "c", "subject": "a. b"}, "subject", "no spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.want, func(t *testing.T) {
			h := sdktest.New(t, Plugin(version))
			diags, err := h.Configure(t.Context(), tt.kind, "nats", tt.config)
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) != 1 || strings.Join(diags[0].GetAttributePath(), ".") != tt.path || !strings.Contains(diags[0].GetDetail(), tt.want) {
				t.Fatalf("diagnostics %v, want one at %s containing %q", diags, tt.path, tt.want)
			}
		})
	}
}

func write(t *testing.T, config map[string]any, batches ...[]pluginsdk.Event) []*flowctlv1.SinkAck {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSink, "nats", config)
	acks, err := h.Write(t.Context(), batches...)
	if err != nil {
		t.Fatal(err)
	}
	return acks
}

func mustWrite(t *testing.T, config map[string]any, batches ...[]pluginsdk.Event) {
	t.Helper()
	for i, a := range write(t, config, batches...) {
		if !a.GetOk() {
			t.Fatalf("batch %d nacked: %s", i+1, a.GetError())
		}
	}
}

func read(t *testing.T, config map[string]any, opts sdktest.ReadOptions) *sdktest.SourceResult {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSource, "nats", config)
	res, err := h.ReadSource(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func jetStream(t *testing.T, srv *testserver.NATS) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(srv.URL())
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

func TestAccConformance(t *testing.T) {
	testserver.Acc(t, needs)
	srv := testserver.StartNATS(t)
	sink := map[string]any{"url": srv.URL(), "subject": "orders", "stream": "ORDERS"}
	mustWrite(t, sink, events(1, 5)) // the source case reads these
	sdktest.Conformance(t, Plugin(version),
		sdktest.Case{Name: "sink", Kind: sdktest.KindSink, Component: "nats", Config: sink, Input: events(6, 10)},
		sdktest.Case{Name: "source", Kind: sdktest.KindSource, Component: "nats",
			Config: map[string]any{"url": srv.URL(), "stream": "ORDERS", "consumer": "conformance", "end_when_idle": "500ms"}},
	)
}

// What the sink publishes the source reads back field for field, with the
// stream sequence as position.
func TestAccRoundTrip(t *testing.T) {
	testserver.Acc(t, needs)
	srv := testserver.StartNATS(t)
	want := events(1, 50)
	mustWrite(t, map[string]any{"url": srv.URL(), "subject": "orders.eu", "stream": "ORDERS"}, want[:20], want[20:])
	res := read(t, map[string]any{"url": srv.URL(), "stream": "ORDERS", "consumer": "rt", "end_when_idle": "500ms"}, sdktest.ReadOptions{MaxBatch: 10})
	if !res.Ended || len(res.Events) != len(want) {
		t.Fatalf("read %d events (ended %v), want %d", len(res.Events), res.Ended, len(want))
	}
	for i, got := range res.Events {
		w := want[i]
		if got.ID != w.ID || got.Type != w.Type || !got.Time.Equal(w.Time) || !bytes.Equal(got.Key, w.Key) ||
			!maps.Equal(sdktest.Attributes(got), sdktest.Attributes(w)) || got.ContentType != w.ContentType || !bytes.Equal(got.Data, w.Data) {
			t.Fatalf("event %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
	if n := len(res.Positions); n != 5 {
		t.Fatalf("%d batches, want 5 of 10", n)
	}
	if _, _, seq, _ := ParsePosition(res.Positions[4]); seq != 50 {
		t.Errorf("last position is stream sequence %d, want 50", seq)
	}
}

// A message from anything else than the sink: id from stream and
// sequence, type from the subject, time from JetStream.
func TestAccForeignMessages(t *testing.T) {
	testserver.Acc(t, needs)
	srv := testserver.StartNATS(t)
	js := jetStream(t, srv)
	if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw.>"}}); err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	if _, err := js.Publish(t.Context(), "raw.temp", []byte("21.5")); err != nil {
		t.Fatal(err)
	}
	res := read(t, map[string]any{"url": srv.URL(), "stream": "RAW", "consumer": "c", "end_when_idle": "300ms"}, sdktest.ReadOptions{})
	if len(res.Events) != 1 {
		t.Fatalf("read %d events, want 1", len(res.Events))
	}
	e := res.Events[0]
	if e.ID != "RAW-1" || e.Type != "raw.temp" || string(e.Data) != "21.5" || e.Time.Before(before.Add(-time.Second)) {
		t.Errorf("event %+v", e)
	}
}

// The source acks to JetStream only what flowctl acked; what it did not
// is delivered again from the stream.
func TestAccSourceAcksOnlyWhatFlowctlAcked(t *testing.T) {
	testserver.Acc(t, needs)
	srv := testserver.StartNATS(t)
	mustWrite(t, map[string]any{"url": srv.URL(), "subject": "orders", "stream": "ORDERS"}, events(1, 30))
	js := jetStream(t, srv)
	cfg := map[string]any{"url": srv.URL(), "stream": "ORDERS", "consumer": "acks", "ack_wait": "5s"}
	first := read(t, cfg, sdktest.ReadOptions{Limit: 30, NoAck: true})
	if len(first.Events) != 30 {
		t.Fatalf("first read: %d events", len(first.Events))
	}
	// Nothing is acked. Naks leave the delivered sequence alone: JetStream
	// winds it back only when it loses a nakked message (see
	// TestAccSourceTeardownHandsBackWhatItHeld).
	info := consumerInfo(t, js, "ORDERS", "acks")
	if info.AckFloor.Stream != 0 || info.Delivered.Stream != 30 {
		t.Fatalf("without flowctl's acks: delivered up to %d, ack floor %d; want 30 and 0", info.Delivered.Stream, info.AckFloor.Stream)
	}
	// A new process gets them again (the first nakked them as it stopped),
	// and acks them.
	cfg["end_when_idle"] = "500ms" // ends after the last ack, so all acks are in
	start := time.Now()
	again := read(t, cfg, sdktest.ReadOptions{MaxBatch: 7})
	if took := time.Since(start); took > 3*time.Second { // ack_wait is 5s
		t.Errorf("the redelivery took %s: the first process did not nak what it held", took)
	}
	if len(again.Events) != 30 || again.Events[0].ID != "e0001" || again.Events[29].ID != "e0030" {
		t.Fatalf("redelivered %d events", len(again.Events))
	}
	info = consumerInfo(t, js, "ORDERS", "acks")
	if info.AckFloor.Stream != 30 || info.NumAckPending != 0 {
		t.Fatalf("after flowctl's acks: ack floor %d, %d pending; want 30 and 0", info.AckFloor.Stream, info.NumAckPending)
	}
}

// A source torn down while no other reader waits hands back everything it
// received, the messages flowctl got and those still prefetched: the next
// reader gets them all at once, in stream order, each once. Teardown is
// called directly so that it ends before another reader's pull request or
// a consumer info request reaches the server: either makes the server drop
// a pull request the source left behind, which would hide the loss.
func TestAccSourceTeardownHandsBackWhatItHeld(t *testing.T) {
	testserver.Acc(t, needs)
	srv := testserver.StartNATS(t)
	mustWrite(t, map[string]any{"url": srv.URL(), "subject": "orders", "stream": "ORDERS"}, events(1, 30))
	raw := fmt.Appendf(nil, `{"url": %q, "stream": "ORDERS", "consumer": "held", "ack_wait": "5s"}`, srv.URL())
	init := sdktest.Init(t, sourceSpec(), string(raw))
	init.Address = "source.test"
	src, err := newSource(init)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Open(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 10; {
		recs, err := src.Read(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		n += len(recs)
	}
	// The other 20 are prefetched once JetStream has delivered them all.
	js := jetStream(t, srv)
	for deadline := time.Now().Add(5 * time.Second); consumerInfo(t, js, "ORDERS", "held").Delivered.Stream < 30; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("JetStream did not deliver all 30 messages to the source")
		}
	}
	if err := src.Teardown(t.Context()); err != nil {
		t.Fatal(err)
	}
	info := consumerInfo(t, js, "ORDERS", "held")
	if info.Delivered.Stream != 30 || info.AckFloor.Stream != 0 {
		t.Errorf("after teardown: delivered up to %d, ack floor %d; want 30 and 0 (a delivered sequence wound back means JetStream lost a nakked message)",
			info.Delivered.Stream, info.AckFloor.Stream)
	}
	// A bounded read: should a message get stuck awaiting its ack (a copy
	// delivered twice to the reader and acked once), end_when_idle would
	// never end the input.
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSource, "nats", map[string]any{"url": srv.URL(), "stream": "ORDERS", "consumer": "held", "end_when_idle": "500ms"})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	again, err := h.ReadSource(ctx, sdktest.ReadOptions{})
	if took := time.Since(start); took > 3*time.Second { // ack_wait is 5s
		t.Errorf("the redelivery took %s: teardown did not nak all it held", took)
	}
	if err != nil {
		t.Fatalf("second read: %v", err)
	}
	var ids []string
	for _, e := range again.Events {
		ids = append(ids, e.ID)
	}
	var want []string
	for _, e := range events(1, 30) {
		want = append(want, e.ID)
	}
	if !slices.Equal(ids, want) {
		t.Fatalf("redelivered %v\nwant %v", ids, want)
	}
}

func consumerInfo(t *testing.T, js jetstream.JetStream, stream, consumer string) *jetstream.ConsumerInfo {
	t.Helper()
	c, err := js.Consumer(t.Context(), stream, consumer)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// A consumer created while flowctl resumes from a checkpoint starts after
// the checkpoint's sequence, also from a checkpoint an earlier version
// wrote.
func TestAccNewConsumerStartsAfterCheckpoint(t *testing.T) {
	testserver.Acc(t, needs)
	srv := testserver.StartNATS(t)
	mustWrite(t, map[string]any{"url": srv.URL(), "subject": "orders", "stream": "ORDERS"}, events(1, 10))
	tests := []struct {
		name     string
		consumer string
		from     pluginsdk.Position
	}{
		{"position", "late", Position(1, 9, 6)},
		{"position of an earlier version", "older", legacyPosition(1, 6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := read(t, map[string]any{"url": srv.URL(), "stream": "ORDERS", "consumer": tt.consumer, "end_when_idle": "300ms"}, sdktest.ReadOptions{From: tt.from})
			if len(res.Events) != 4 || res.Events[0].ID != "e0007" {
				t.Fatalf("read %d events from %v, want e0007..e0010", len(res.Events), res.Events)
			}
		})
	}
}

func TestAccSinkDeduplicatesByEventID(t *testing.T) {
	testserver.Acc(t, needs)
	srv := testserver.StartNATS(t)
	cfg := map[string]any{"url": srv.URL(), "subject": "orders", "stream": "ORDERS"}
	mustWrite(t, cfg, events(1, 100), events(51, 150), events(1, 150))
	js := jetStream(t, srv)
	s, err := js.Stream(t.Context(), "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 150 {
		t.Errorf("stream holds %d messages, want 150", info.State.Msgs)
	}
}

func TestAccSinkErrors(t *testing.T) {
	testserver.Acc(t, needs)
	srv := testserver.StartNATS(t)
	t.Run("no stream for the subject", func(t *testing.T) {
		acks := write(t, map[string]any{"url": srv.URL(), "subject": "nowhere", "publish_timeout": "1s"}, events(1, 3))
		if acks[0].GetOk() || !strings.Contains(acks[0].GetError(), `publish event "e0001" to nowhere`) || !strings.Contains(acks[0].GetError(), "no response from stream") {
			t.Fatalf("ack %v", acks[0])
		}
	})
	t.Run("line break in id", func(t *testing.T) {
		acks := write(t, map[string]any{"url": srv.URL(), "subject": "orders", "stream": "ORDERS"}, []pluginsdk.Event{{ID: "a\nb"}})
		if acks[0].GetOk() || !strings.Contains(acks[0].GetError(), "the id contains a line break") {
			t.Fatalf("ack %v", acks[0])
		}
	})
	t.Run("server down", func(t *testing.T) {
		h := sdktest.New(t, Plugin(version))
		h.MustConfigure(t, sdktest.KindSink, "nats", map[string]any{"url": "nats://127.0.0.1:1", "subject": "x"})
		_, err := h.Write(t.Context(), events(1, 1))
		if err == nil || !strings.Contains(err.Error(), "connect to nats://127.0.0.1:1") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("missing stream for the source", func(t *testing.T) {
		h := sdktest.New(t, Plugin(version))
		h.MustConfigure(t, sdktest.KindSource, "nats", map[string]any{"url": srv.URL(), "stream": "NOPE", "consumer": "c"})
		_, err := h.ReadSource(t.Context(), sdktest.ReadOptions{})
		if err == nil || !strings.Contains(err.Error(), "stream NOPE: nats: API error: code=404") {
			t.Fatalf("error %v", err)
		}
	})
}
