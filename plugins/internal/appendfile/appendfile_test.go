package appendfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// readString returns the content of the file at path.
func readString(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// open opens path with opts and closes it when the test ends.
func open(t *testing.T, path string, opts Options) *File {
	t.Helper()
	f, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// mustAppend appends each batch to f, failing the test on any error.
func mustAppend(t *testing.T, f *File, batches ...string) {
	t.Helper()
	for _, b := range batches {
		if err := f.Append([]byte(b)); err != nil {
			t.Fatal(err)
		}
	}
}

// appendAll opens path with opts, appends each batch and closes the file,
// failing the test on any error.
func appendAll(t *testing.T, path string, opts Options, batches ...string) {
	t.Helper()
	f := open(t, path, opts)
	mustAppend(t, f, batches...)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenThenAppend(t *testing.T) {
	const missing = "\x00" // no file before Open
	tests := []struct {
		name     string
		existing string
		opts     Options
		want     string
	}{
		{"new file", missing, Options{Sync: true}, "e1\ne2\n"},
		{"new file, no sync", missing, Options{}, "e1\ne2\n"},
		{"empty file", "", Options{Sync: true}, "e1\ne2\n"},
		{"adds to complete lines", "old\n", Options{Sync: true}, "old\ne1\ne2\n"},
		{"truncate", "old\n", Options{Truncate: true, Sync: true}, "e1\ne2\n"},
		// A run that crashed mid-line leaves a partial line: it stays, and
		// the next run's lines start on lines of their own.
		{"ends a partial last line", "old\ncut", Options{Sync: true}, "old\ncut\ne1\ne2\n"},
		{"partial first line", "cut", Options{}, "cut\ne1\ne2\n"},
		{"truncate drops a partial line", "old\ncut", Options{Truncate: true}, "e1\ne2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.jsonl")
			if tt.existing != missing {
				if err := os.WriteFile(path, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			appendAll(t, path, tt.opts, "e1\n", "e2\n")
			if got := readString(t, path); got != tt.want {
				t.Errorf("file holds %q, want %q", got, tt.want)
			}
		})
	}
}

// Reopening a file, as a restarted sink does, keeps what earlier runs wrote.
func TestReopenKeepsEarlierBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	appendAll(t, path, Options{Sync: true}, "e1\n")
	appendAll(t, path, Options{Sync: true}, "e2\n", "e3\n")
	if got, want := readString(t, path), "e1\ne2\ne3\n"; got != want {
		t.Errorf("file holds %q, want %q", got, want)
	}
}

func TestOpenCreatesMissingDirectories(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "c", "out.jsonl")
	appendAll(t, path, Options{Sync: true}, "e1\n")
	if got := readString(t, path); got != "e1\n" {
		t.Errorf("file holds %q, want the batch", got)
	}
}

func TestOpenFailureNamesThePathAndTheOSError(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		want []string
	}{
		{"parent is a file", filepath.Join(notDir, "out.jsonl"), []string{notDir, "not a directory"}},
		{"path is a directory", dir, []string{dir, "is a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Open(tt.path, Options{})
			if err == nil {
				f.Close()
				t.Fatal("open succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// Devices cannot be synced; appending to one with Sync must still succeed.
func TestAppendToDevice(t *testing.T) {
	const null = "/dev/null"
	if _, err := os.Stat(null); err != nil {
		t.Skipf("%s is not available on this system: %v", null, err)
	}
	appendAll(t, null, Options{Sync: true}, "e1\n", "e2\n")
}

func TestAppendReturnsTheWriteError(t *testing.T) {
	const full = "/dev/full" // every write fails with ENOSPC
	if _, err := os.Stat(full); err != nil {
		t.Skipf("%s is not available on this system: %v", full, err)
	}
	err := open(t, full, Options{Sync: true}).Append([]byte("e1\n"))
	if err == nil {
		t.Fatal("an append to a full device succeeded")
	}
	if !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), full) {
		t.Errorf("error %q does not carry the OS error and the path", err)
	}
}

func TestAppendAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	f := open(t, path, Options{})
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second close: %v, want nil", err)
	}
	err := f.Append([]byte("e1\n"))
	if !errors.Is(err, ErrClosed) || !strings.Contains(err.Error(), path) {
		t.Errorf("append after close returned %v, want ErrClosed naming %s", err, path)
	}
	if got := readString(t, path); got != "" {
		t.Errorf("file holds %q after an append to the closed file, want nothing", got)
	}
}

// Close may come while Appends run (a plugin stopped mid-write): each Append
// either writes its whole batch or fails with ErrClosed, never halfway.
func TestCloseWaitsForAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	f := open(t, path, Options{})
	batch := strings.Repeat("0123456789abcdef", 4096) + "\n" // 64 KiB
	const appenders = 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	written := 0
	for range appenders {
		wg.Go(func() {
			err := f.Append([]byte(batch))
			if err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("append: %v, want success or ErrClosed", err)
			}
			if err == nil {
				mu.Lock()
				written++
				mu.Unlock()
			}
		})
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got, want := readString(t, path), strings.Repeat(batch, written); got != want {
		t.Errorf("file holds %d bytes, want %d whole batches (%d bytes)", len(got), written, len(want))
	}
}
