// Package nats is the flowctl "nats" plugin: a source and a sink on NATS
// JetStream.
//
// # Messages
//
// The sink publishes one message per event to subject: the payload is the
// event's data, and the rest of the event travels in headers:
//
//	Nats-Msg-Id          the event id (JetStream drops a message whose id it
//	                     stored within the stream's duplicate window, 2
//	                     minutes by default)
//	Content-Type         the content type
//	Flowctl-Type         the type
//	Flowctl-Time         the time, RFC 3339 with nanoseconds
//	Flowctl-Key          the key, base64
//	Flowctl-Attributes   the attributes as a JSON object
//
// The source reads such messages back into the same events. For messages
// published by anything else, the id is "<stream>-<stream sequence>", the
// type is the subject and the time is when JetStream stored the message.
//
// # Sink
//
// Write publishes the batch asynchronously and returns once JetStream has
// acknowledged (stored) every message; any failure or a missing
// acknowledgement within publish_timeout nacks the batch. Because the event
// id is the message id, a batch published again after a crash is dropped by
// JetStream as a duplicate: the stream holds each event once. With stream
// set, the sink creates that stream (file storage, for subject) when it
// opens, if it does not exist.
//
// # Source
//
// The source reads a stream through a durable pull consumer with explicit
// acks (created when missing; one consumer per source component). The
// position of an event is the reading process's start time, the number of
// the delivery in that process and the message's stream sequence (see
// Position). A message is acknowledged to JetStream only when flowctl acks
// its position, that is once every sink has it. A message the source read
// but flowctl never acked (the plugin or flowctl crashed) is delivered
// again by JetStream after ack_wait (at once when the source was stopped in
// order: it naks what it holds): re-delivery comes from the stream, not
// from memory. Acks for positions of an earlier, crashed process are not
// passed on (this process never read those messages), so JetStream
// redelivers them too; at least once, never lost.
//
// JetStream also delivers a message again to the same process when
// ack_wait runs out while flowctl still holds it (a slow sink). The second
// copy is a new event with a position of its own, after the first; each
// copy is acked to JetStream when flowctl acks its position.
//
// The durable consumer, not flowctl's checkpoint, is the cursor: a
// restarted source carries on where the consumer stands. Only when the
// consumer does not exist yet and flowctl resumes from a checkpoint does
// the new consumer start after the checkpoint's stream sequence. A
// checkpoint written by an earlier version (positions of 16 bytes, without
// the delivery) resumes the same way.
//
// The source runs until flowctl stops it, or, with end_when_idle, ends once
// no message arrived for that long while none was awaiting its ack.
package nats

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/flowctl/flowctl/pluginsdk"
)

// Plugin returns the nats plugin at the given version.
func Plugin(version string) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "nats",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewSource("nats",
				"Reads a JetStream stream through a durable consumer; acks a message to JetStream only once flowctl acked it.",
				sourceSpec(), newSource),
			pluginsdk.NewSink("nats",
				"Publishes events to JetStream, one message per event with the id as Nats-Msg-Id; acks after JetStream's acks.",
				sinkSpec(), newSink),
		},
	}
}

// Headers the sink writes and the source reads.
const (
	headerType       = "Flowctl-Type"
	headerTime       = "Flowctl-Time"
	headerKey        = "Flowctl-Key"
	headerAttributes = "Flowctl-Attributes"
	headerContent    = "Content-Type"
)

// connAttrs are the connection attributes both components take.
func connAttrs() []*pluginsdk.Attr {
	return []*pluginsdk.Attr{
		pluginsdk.String("url", "NATS server URL(s), comma-separated.").Default("nats://127.0.0.1:4222"),
		pluginsdk.String("token", "Authentication token. Sensitive: set it from a sensitive variable.").Sensitive(),
		pluginsdk.String("user", "User name for user/password authentication."),
		pluginsdk.String("password", "Password for user/password authentication. Sensitive: set it from a sensitive variable.").Sensitive(),
		pluginsdk.Duration("connect_timeout", "How long connecting may take.").Default("10s"),
	}
}

// connConfig is the parsed connection attributes.
type connConfig struct {
	url, token, user, password string
	timeout                    time.Duration
}

func parseConn(cfg pluginsdk.Config) (connConfig, error) {
	c := connConfig{
		url: cfg.String("url"), token: cfg.String("token"), user: cfg.String("user"),
		password: cfg.String("password"), timeout: cfg.Duration("connect_timeout"),
	}
	if c.url == "" {
		return c, pluginsdk.NewAttrError(errors.New("must name a NATS server"), "url")
	}
	if c.timeout <= 0 {
		return c, pluginsdk.NewAttrError(errors.New("must be positive"), "connect_timeout")
	}
	if c.token != "" && c.user != "" {
		return c, pluginsdk.NewAttrError(errors.New("set either token or user and password, not both"), "token")
	}
	return c, nil
}

func (c connConfig) connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name("flowctl " + name),
		nats.Timeout(c.timeout),
		nats.MaxReconnects(-1),
	}
	if c.token != "" {
		opts = append(opts, nats.Token(c.token))
	}
	if c.user != "" {
		opts = append(opts, nats.UserInfo(c.user, c.password))
	}
	nc, err := nats.Connect(c.url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", c.url, err)
	}
	return nc, nil
}

// validName is what JetStream accepts as a stream or consumer name.
func validName(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	for _, r := range s {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r == '/' || r == '\\' || r == 0x7f {
			return fmt.Errorf("%q is not a JetStream name: no spaces, '.', '*', '>', '/' or '\\'", s)
		}
	}
	return nil
}

// validSubject checks a subject to publish to or filter by.
func validSubject(s string, wildcards bool) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	for i, tok := range strings.Split(s, ".") {
		switch {
		case tok == "":
			return fmt.Errorf("%q is not a NATS subject: empty token %d", s, i+1)
		case (tok == "*" || tok == ">") && !wildcards:
			return fmt.Errorf("%q has a wildcard; publish to a concrete subject", s)
		}
		for _, r := range tok {
			if r <= ' ' || r == 0x7f {
				return fmt.Errorf("%q is not a NATS subject: no spaces or control characters", s)
			}
		}
	}
	return nil
}
