// Package appendfile appends batches of lines to a file, durably enough
// that a sink may ack a batch once Append returns. The JSON Lines sinks of
// the file and chaos plugins share it.
//
// The contract:
//
//   - Open creates missing parent directories and opens the file for
//     appending, creating it, or emptying it with Options.Truncate. A
//     regular file whose last line lacks its newline (a run killed
//     mid-write) gets that newline before anything is appended, so new lines
//     never continue a partial one; the partial line itself stays, it is
//     not ours to delete.
//   - Append writes a whole batch at the end of the file. When it returns
//     nil, every byte of the batch is written and, with Options.Sync on a
//     regular file, synced to stable storage. Devices and pipes
//     ("/dev/stderr", say) are written but never synced: they cannot be.
//   - When the write fails partway, Append cuts a regular file back to its
//     size after the last complete batch, so a retried batch does not follow
//     a torn line. If even that fails, the error says so, and the next
//     Append first ends the torn line, as Open would.
//   - When only the sync fails, the batch stays in the file and Append still
//     returns the error: a retry may write the batch twice, which
//     at-least-once delivery allows.
//   - Append and Close are serialized: Close waits for an Append in
//     progress, and an Append after Close fails with ErrClosed.
//
// Cutting back and ending lines assume that the File is the only writer of
// its file. The name of a newly created file is not synced to its
// directory.
package appendfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("file is closed")

// Options say how Open opens a file.
type Options struct {
	// Truncate empties an existing file; otherwise Append adds to it.
	Truncate bool
	// Sync syncs a regular file to stable storage before Append returns.
	Sync bool
}

// File is a file open for appending whole batches. Its methods may be
// called from several goroutines.
type File struct {
	path    string
	sync    bool
	regular bool // a regular file, not a device or pipe: sync and cut apply

	mu sync.Mutex
	f  *os.File // nil once closed
	// size is the file's size after the last complete batch; -1 when a
	// failed write left bytes that could not be cut off.
	size int64
	cut  func(size int64) error // f.Truncate; tests make it fail
}

// Open opens path for appending, creating missing parent directories and
// ending a partial last line; see the package documentation.
func Open(path string, opts Options) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if opts.Truncate {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, 0o644)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	a := &File{path: path, sync: opts.Sync, regular: fi.Mode().IsRegular(), f: f, cut: f.Truncate}
	if err := a.endLine(); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: ending a partial last line: %w", path, err)
	}
	return a, nil
}

// endLine sets size to the file's size, first writing a newline when the
// last line of a regular file lacks one.
func (a *File) endLine() error {
	if !a.regular {
		a.size = 0
		return nil
	}
	fi, err := a.f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	if size > 0 {
		ended, err := endsWithNewline(a.path, size)
		if err != nil {
			return err
		}
		if !ended {
			if _, err := a.f.Write([]byte{'\n'}); err != nil {
				return err
			}
			size++
		}
	}
	a.size = size
	return nil
}

// endsWithNewline reports whether the byte at size-1 in the file at path is
// a newline. The File's own descriptor is write-only.
func endsWithNewline(path string, size int64) (bool, error) {
	r, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer r.Close()
	var last [1]byte
	if _, err := r.ReadAt(last[:], size-1); err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return last[0] == '\n', nil
}

// Append writes buf, a batch of whole lines, at the end of the file, and
// with Options.Sync syncs it. On error, the batch may be retried; see the
// package documentation for what the file then holds.
func (a *File) Append(buf []byte) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return fmt.Errorf("append to %s: %w", a.path, ErrClosed)
	}
	if a.size < 0 {
		if err := a.endLine(); err != nil {
			return fmt.Errorf("%s: ending the line a failed write left: %w", a.path, err)
		}
	}
	if _, err := a.f.Write(buf); err != nil {
		return a.rollback(err)
	}
	if a.regular {
		a.size += int64(len(buf))
	}
	if a.sync && a.regular {
		return a.f.Sync()
	}
	return nil
}

// rollback cuts off what the failed write werr left behind and returns the
// error to report.
func (a *File) rollback(werr error) error {
	if !a.regular {
		return werr
	}
	if err := a.cut(a.size); err != nil {
		a.size = -1
		return fmt.Errorf("%w; cutting off the partly written batch failed too: %w", werr, err)
	}
	return werr
}

// Close closes the file, once an Append in progress has returned. Closing
// a closed File does nothing.
func (a *File) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.f == nil {
		return nil
	}
	err := a.f.Close()
	a.f = nil
	return err
}
