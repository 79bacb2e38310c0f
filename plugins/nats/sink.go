package nats

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flowctl/flowctl/pluginsdk"
)

func sinkSpec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(append(connAttrs(),
		pluginsdk.String("subject", "Subject to publish every event to.").Required(),
		pluginsdk.String("stream", "JetStream stream to create for subject when it does not exist (file storage); empty: the stream must exist."),
		pluginsdk.Duration("publish_timeout", "How long to wait for JetStream to acknowledge a batch before nacking it.").Default("10s"),
	)...)
}

// maxAsyncPending bounds the messages published and not yet acknowledged;
// a batch larger than this waits for acknowledgements as it goes.
const maxAsyncPending = 16384

// Sink publishes batches to JetStream.
type Sink struct {
	log     pluginsdk.Logger
	addr    string
	conn    connConfig
	subject string
	stream  string
	timeout time.Duration

	nc *nats.Conn
	js jetstream.JetStream
}

var _ pluginsdk.Sink = (*Sink)(nil)

func newSink(init pluginsdk.Init) (pluginsdk.Sink, error) {
	conn, err := parseConn(init.Config)
	if err != nil {
		return nil, err
	}
	s := &Sink{
		log: init.Logger, addr: init.Address, conn: conn, subject: init.Config.String("subject"),
		stream: init.Config.String("stream"), timeout: init.Config.Duration("publish_timeout"),
	}
	if err := validSubject(s.subject, false); err != nil {
		return nil, pluginsdk.NewAttrError(err, "subject")
	}
	if s.stream != "" {
		if err := validName(s.stream); err != nil {
			return nil, pluginsdk.NewAttrError(err, "stream")
		}
	}
	if s.timeout <= 0 {
		return nil, pluginsdk.NewAttrError(errors.New("must be positive"), "publish_timeout")
	}
	return s, nil
}

// Open connects and, with stream set, creates the stream when missing.
func (s *Sink) Open(ctx context.Context) error {
	nc, err := s.conn.connect(s.addr)
	if err != nil {
		return fmt.Errorf("nats sink: %w", err)
	}
	s.nc = nc
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxAsyncPending),
		jetstream.WithPublishAsyncTimeout(s.timeout))
	if err != nil {
		return fmt.Errorf("nats sink: %w", err)
	}
	s.js = js
	if s.stream == "" {
		return nil
	}
	_, err = js.Stream(ctx, s.stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name: s.stream, Subjects: []string{s.subject}, Storage: jetstream.FileStorage,
		})
		if err == nil {
			s.log.Info("created JetStream stream", "stream", s.stream, "subject", s.subject)
		}
	}
	if err != nil {
		return fmt.Errorf("nats sink: stream %s: %w", s.stream, err)
	}
	return nil
}

// Write publishes every event and returns once JetStream stored them all.
func (s *Sink) Write(ctx context.Context, batch []pluginsdk.Event) error {
	if s.js == nil {
		return errors.New("nats sink: write without a successful open")
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, len(batch))
	for i := range batch {
		msg, err := s.message(&batch[i])
		if err != nil {
			return err
		}
		f, err := s.js.PublishMsgAsync(msg)
		if err != nil {
			return fmt.Errorf("nats sink: publish event %q to %s: %w", batch[i].ID, s.subject, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("nats sink: publish event %q to %s: %w", batch[i].ID, s.subject, err)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("nats sink: JetStream did not acknowledge event %q on %s within %s (is a stream bound to the subject, and the server up?)", batch[i].ID, s.subject, s.timeout)
			}
			return ctx.Err()
		}
	}
	return nil
}

// message builds the NATS message for e: data as payload, the rest in
// headers. Header values cannot hold line breaks.
func (s *Sink) message(e *pluginsdk.Event) (*nats.Msg, error) {
	for _, f := range [...]struct{ what, v string }{{"id", e.ID}, {"type", e.Type}, {"content type", e.ContentType}} {
		if strings.ContainsAny(f.v, "\r\n") {
			return nil, fmt.Errorf("nats sink: event %q: the %s contains a line break, which a NATS header cannot carry", e.ID, f.what)
		}
	}
	msg := nats.NewMsg(s.subject)
	msg.Data = e.Data
	if e.ID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, e.ID)
	}
	if e.Type != "" {
		msg.Header.Set(headerType, e.Type)
	}
	if !e.Time.IsZero() {
		msg.Header.Set(headerTime, e.Time.UTC().Format(time.RFC3339Nano))
	}
	if len(e.Key) > 0 {
		msg.Header.Set(headerKey, base64.StdEncoding.EncodeToString(e.Key))
	}
	if e.ContentType != "" {
		msg.Header.Set(headerContent, e.ContentType)
	}
	if len(e.Attributes) > 0 {
		b, err := json.Marshal(e.Attributes) // escapes line breaks
		if err != nil {
			return nil, fmt.Errorf("nats sink: event %q: attributes: %w", e.ID, err)
		}
		msg.Header.Set(headerAttributes, string(b))
	}
	return msg, nil
}

// Teardown closes the connection. It is safe after a failed or missing Open.
func (s *Sink) Teardown(context.Context) error {
	if s.nc != nil {
		s.nc.Close()
	}
	return nil
}
