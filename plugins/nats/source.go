package nats

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowctl/flowctl/pluginsdk"
)

func sourceSpec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(append(connAttrs(),
		pluginsdk.String("stream", "JetStream stream to read.").Required(),
		pluginsdk.String("consumer", "Name of the durable consumer holding this source's place in the stream; created when missing. One per source component.").Required(),
		pluginsdk.String("subject", "Read only messages on this subject (wildcards allowed) when creating the consumer; empty: the whole stream."),
		pluginsdk.String("deliver", `Where a new consumer starts: "all" (the first message) or "new" (messages stored from now on).`).Default("all"),
		pluginsdk.Duration("ack_wait", "How long JetStream waits for an ack before delivering a message again; longer than the pipeline takes to deliver a batch.").Default("30s"),
		pluginsdk.Number("max_ack_pending", "Most messages delivered and not yet acked.").Default(10000),
		pluginsdk.Duration("end_when_idle", `End the input once no message arrived for this long while none awaited its ack; keep it above ack_wait so redeliveries are awaited ("0s": never).`).Default("0s"),
	)...)
}

// Source reads a stream through a durable pull consumer.
type Source struct {
	log           hclog.Logger
	addr          string
	conn          connConfig
	stream        string
	consumer      string
	subject       string
	deliver       jetstream.DeliverPolicy
	ackWait       time.Duration
	maxAckPending int
	idle          time.Duration

	nc   *nats.Conn
	iter jetstream.MessagesContext

	// mu guards pending: Read appends, Ack removes, concurrently.
	mu      sync.Mutex
	pending []jetstream.Msg // delivered, not acked; in delivery order
}

var _ pluginsdk.Source = (*Source)(nil)

func newSource(init pluginsdk.Init) (pluginsdk.Source, error) {
	conn, err := parseConn(init.Config)
	if err != nil {
		return nil, err
	}
	s := &Source{
		log: init.Logger, addr: init.Address, conn: conn,
		stream: init.Config.String("stream"), consumer: init.Config.String("consumer"),
		subject: init.Config.String("subject"), ackWait: init.Config.Duration("ack_wait"),
		maxAckPending: int(init.Config.Int("max_ack_pending")), idle: init.Config.Duration("end_when_idle"),
	}
	if err := validName(s.stream); err != nil {
		return nil, pluginsdk.NewAttrError(err, "stream")
	}
	if err := validName(s.consumer); err != nil {
		return nil, pluginsdk.NewAttrError(err, "consumer")
	}
	if s.subject != "" {
		if err := validSubject(s.subject, true); err != nil {
			return nil, pluginsdk.NewAttrError(err, "subject")
		}
	}
	switch d := init.Config.String("deliver"); d {
	case "all":
		s.deliver = jetstream.DeliverAllPolicy
	case "new":
		s.deliver = jetstream.DeliverNewPolicy
	default:
		return nil, pluginsdk.NewAttrError(fmt.Errorf(`%q: want "all" or "new"`, d), "deliver")
	}
	if s.ackWait < time.Second {
		return nil, pluginsdk.NewAttrError(errors.New("must be at least 1s"), "ack_wait")
	}
	if s.maxAckPending < 1 {
		return nil, pluginsdk.NewAttrError(errors.New("must be at least 1"), "max_ack_pending")
	}
	if s.idle < 0 {
		return nil, pluginsdk.NewAttrError(errors.New("must not be negative"), "end_when_idle")
	}
	return s, nil
}

// Sequence encodes a stream sequence as a nats source position.
func Sequence(seq uint64) pluginsdk.Position {
	return binary.BigEndian.AppendUint64(make(pluginsdk.Position, 0, 8), seq)
}

// ParseSequence decodes a nats source position.
func ParseSequence(p pluginsdk.Position) (uint64, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("position %q is not a nats position (an 8-byte stream sequence)", p.String())
	}
	return binary.BigEndian.Uint64(p), nil
}

// Open connects, finds or creates the consumer and starts pulling.
func (s *Source) Open(ctx context.Context, from pluginsdk.Position) error {
	var after uint64
	if len(from) > 0 {
		var err error
		if after, err = ParseSequence(from); err != nil {
			return fmt.Errorf("nats source: cannot resume: %w", err)
		}
	}
	nc, err := s.conn.connect(s.addr)
	if err != nil {
		return fmt.Errorf("nats source: %w", err)
	}
	s.nc = nc
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("nats source: %w", err)
	}
	stream, err := js.Stream(ctx, s.stream)
	if err != nil {
		return fmt.Errorf("nats source: stream %s: %w", s.stream, err)
	}
	cons, err := s.consumerOf(ctx, stream, after)
	if err != nil {
		return err
	}
	iter, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("nats source: consumer %s: %w", s.consumer, err)
	}
	s.iter = iter
	return nil
}

// consumerOf returns the durable consumer, creating it when missing (after
// the checkpoint's sequence when there is one). An existing consumer must
// ack cumulatively.
func (s *Source) consumerOf(ctx context.Context, stream jetstream.Stream, after uint64) (jetstream.Consumer, error) {
	cons, err := stream.Consumer(ctx, s.consumer)
	if err == nil {
		info := cons.CachedInfo()
		if info.Config.AckPolicy != jetstream.AckAllPolicy {
			return nil, fmt.Errorf("nats source: consumer %s of stream %s exists with ack policy %q, but this source acks cumulatively and needs \"all\": delete it (nats consumer rm) or name another consumer",
				s.consumer, s.stream, info.Config.AckPolicy.String())
		}
		if s.subject != "" && info.Config.FilterSubject != s.subject {
			s.log.Warn("consumer exists with another subject filter; keeping it", "consumer", s.consumer, "filter", info.Config.FilterSubject)
		}
		s.log.Info("resuming from the durable consumer", "consumer", s.consumer, "acked_up_to", info.AckFloor.Stream)
		return cons, nil
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("nats source: consumer %s: %w", s.consumer, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable: s.consumer, AckPolicy: jetstream.AckAllPolicy, AckWait: s.ackWait,
		MaxAckPending: s.maxAckPending, FilterSubject: s.subject, DeliverPolicy: s.deliver,
	}
	if after > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, after+1
	}
	cons, err = stream.CreateConsumer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("nats source: create consumer %s on stream %s: %w", s.consumer, s.stream, err)
	}
	s.log.Info("created durable consumer", "consumer", s.consumer, "stream", s.stream, "start_after", after)
	return cons, nil
}

// Read returns the next message, waiting for one.
func (s *Source) Read(ctx context.Context, _ int) ([]pluginsdk.Record, error) {
	if s.iter == nil {
		return nil, errors.New("nats source: read without a successful open")
	}
	for {
		rctx, cancel := ctx, context.CancelFunc(func() {})
		if s.idle > 0 {
			rctx, cancel = context.WithTimeout(ctx, s.idle)
		}
		msg, err := s.iter.Next(jetstream.NextContext(rctx))
		cancel()
		switch {
		case err == nil:
			rec, err := s.record(msg)
			if err != nil {
				return nil, err
			}
			return []pluginsdk.Record{rec}, nil
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && s.awaitingAcks() == 0:
			s.log.Info("no message for end_when_idle; ending the input", "end_when_idle", s.idle)
			return nil, pluginsdk.ErrEndOfInput
		case errors.Is(err, context.DeadlineExceeded):
			continue // idle, but acks are outstanding: more may be redelivered
		default:
			return nil, fmt.Errorf("nats source: consumer %s: %w", s.consumer, err)
		}
	}
}

func (s *Source) awaitingAcks() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

func (s *Source) record(msg jetstream.Msg) (pluginsdk.Record, error) {
	meta, err := msg.Metadata()
	if err != nil {
		return pluginsdk.Record{}, fmt.Errorf("nats source: message on %s: %w", msg.Subject(), err)
	}
	e, err := event(msg, meta)
	if err != nil {
		return pluginsdk.Record{}, fmt.Errorf("nats source: message %d of stream %s: %w", meta.Sequence.Stream, s.stream, err)
	}
	s.mu.Lock()
	s.pending = append(s.pending, msg)
	s.mu.Unlock()
	return pluginsdk.Record{Event: e, Position: Sequence(meta.Sequence.Stream)}, nil
}

// event turns a message into an event; see the package doc for the mapping.
func event(msg jetstream.Msg, meta *jetstream.MsgMetadata) (pluginsdk.Event, error) {
	h := msg.Headers()
	e := pluginsdk.Event{
		ID:          h.Get(jetstream.MsgIDHeader),
		Type:        h.Get(headerType),
		ContentType: h.Get(headerContent),
		Data:        msg.Data(),
		Time:        meta.Timestamp,
	}
	if e.ID == "" {
		e.ID = meta.Stream + "-" + strconv.FormatUint(meta.Sequence.Stream, 10)
	}
	if e.Type == "" {
		e.Type = msg.Subject()
	}
	if v := h.Get(headerTime); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return e, fmt.Errorf("header %s: %w", headerTime, err)
		}
		e.Time = t
	}
	if v := h.Get(headerKey); v != "" {
		k, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return e, fmt.Errorf("header %s: %w", headerKey, err)
		}
		e.Key = k
	}
	if v := h.Get(headerAttributes); v != "" {
		if err := json.Unmarshal([]byte(v), &e.Attributes); err != nil {
			return e, fmt.Errorf("header %s: %w", headerAttributes, err)
		}
	}
	return e, nil
}

// Ack acknowledges, cumulatively, the last delivered message at or before
// pos. Messages of an earlier process are not known here; a later ack
// covers them.
func (s *Source) Ack(ctx context.Context, pos pluginsdk.Position) error {
	upTo, err := ParseSequence(pos)
	if err != nil {
		return fmt.Errorf("nats source: ack: %w", err)
	}
	s.mu.Lock()
	// After a restart redelivered messages may follow later ones, so the
	// message to ack is the highest sequence covered, not the last seen.
	var last jetstream.Msg
	var lastSeq uint64
	keep := s.pending[:0]
	for _, m := range s.pending {
		meta, _ := m.Metadata() // parsed once already in record
		if meta.Sequence.Stream > upTo {
			keep = append(keep, m)
			continue
		}
		if meta.Sequence.Stream >= lastSeq {
			last, lastSeq = m, meta.Sequence.Stream
		}
	}
	clear(s.pending[len(keep):])
	s.pending = keep
	s.mu.Unlock()
	if last == nil {
		return nil
	}
	// Waiting for the server's confirmation keeps the consumer's ack floor
	// in step with flowctl's checkpoint. A lost ack only means a redelivery.
	// The position is already checkpointed: tell JetStream even when the
	// stream is ending.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := last.DoubleAck(actx); err != nil {
		s.log.Warn("JetStream did not confirm an ack; the messages may be delivered again", "up_to", upTo, "error", err)
	}
	return nil
}

// Teardown stops pulling and closes the connection; messages delivered
// and not acked are delivered again after ack_wait. It is safe after a
// failed or missing Open.
func (s *Source) Teardown(context.Context) error {
	if s.iter != nil {
		s.iter.Stop()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	return nil
}
