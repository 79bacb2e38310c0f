package nats

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

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
	log           pluginsdk.Logger
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
	cons jetstream.Consumer
	iter jetstream.MessagesContext

	epoch uint64 // this process's positions

	// mu guards deliveries and pending: Read appends, Ack removes,
	// concurrently.
	mu         sync.Mutex
	deliveries uint64      // messages handed to flowctl by this process, redeliveries included
	pending    []delivered // handed to flowctl, not acked; in the order read, so by delivery
}

// delivered is a message handed to flowctl.
type delivered struct {
	msg      jetstream.Msg
	delivery uint64 // its number among this process's deliveries, from 1
	seq      uint64 // its stream sequence
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

// Lengths of a nats source position, and of the positions of earlier
// versions (without the delivery), which checkpoints may still hold.
const (
	positionLen       = 24
	legacyPositionLen = 16
)

// Position encodes a nats source position: the epoch of the process that
// read the message (its start time in nanoseconds), the message's delivery
// (its number among the messages that process handed to flowctl, from 1,
// redeliveries included) and its stream sequence; 8 bytes each,
// big-endian, 24 in all.
//
// The epoch tells this process's positions from an earlier one's. The
// delivery makes each position unique and ordered as the process read:
// a stream sequence is neither, since JetStream delivers an unacked
// message again after ack_wait, also to the process still holding the
// first copy. Byte order is therefore the order of the events (a later
// process has a later epoch). The stream sequence is where a consumer
// created on resume starts after.
func Position(epoch, delivery, seq uint64) pluginsdk.Position {
	p := make(pluginsdk.Position, 0, positionLen)
	p = binary.BigEndian.AppendUint64(p, epoch)
	p = binary.BigEndian.AppendUint64(p, delivery)
	return binary.BigEndian.AppendUint64(p, seq)
}

// ParsePosition decodes a nats source position. It also accepts the
// 16-byte positions of earlier versions (epoch and stream sequence) that a
// checkpoint may still hold: their delivery is 0, which no position of
// this version has.
func ParsePosition(p pluginsdk.Position) (epoch, delivery, seq uint64, err error) {
	switch len(p) {
	case positionLen:
		return binary.BigEndian.Uint64(p[:8]), binary.BigEndian.Uint64(p[8:16]), binary.BigEndian.Uint64(p[16:]), nil
	case legacyPositionLen:
		return binary.BigEndian.Uint64(p[:8]), 0, binary.BigEndian.Uint64(p[8:]), nil
	default:
		return 0, 0, 0, fmt.Errorf("position %q is not a nats position (epoch, delivery and stream sequence, 24 bytes; or, from earlier versions, epoch and stream sequence, 16 bytes)", hex.EncodeToString(p))
	}
}

// Open connects, finds or creates the consumer and starts pulling.
func (s *Source) Open(ctx context.Context, from pluginsdk.Position) error {
	var after uint64
	if len(from) > 0 {
		var err error
		if _, _, after, err = ParsePosition(from); err != nil {
			return fmt.Errorf("nats source: cannot resume: %w", err)
		}
	}
	s.epoch = uint64(time.Now().UnixNano())
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
	s.cons = cons
	iter, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("nats source: consumer %s: %w", s.consumer, err)
	}
	s.iter = iter
	return nil
}

// consumerOf returns the durable consumer, creating it when missing (after
// the checkpoint's sequence when there is one). An existing consumer must
// have explicit acks.
func (s *Source) consumerOf(ctx context.Context, stream jetstream.Stream, after uint64) (jetstream.Consumer, error) {
	cons, err := stream.Consumer(ctx, s.consumer)
	if err == nil {
		info := cons.CachedInfo()
		if info.Config.AckPolicy != jetstream.AckExplicitPolicy {
			return nil, fmt.Errorf("nats source: consumer %s of stream %s exists with ack policy %q, but this source acks each message it read and needs \"explicit\": delete it or name another consumer",
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
		Durable: s.consumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: s.ackWait,
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
	s.deliveries++
	d := delivered{msg: msg, delivery: s.deliveries, seq: meta.Sequence.Stream}
	s.pending = append(s.pending, d)
	s.mu.Unlock()
	return pluginsdk.Record{Event: e, Position: Position(s.epoch, d.delivery, d.seq)}, nil
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

// Ack acknowledges to JetStream, one by one, the messages read up to and
// including the one at pos: flowctl's acks are cumulative in the order the
// source read. The cut is found by the position's delivery, which grows in
// that order. Stream sequences do not (JetStream delivers a message again
// after ack_wait) and are not unique (the copy delivered again may reach
// this process while flowctl still holds the first): each copy is acked
// when flowctl acks its own position. A position of an earlier process
// (another epoch, or the format of an earlier version) acks nothing here:
// JetStream delivers that process's unacked messages again.
func (s *Source) Ack(ctx context.Context, pos pluginsdk.Position) error {
	epoch, delivery, seq, err := ParsePosition(pos)
	if err != nil {
		return fmt.Errorf("nats source: ack: %w", err)
	}
	if epoch != s.epoch || delivery == 0 {
		return nil
	}
	s.mu.Lock()
	cut, found := slices.BinarySearchFunc(s.pending, delivery, func(d delivered, n uint64) int { return cmp.Compare(d.delivery, n) })
	if !found {
		s.mu.Unlock()
		s.log.Warn("ack for a position whose message is not awaiting its ack", "delivery", delivery, "sequence", seq)
		return nil
	}
	cut++
	acked := slices.Clone(s.pending[:cut])
	clear(s.pending[:cut])
	s.pending = s.pending[cut:]
	s.mu.Unlock()
	for _, d := range acked[:len(acked)-1] {
		if err := d.msg.Ack(); err != nil {
			s.log.Warn("ack not sent; JetStream will deliver the message again", "sequence", d.seq, "error", err)
		}
	}
	// Waiting for the server's confirmation of the last one keeps the
	// consumer in step with flowctl's checkpoint. The position is already
	// checkpointed: tell JetStream even when the stream is ending. A lost
	// ack only means a redelivery.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := acked[len(acked)-1].msg.DoubleAck(actx); err != nil {
		s.log.Warn("JetStream did not confirm an ack; messages may be delivered again", "sequence", seq, "error", err)
	}
	return nil
}

// teardownWait bounds how long Teardown waits for the server: to stop
// delivering, to drop the pull request and to receive the naks.
const teardownWait = 5 * time.Second

// Teardown stops pulling and hands back to JetStream (nak) every message
// this process received but flowctl did not ack, whether flowctl was given
// it or it was still prefetched, so the next run gets them at once instead
// of after ack_wait. It is safe after a failed or missing Open.
func (s *Source) Teardown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, teardownWait)
	defer cancel()
	prefetched := s.stopPulling(ctx)
	s.mu.Lock()
	held := make([]jetstream.Msg, 0, len(s.pending)+len(prefetched))
	for _, d := range s.pending {
		held = append(held, d.msg)
	}
	held = append(held, prefetched...) // received after the pending ones: nakked in the order received
	s.pending = nil
	s.mu.Unlock()
	if len(held) > 0 {
		s.dropPullRequest(ctx)
		for _, m := range held {
			_ = m.Nak() // fire and forget: the flush below sees them to the server
		}
	}
	if s.nc != nil {
		if err := s.nc.FlushWithContext(ctx); err != nil && len(held) > 0 {
			s.log.Warn("naks not confirmed; JetStream delivers the messages again after ack_wait", "messages", len(held), "error", err)
		}
		s.nc.Close()
	}
	return nil
}

// stopPulling drains the pull iterator and returns the messages it had
// prefetched but Read never took. Draining unsubscribes the iterator's inbox
// and flushes, so once the iterator reports closed the server has dropped
// the inbox and delivers nothing more to this process; every message it
// delivered before is among those returned.
func (s *Source) stopPulling(ctx context.Context) []jetstream.Msg {
	if s.iter == nil {
		return nil
	}
	s.iter.Drain()
	var out []jetstream.Msg
	for {
		m, err := s.iter.Next(jetstream.NextContext(ctx))
		switch {
		case err == nil:
			out = append(out, m)
		case errors.Is(err, jetstream.ErrMsgIteratorClosed):
			return out
		case ctx.Err() != nil:
			s.log.Warn("pull not stopped in time; messages delivered meanwhile come back after ack_wait", "error", err)
			return out
		}
		// Anything else is a status of the iterator (heartbeat, reconnect): keep draining.
	}
}

// dropPullRequest makes JetStream forget this process's pull request before
// the naks reach it. The request outlives the inbox it names: the server
// keeps it in the consumer's waiting list until it expires (30s) or the
// list is next checked for interest. A nakked message the consumer picks
// up for such a request is lost: nats-server (2.9, and 2.10 by its source)
// takes it off the redelivery queue, finds nobody listening, and instead
// of putting it back winds the consumer's stream sequence back by one. It
// then comes back only after ack_wait, and the last message delivered is
// delivered a second time. Asking for the consumer's info makes the server
// check the waiting list for interest and drop the requests nobody listens
// to; the naks sent after the answer find no such request.
func (s *Source) dropPullRequest(ctx context.Context) {
	if s.cons == nil {
		return
	}
	if _, err := s.cons.Info(ctx); err != nil {
		s.log.Warn("consumer info failed; a nakked message may come back only after ack_wait", "consumer", s.consumer, "error", err)
	}
}
