package catalog

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/dirhash"
)

func TestHash(t *testing.T) {
	dir := t.TempDir()
	path := writeFileT(t, filepath.Join(dir, "flowctl-plugin-upper_v1.0.0"), script, 0o755)
	h1, sum, err := Hash(path)
	if err != nil {
		t.Fatal(err)
	}
	want, err := dirhash.Hash1([]string{"flowctl-plugin-upper_v1.0.0"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader(script)), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if h1 != want || !strings.HasPrefix(h1, "h1:") {
		t.Errorf("h1 = %s, want %s", h1, want)
	}
	if plain := sha256.Sum256([]byte(script)); string(sum) != string(plain[:]) {
		t.Errorf("sum = %x, want %x", sum, plain)
	}

	again, _, err := Hash(path)
	if err != nil || again != h1 {
		t.Errorf("second hash %s (%v), want %s", again, err, h1)
	}
	// The name is part of the hash: the same bytes as another version do
	// not match a locked hash.
	other := writeFileT(t, filepath.Join(dir, "flowctl-plugin-upper_v1.0.1"), script, 0o755)
	if h, _, _ := Hash(other); h == h1 {
		t.Error("renamed binary has the same h1")
	}
	if err := os.WriteFile(path, []byte(script+"#\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if h, _, _ := Hash(path); h == h1 {
		t.Error("changed binary has the same h1")
	}
	if _, _, err := Hash(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: err = %v", err)
	}
}
