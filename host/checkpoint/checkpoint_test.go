package checkpoint

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPutGetSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get("source.a"); err != nil || ok {
		t.Fatalf("empty store: ok=%v err=%v", ok, err)
	}
	for i := byte(1); i <= 3; i++ {
		if err := s.Put("source.a", Checkpoint{Position: []byte{i}, Type: "generator", Events: uint64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put("source.b", Checkpoint{Position: []byte("x"), Type: "file"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cp, ok, err := s.Get("source.a")
	if err != nil || !ok || !bytes.Equal(cp.Position, []byte{3}) || cp.Type != "generator" || cp.Events != 3 {
		t.Fatalf("after reopen: %+v ok=%v err=%v", cp, ok, err)
	}
	all, err := s.All()
	if err != nil || len(all) != 2 {
		t.Fatalf("All: %v %v", all, err)
	}
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	if all, _ := s.All(); len(all) != 0 {
		t.Fatalf("after Reset: %v", all)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// bbolt's lock is per open file description, so a second Open in the
	// same process contends exactly like another process would.
	_, err = Open(dir, 50*time.Millisecond)
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open: %v, want ErrInUse", err)
	}
}

// TestFingerprintChanges: a fingerprint names the attributes that changed,
// is stable across reopening the store, and holds no value in the clear.
func TestFingerprintChanges(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	before, err := s.Fingerprint("file", []byte(`{"path":"out.jsonl","fsync":true,"secret":"hunter2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	same, err := s.Fingerprint("file", []byte(`{"fsync": true, "secret":"hunter2", "path":"out.jsonl"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ch := before.Changes(same); len(ch) != 0 {
		t.Errorf("the same configuration after reopening differs in %v", ch)
	}
	now, err := s.Fingerprint("file", []byte(`{"path":"/tmp/x.jsonl","append":false,"secret":"hunter2"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(before.Changes(now), ","); got != "append,fsync,path" {
		t.Errorf("changes = %q, want append,fsync,path", got)
	}
	other, _ := s.Fingerprint("stdout", nil)
	if got := strings.Join(before.Changes(other), ","); got != "type" {
		t.Errorf("changes of another type = %q, want type", got)
	}
	for _, h := range before.Attributes {
		if strings.Contains(h, "hunter2") || strings.Contains(h, "out.jsonl") {
			t.Errorf("fingerprint holds a value: %v", before)
		}
	}
}

// The state file is private to its user: 0600 in a directory made 0700, also
// when an older flowctl left it readable by others.
func TestStateIsPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "p")
	s, err := Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Chmod(filepath.Join(dir, FileName), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Dir(dir): 0o700, filepath.Join(dir, FileName): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
}
