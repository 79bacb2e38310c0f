package file

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowctl/flowctl/plugins/internal/appendfile"
	"github.com/flowctl/flowctl/plugins/internal/jsonl"
	"github.com/flowctl/flowctl/pluginsdk"
)

func sinkSpec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.String("path", "File to write, relative to the pipeline file's directory; missing parent directories are created.").Required(),
		pluginsdk.Bool("append", "Add to an existing file; false truncates it when the sink opens. Keep true for pipelines that resume from checkpoints.").Default(true),
		pluginsdk.Bool("fsync", "Sync the file to stable storage before acknowledging each batch.").Default(true),
	)
}

// Sink writes events to a JSON Lines file.
type Sink struct {
	path   string
	append bool
	fsync  bool

	f   *appendfile.File // set by Open
	buf []byte           // the batch being written; Write is never concurrent
}

var _ pluginsdk.Sink = (*Sink)(nil)

func newSink(init pluginsdk.Init) (pluginsdk.Sink, error) {
	path := init.Config.String("path")
	if path == "" {
		return nil, pluginsdk.NewAttrError(errors.New("must name a file"), "path")
	}
	if err := appendfile.CheckWritable(path); err != nil {
		return nil, pluginsdk.NewAttrError(err, "path")
	}
	return &Sink{path: path, append: init.Config.Bool("append"), fsync: init.Config.Bool("fsync")}, nil
}

// Open creates missing parent directories and opens (or creates) the file,
// ending a partial last line that a crashed run left. A path it may not
// write fails permanently (no restart would change that); the constructor
// checks for it already, so validate reports it at the path attribute.
func (s *Sink) Open(context.Context) error {
	f, err := appendfile.Open(s.path, appendfile.Options{Truncate: !s.append, Sync: s.fsync})
	if err != nil {
		err = fmt.Errorf("file sink: %w", err)
		if appendfile.Permanent(err) {
			return pluginsdk.Permanent(err)
		}
		return err
	}
	s.f = f
	return nil
}

// Write appends one line per event and returns once they are written and,
// with fsync, synced; a failed write is cut off again.
func (s *Sink) Write(_ context.Context, batch []pluginsdk.Event) error {
	if s.f == nil {
		return errors.New("file sink: write without a successful open")
	}
	buf := s.buf[:0]
	for _, e := range batch {
		var err error
		if buf, err = jsonl.Append(buf, e); err != nil {
			return fmt.Errorf("file sink %s: %w", s.path, err)
		}
	}
	s.buf = buf
	if err := s.f.Append(buf); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}

// Teardown closes the file once a Write in progress has returned. It is
// safe after a failed or missing Open.
func (s *Sink) Teardown(context.Context) error {
	if s.f == nil {
		return nil
	}
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}
