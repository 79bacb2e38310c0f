package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/hashicorp/go-hclog"

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
	log    hclog.Logger

	// mu serializes Write and Teardown: the host may stop the plugin while
	// a Write is running, and a Write must not find its file closed halfway.
	mu      sync.Mutex
	f       *os.File
	regular bool  // a regular file, not a device or pipe: fsync applies
	size    int64 // bytes in the file after the last complete batch
	buf     []byte
	closed  bool
}

var _ pluginsdk.Sink = (*Sink)(nil)

func newSink(init pluginsdk.Init) (pluginsdk.Sink, error) {
	path := init.Config.String("path")
	if path == "" {
		return nil, pluginsdk.NewAttrError(errors.New("must name a file"), "path")
	}
	log := init.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Sink{path: path, append: init.Config.Bool("append"), fsync: init.Config.Bool("fsync"), log: log}, nil
}

// Open creates missing parent directories and opens (or creates) the file.
func (s *Sink) Open(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if !s.append {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(s.path, flags, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("file sink: %w", err)
	}
	size, err := endsMidLine(f, fi)
	if err != nil {
		f.Close()
		return fmt.Errorf("file sink %s: %w", s.path, err)
	}
	s.f, s.size, s.regular = f, size, fi.Mode().IsRegular()
	return nil
}

// endsMidLine returns the size of f, and when f ends without a newline
// (a run that crashed mid-write) terminates that line so new events start
// on a line of their own. The partial line stays: it is not ours to delete.
func endsMidLine(f *os.File, fi os.FileInfo) (int64, error) {
	size := fi.Size()
	if size == 0 || !fi.Mode().IsRegular() {
		return size, nil
	}
	r, err := os.Open(f.Name())
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var last [1]byte
	if _, err := r.ReadAt(last[:], size-1); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	if last[0] == '\n' {
		return size, nil
	}
	if _, err := f.Write([]byte{'\n'}); err != nil {
		return 0, err
	}
	return size + 1, nil
}

// Write appends one line per event and returns once they are written and,
// with fsync, synced.
func (s *Sink) Write(_ context.Context, batch []pluginsdk.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.f == nil {
		return errors.New("file sink: write after teardown")
	}
	buf := s.buf[:0]
	for _, e := range batch {
		var err error
		if buf, err = jsonl.Append(buf, e); err != nil {
			return fmt.Errorf("file sink %s: %w", s.path, err)
		}
	}
	s.buf = buf
	if _, err := s.f.Write(buf); err != nil {
		s.cutPartial()
		return fmt.Errorf("file sink: %w", err)
	}
	s.size += int64(len(buf))
	// Devices and pipes (path = "/dev/stderr", say) cannot be synced, and
	// have nothing to sync.
	if s.fsync && s.regular {
		if err := s.f.Sync(); err != nil {
			// The lines are complete but may not be on disk: the batch is
			// nacked and may come again, a duplicate at-least-once allows.
			return fmt.Errorf("file sink: %w", err)
		}
	}
	return nil
}

// cutPartial removes what a failed write left behind. It is best effort:
// on a device that cannot be truncated nothing is lost by trying.
func (s *Sink) cutPartial() {
	fi, err := s.f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() <= s.size {
		return
	}
	if err := s.f.Truncate(s.size); err != nil {
		s.log.Warn("could not remove a partially written batch", "path", s.path, "error", err)
	}
}

// Teardown closes the file. It is safe after a failed or missing Open.
func (s *Sink) Teardown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("file sink: %w", err)
	}
	return nil
}
