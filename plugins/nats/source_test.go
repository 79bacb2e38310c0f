package nats

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
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

// legacyPosition is a position as versions before the delivery wrote it:
// epoch and stream sequence.
func legacyPosition(epoch, seq uint64) pluginsdk.Position {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, epoch), seq)
}

func TestPositionRoundTrip(t *testing.T) {
	tests := []struct {
		name                 string
		pos                  pluginsdk.Position
		epoch, delivery, seq uint64
	}{
		{"position", Position(1741064767000000000, 12, 345), 1741064767000000000, 12, 345},
		{"largest", Position(math.MaxUint64, math.MaxUint64, math.MaxUint64), math.MaxUint64, math.MaxUint64, math.MaxUint64},
		{"earlier version's, delivery 0", legacyPosition(1741064767000000000, 345), 1741064767000000000, 0, 345},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			epoch, delivery, seq, err := ParsePosition(tt.pos)
			if err != nil {
				t.Fatal(err)
			}
			if epoch != tt.epoch || delivery != tt.delivery || seq != tt.seq {
				t.Errorf("ParsePosition(%v) = %d, %d, %d; want %d, %d, %d", tt.pos, epoch, delivery, seq, tt.epoch, tt.delivery, tt.seq)
			}
		})
	}
}

func TestParsePositionErrors(t *testing.T) {
	for _, p := range []pluginsdk.Position{nil, make(pluginsdk.Position, 8), make(pluginsdk.Position, 17), make(pluginsdk.Position, 25)} {
		_, _, _, err := ParsePosition(p)
		if err == nil || !strings.Contains(err.Error(), "is not a nats position (epoch, delivery and stream sequence, 24 bytes") {
			t.Errorf("ParsePosition of %d bytes: error %v", len(p), err)
		}
	}
}

// Positions order as a source's events do: by delivery within a process,
// whatever the stream sequences (a message delivered again has a lower
// one), and a later process after an earlier one, whichever format the
// earlier one wrote.
func TestPositionsOrderAsRead(t *testing.T) {
	const e1, e2 = 1741064767000000000, 1741064799000000000
	inOrder := []pluginsdk.Position{
		legacyPosition(e1-1, 900),
		Position(e1, 1, 5), Position(e1, 2, 6), Position(e1, 3, 5), Position(e1, 4, 7),
		Position(e1, 255, 1), Position(e1, 256, 1),
		legacyPosition(e2-1, 0),
		Position(e2, 1, 2),
	}
	for i := 1; i < len(inOrder); i++ {
		if bytes.Compare(inOrder[i-1], inOrder[i]) >= 0 {
			t.Errorf("position %v does not sort before %v", inOrder[i-1], inOrder[i])
		}
	}
}

// deliveredMsg is one delivery of a stream message, counting its acks.
type deliveredMsg struct {
	jetstream.Msg // what the source does not call
	seq           uint64
	acks          int
}

func (m *deliveredMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}, Stream: "S"}, nil
}
func (m *deliveredMsg) Headers() nats.Header                { return nil }
func (m *deliveredMsg) Data() []byte                        { return nil }
func (m *deliveredMsg) Subject() string                     { return "orders" }
func (m *deliveredMsg) Ack() error                          { m.acks++; return nil }
func (m *deliveredMsg) DoubleAck(ctx context.Context) error { m.acks++; return nil }

// Ack acks each delivery once, cut by delivery: the copies of a message
// JetStream delivered twice to this process are acked each in its turn.
// Positions of another process or of an earlier version ack nothing.
func TestAckCutsByDelivery(t *testing.T) {
	const epoch = 7
	s := &Source{log: sdktest.NewLogger(io.Discard), stream: "S", epoch: epoch}
	var msgs []*deliveredMsg
	var pos []pluginsdk.Position
	for _, seq := range []uint64{1, 2, 3, 1, 2} { // 1 and 2 again after ack_wait
		m := &deliveredMsg{seq: seq}
		rec, err := s.record(m)
		if err != nil {
			t.Fatal(err)
		}
		msgs, pos = append(msgs, m), append(pos, rec.Position)
	}
	acks := func() []int {
		var out []int
		for _, m := range msgs {
			out = append(out, m.acks)
		}
		return out
	}
	steps := []struct {
		name    string
		ack     pluginsdk.Position
		acks    []int
		waiting int
	}{
		{"another process's", Position(epoch-1, 5, 2), []int{0, 0, 0, 0, 0}, 5},
		{"an earlier version's", legacyPosition(epoch, 1), []int{0, 0, 0, 0, 0}, 5},
		{"second copy of 1", pos[3], []int{1, 1, 1, 1, 0}, 1},
		{"second copy of 2", pos[4], []int{1, 1, 1, 1, 1}, 0},
		{"again", pos[4], []int{1, 1, 1, 1, 1}, 0},
	}
	for _, st := range steps {
		if err := s.Ack(t.Context(), st.ack); err != nil {
			t.Fatalf("ack %s: %v", st.name, err)
		}
		if got := acks(); fmt.Sprint(got) != fmt.Sprint(st.acks) || s.awaitingAcks() != st.waiting {
			t.Fatalf("after the ack of %s: acks per delivery %v, %d awaiting; want %v, %d", st.name, got, s.awaitingAcks(), st.acks, st.waiting)
		}
	}
	for i := 1; i < len(pos); i++ {
		if bytes.Compare(pos[i-1], pos[i]) >= 0 {
			t.Errorf("position %d %v does not sort before position %d %v", i-1, pos[i-1], i, pos[i])
		}
	}
}

// JetStream delivers a message again to the process still holding it once
// ack_wait runs out (a slow sink). The test holds the acks back, as a slow
// sink would, until every message came twice, then acks: every copy is
// acked to JetStream, nothing is lost, and end_when_idle ends the input.
func TestAccSourceAcksEveryCopyOfARedelivery(t *testing.T) {
	testserver.Acc(t, needs)
	srv := testserver.StartNATS(t)
	const n = 20
	mustWrite(t, map[string]any{"url": srv.URL(), "subject": "orders", "stream": "ORDERS"}, events(1, n))
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSource, "nats", map[string]any{
		"url": srv.URL(), "stream": "ORDERS", "consumer": "slow", "ack_wait": "1s", "end_when_idle": "2s",
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	stream, err := h.Source.Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send := func(req *flowctlv1.SourceRequest) {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatalf("send to the source: %v", err)
		}
	}
	send(&flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Open{Open: &flowctlv1.SourceOpen{Credits: 4, MaxBatchEvents: 5}}})

	copies := map[string]int{}
	twice := func() bool {
		for i := 1; i <= n; i++ {
			if copies[fmt.Sprintf("e%04d", i)] < 2 {
				return false
			}
		}
		return true
	}
	var positions []pluginsdk.Position
	received, held := 0, true
	for {
		msg, err := stream.Recv()
		if err != nil {
			t.Fatalf("source did not end after %d events (%d batches, holding acks %v): %v", received, len(positions), held, err)
		}
		if msg.GetEnd() != nil {
			break
		}
		b := msg.GetBatch()
		if b == nil {
			continue
		}
		evs, err := sdktest.DecodeEvents(b.GetBatch().GetEvents(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			copies[e.ID]++
		}
		received += len(evs)
		positions = append(positions, b.GetPosition())
		// As the host does: the credit back at once, the position once the
		// sinks have the batch; it covers every batch before.
		ack := &flowctlv1.SourceAck{Credits: 1}
		if held && twice() {
			held = false
		}
		if !held {
			ack.Position = b.GetPosition()
		}
		send(&flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Ack{Ack: ack}})
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("source stream close: %v", err)
	}

	for i := 1; i <= n; i++ {
		if id := fmt.Sprintf("e%04d", i); copies[id] < 2 {
			t.Errorf("event %s read %d times, want the first copy and at least one more", id, copies[id])
		}
	}
	if len(copies) != n {
		t.Errorf("read %d distinct events, want %d", len(copies), n)
	}
	for i := 1; i < len(positions); i++ {
		if bytes.Compare(positions[i-1], positions[i]) >= 0 {
			t.Errorf("batch %d's position %v does not sort after batch %d's %v", i+1, positions[i], i, positions[i-1])
		}
	}
	if _, delivery, _, _ := ParsePosition(positions[len(positions)-1]); delivery != uint64(received) {
		t.Errorf("last position is delivery %d, want %d (one per event read)", delivery, received)
	}
	info := consumerInfo(t, jetStream(t, srv), "ORDERS", "slow")
	if info.AckFloor.Stream != n || info.NumAckPending != 0 || info.NumPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("consumer: acked up to %d, %d awaiting ack, %d redelivered, %d not delivered; want %d, 0, 0, 0",
			info.AckFloor.Stream, info.NumAckPending, info.NumRedelivered, info.NumPending, n)
	}
	t.Logf("%d events read for %d messages, in %d batches", received, n, len(positions))
}
