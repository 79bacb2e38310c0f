package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowctl/flowctl/plugins/internal/appendfile"
	"github.com/flowctl/flowctl/plugins/internal/jsonl"
	"github.com/flowctl/flowctl/pluginsdk"
)

func sinkSpec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.String("path", "File to append JSON Lines to, relative to the pipeline file's directory; missing parent directories are created.").Required(),
		pluginsdk.Bool("fsync", "Sync the file to stable storage before acknowledging each batch.").Default(true),
		pluginsdk.Duration("delay", "Sleep this long at the start of every Write: a slow sink.").Default("0s"),
		pluginsdk.StringList("nack_ids", "Ids of events to refuse: a batch holding one is nacked and nothing of it is written.").Default([]string{}),
		pluginsdk.Number("nack_times", "How many times each id in nack_ids is refused before it is accepted; 0 refuses it always. Counted in memory: a restarted plugin counts again.").Default(0),
	)
}

// Sink appends events to a JSON Lines file, refusing the listed ids.
type Sink struct {
	path  string
	fsync bool
	delay time.Duration
	nacks *faults // used by Write only, which never runs concurrently

	f   *appendfile.File // set by Open
	buf []byte           // the batch being written, by Write only
}

var _ pluginsdk.Sink = (*Sink)(nil)

func newSink(init pluginsdk.Init) (pluginsdk.Sink, error) {
	path := init.Config.String("path")
	if path == "" {
		return nil, pluginsdk.NewAttrError(errors.New("must name a file"), "path")
	}
	d, err := delay(init.Config)
	if err != nil {
		return nil, err
	}
	nacks, err := newFaults(init.Config, "nack_ids", "nack_times", "refusing", "refusal")
	if err != nil {
		return nil, err
	}
	return &Sink{path: path, fsync: init.Config.Bool("fsync"), delay: d, nacks: nacks}, nil
}

// Open creates missing parent directories and opens (or creates) the file
// for appending. Fault tests kill sinks mid-write, so the partial last line
// that Open ends is the common case here.
func (s *Sink) Open(context.Context) error {
	f, err := appendfile.Open(s.path, appendfile.Options{Sync: s.fsync})
	if err != nil {
		return fmt.Errorf("chaos sink: %w", err)
	}
	s.f = f
	return nil
}

// Write sleeps for delay, refuses the batch when it holds an id still to
// refuse, and otherwise appends one line per event and returns once they
// are written and, with fsync, synced.
func (s *Sink) Write(ctx context.Context, batch []pluginsdk.Event) error {
	if err := sleep(ctx, s.delay); err != nil {
		return fmt.Errorf("chaos sink: delay interrupted: %w", err)
	}
	if err := s.refusal(batch); err != nil {
		return err
	}
	if s.f == nil {
		return errors.New("chaos sink: write without a successful open")
	}
	buf := s.buf[:0]
	for _, e := range batch {
		var err error
		if buf, err = jsonl.Append(buf, e); err != nil {
			return fmt.Errorf("chaos sink %s: %w", s.path, err)
		}
	}
	s.buf = buf
	if err := s.f.Append(buf); err != nil {
		return fmt.Errorf("chaos sink: %w", err)
	}
	return nil
}

// refusal counts a refusal for every listed id in batch that must still be
// refused, and returns the error naming the first of them (nil: none).
func (s *Sink) refusal(batch []pluginsdk.Event) error {
	if len(s.nacks.counts) == 0 {
		return nil
	}
	var first error
	var seen map[string]bool // ids counted in this batch
	for _, e := range batch {
		if _, listed := s.nacks.counts[e.ID]; !listed || seen[e.ID] {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[e.ID] = true
		if err := s.nacks.check(e.ID); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Teardown closes the file once a Write in progress has returned. It is
// safe after a failed or missing Open.
func (s *Sink) Teardown(context.Context) error {
	if s.f == nil {
		return nil
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("chaos sink: %w", err)
	}
	return nil
}
