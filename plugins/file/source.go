package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/flowctl/flowctl/plugins/internal/jsonl"
	"github.com/flowctl/flowctl/pluginsdk"
)

func sourceSpec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.String("path", "File to read, relative to the pipeline file's directory.").Required(),
	)
}

// Source reads a JSON Lines file.
type Source struct {
	path string

	// mu serializes Read and Teardown: the host may stop the plugin while a
	// Read is running.
	mu     sync.Mutex
	f      *os.File
	r      *bufio.Reader
	offset int64 // byte offset of the next line
	line   int64 // number of the next line, 0 until known (after a resume)
	closed bool
}

var _ pluginsdk.Source = (*Source)(nil)

func newSource(init pluginsdk.Init) (pluginsdk.Source, error) {
	path := init.Config.String("path")
	if path == "" {
		return nil, pluginsdk.NewAttrError(errors.New("must name a file"), "path")
	}
	return &Source{path: path}, nil
}

// Open opens the file and seeks to the line after from (empty: the start).
func (s *Source) Open(_ context.Context, from pluginsdk.Position) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var off int64
	if len(from) > 0 {
		var err error
		if off, err = ParseOffset(from); err != nil {
			return fmt.Errorf("file source %s: cannot resume: %w", s.path, err)
		}
	}
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	if err := checkResumeOffset(f, s.path, off); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("file source: %w", err)
	}
	s.f, s.r, s.offset = f, bufio.NewReaderSize(f, 64<<10), off
	if off == 0 {
		s.line = 1
	}
	return nil
}

// checkResumeOffset makes sure off is the start of a line of f: a file that
// was truncated or replaced since the checkpoint must not be read from the
// middle of a line.
func checkResumeOffset(f *os.File, path string, off int64) error {
	if off == 0 {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	if off > fi.Size() {
		return fmt.Errorf("file source %s: resume offset %d is beyond the end of the file (%d bytes): was it truncated or replaced? Remove the checkpoint to read it from the start", path, off, fi.Size())
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], off-1); err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	if last[0] != '\n' && off != fi.Size() {
		return fmt.Errorf("file source %s: resume offset %d is not at the start of a line: was the file replaced? Remove the checkpoint to read it from the start", path, off)
	}
	return nil
}

// Read returns the next lines, up to limit, without waiting for more than
// the file holds.
func (s *Source) Read(ctx context.Context, limit int) ([]pluginsdk.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.closed || s.r == nil {
		return nil, errors.New("file source: read after teardown")
	}
	var recs []pluginsdk.Record
	for len(recs) < max(limit, 1) {
		b, err := s.r.ReadBytes('\n')
		if len(b) == 0 && errors.Is(err, io.EOF) {
			if len(recs) == 0 {
				return nil, pluginsdk.ErrEndOfInput
			}
			return recs, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("file source: %w", err)
		}
		start := s.offset
		s.offset += int64(len(b))
		line := s.line
		if s.line > 0 {
			s.line++
		}
		if len(bytes.TrimSpace(b)) == 0 {
			continue
		}
		e, err := jsonl.Decode(b)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", s.path, s.lineNumber(line, start), err)
		}
		recs = append(recs, pluginsdk.Record{Event: e, Position: Offset(s.offset)})
	}
	return recs, nil
}

// lineNumber returns the number of the line starting at offset. After a
// resume the count of earlier lines is not known; it is worked out only
// when an error needs it.
func (s *Source) lineNumber(known, offset int64) int64 {
	if known > 0 {
		return known
	}
	n, err := countLines(s.path, offset)
	if err != nil {
		return 0
	}
	return n + 1
}

func countLines(path string, upTo int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var n int64
	buf := make([]byte, 64<<10)
	r := io.LimitReader(f, upTo)
	for {
		k, err := r.Read(buf)
		n += int64(bytes.Count(buf[:k], []byte{'\n'}))
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// Ack does nothing: reading a file needs no confirmation.
func (s *Source) Ack(context.Context, pluginsdk.Position) error { return nil }

// Teardown closes the file. It is safe after a failed or missing Open.
func (s *Source) Teardown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f, s.r = nil, nil
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	return nil
}
