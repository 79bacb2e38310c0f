package appendfile

import (
	"errors"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// limitFileSize makes writes past max bytes of any file fail with EFBIG
// (the Go runtime ignores the SIGXFSZ that comes with it): a write that
// crosses max is a real partial write. The returned func lifts the limit.
// Tests using it must not run in parallel: the limit is the process's.
func limitFileSize(t *testing.T, max uint64) (lift func()) {
	t.Helper()
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Skipf("cannot read the file size limit: %v", err)
	}
	lim := old
	lim.Cur = max
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skipf("cannot set a file size limit: %v", err)
	}
	lifted := false
	lift = func() {
		if lifted {
			return
		}
		lifted = true
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
			t.Fatalf("restoring the file size limit: %v", err)
		}
	}
	t.Cleanup(lift)
	return lift
}

// appendPartly appends a batch that the file size limit cuts short, 5 bytes
// past the file's current size, and returns the error.
func appendPartly(t *testing.T, f *File, size int64) error {
	t.Helper()
	lift := limitFileSize(t, uint64(size)+5)
	defer lift()
	err := f.Append([]byte(strings.Repeat("x", 20) + "\n"))
	if err == nil {
		t.Fatal("an append past the file size limit succeeded")
	}
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("append past the file size limit: %v, want EFBIG", err)
	}
	return err
}

// A write that fails partway leaves nothing of its batch: a retry does not
// follow a torn line.
func TestAppendCutsOffAPartialBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	f := open(t, path, Options{Sync: true})
	mustAppend(t, f, "e1\n")
	appendPartly(t, f, 3)
	if got := readString(t, path); got != "e1\n" {
		t.Fatalf("after a failed append the file holds %q, want only the complete batch", got)
	}
	mustAppend(t, f, "e2\n")
	if got, want := readString(t, path), "e1\ne2\n"; got != want {
		t.Errorf("file holds %q, want %q", got, want)
	}
}

// When the partial batch cannot be cut off, the error says so; the next
// Append ends the torn line first, and a later failed write cuts back only
// to what was acked since, never into it.
func TestAppendEndsATornLineThatCouldNotBeCut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	f := open(t, path, Options{Sync: true})
	mustAppend(t, f, "e1\n")
	truncate := f.cut
	f.cut = func(int64) error { return errors.New("injected truncate failure") }
	err := appendPartly(t, f, 3)
	if !strings.Contains(err.Error(), "cutting off the partly written batch failed too: injected truncate failure") {
		t.Errorf("error %q does not say the partial batch is still there", err)
	}
	f.cut = truncate
	mustAppend(t, f, "e2\n")
	want := "e1\nxxxxx\ne2\n"
	if got := readString(t, path); got != want {
		t.Fatalf("file holds %q, want the torn line ended and e2 on a line of its own: %q", got, want)
	}
	appendPartly(t, f, int64(len(want)))
	if got := readString(t, path); got != want {
		t.Errorf("after a second failed append the file holds %q, want %q", got, want)
	}
}
