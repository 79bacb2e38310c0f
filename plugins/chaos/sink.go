package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

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
	log   hclog.Logger

	// mu serializes Write and Teardown, as in the file sink: a Write must
	// not find its file closed halfway.
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
	d, err := delay(init.Config)
	if err != nil {
		return nil, err
	}
	nacks, err := newFaults(init.Config, "nack_ids", "nack_times", "refusing", "refusal")
	if err != nil {
		return nil, err
	}
	log := init.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &Sink{path: path, fsync: init.Config.Bool("fsync"), delay: d, nacks: nacks, log: log}, nil
}

// Open creates missing parent directories and opens (or creates) the file
// for appending.
func (s *Sink) Open(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(s.path), 0o755); err != nil {
		return fmt.Errorf("chaos sink: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("chaos sink: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("chaos sink: %w", err)
	}
	size, err := endLine(f, fi)
	if err != nil {
		f.Close()
		return fmt.Errorf("chaos sink %s: %w", s.path, err)
	}
	s.f, s.size, s.regular = f, size, fi.Mode().IsRegular()
	return nil
}

// endLine returns the size of f, first terminating a last line that a run
// killed mid-write left without its newline, so that new events start on a
// line of their own. Fault tests kill sinks; this case is the common one.
func endLine(f *os.File, fi os.FileInfo) (int64, error) {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.f == nil {
		return errors.New("chaos sink: write after teardown")
	}
	buf := s.buf[:0]
	for _, e := range batch {
		var err error
		if buf, err = jsonl.Append(buf, e); err != nil {
			return fmt.Errorf("chaos sink %s: %w", s.path, err)
		}
	}
	s.buf = buf
	if _, err := s.f.Write(buf); err != nil {
		s.cutPartial()
		return fmt.Errorf("chaos sink: %w", err)
	}
	s.size += int64(len(buf))
	if s.fsync && s.regular {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("chaos sink: %w", err)
		}
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

// cutPartial removes what a failed write left behind, best effort.
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
		return fmt.Errorf("chaos sink: %w", err)
	}
	return nil
}
