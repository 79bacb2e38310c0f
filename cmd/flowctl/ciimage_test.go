package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestCatalogCIImage builds the plugin tree a CI image carries: two versions
// of a plugin, each for two platforms, installed side by side and then made
// read-only. Two pipelines select a version each by constraint, lock both
// platforms' hashes, and run; every event says which version stamped it,
// and nothing in the tree changes.
func TestCatalogCIImage(t *testing.T) {
	w := newWorkspace(t)
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if r := w.run(t, "plugins", "install", "--plugin-dir", w.tree, stampAddr, stampBinary(t, v, "", runtime.GOARCH)); r.code != 0 {
			t.Fatalf("install %s: %s%s", v, r.stdout, r.stderr)
		}
		r := w.run(t, "plugins", "install", "--plugin-dir", w.tree, "--platform", otherPlatform(), "--version", v,
			stampAddr, stampBinary(t, v, "", otherArch()))
		if r.code != 0 {
			t.Fatalf("install %s for %s: %s%s", v, otherPlatform(), r.stdout, r.stderr)
		}
	}
	readOnly(t, w.tree)
	before := snapshot(t, w.tree)

	r := w.run(t, "plugins", "list")
	if r.code != 0 {
		t.Fatalf("plugins list: %s", r.stderr)
	}
	for _, v := range []string{"1.0.0", "1.1.0"} {
		for _, p := range []string{thisPlatform(), otherPlatform()} {
			if !containsRow(r.stdout, stampAddr, v, p) {
				t.Errorf("plugins list has no row for %s %s %s:\n%s", stampAddr, v, p, r.stdout)
			}
		}
	}

	for _, tc := range []struct{ dir, constraint, want string }{
		{"old", "~> 1.0.0", "1.0.0"},
		{"new", ">= 1.1", "1.1.0"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join(w.dir, tc.dir)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "pipeline.hcl"), stampPipeline(tc.constraint))
			r := w.run(t, "plugins", "lock", "-platform", thisPlatform(), "-platform", otherPlatform(), tc.dir)
			if r.code != 0 {
				t.Fatalf("lock: %s%s", r.stdout, r.stderr)
			}
			lock, err := os.ReadFile(filepath.Join(dir, ".flowctl.lock.hcl"))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(lock), `version     = "`+tc.want+`"`) || len(h1RE.FindAllString(string(lock), -1)) != 2 {
				t.Errorf("lock file does not pin %s with two hashes:\n%s", tc.want, lock)
			}
			if r := w.run(t, "plan", tc.dir); r.code != 0 || !containsRow(r.stdout, stampAddr, tc.want, "verified") {
				t.Errorf("plan does not show %s %s verified:\n%s%s", stampAddr, tc.want, r.stdout, r.stderr)
			}
			if r := w.run(t, "apply", tc.dir); r.code != 0 {
				t.Fatalf("apply: %s%s", r.stdout, r.stderr)
			}
			lines := readLines(t, filepath.Join(dir, "out.jsonl"))
			if len(lines) != 20 {
				t.Fatalf("%d events written, want 20", len(lines))
			}
			for _, l := range lines {
				if got := l.Attributes["stamped_by"]; got != "stamp "+tc.want {
					t.Fatalf("event %s stamped by %q, want %q", l.ID, got, "stamp "+tc.want)
				}
			}
		})
	}
	if after := snapshot(t, w.tree); after != before {
		t.Errorf("the read-only plugin tree changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// containsRow reports whether one line of out holds every field.
func containsRow(out string, fields ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		ok := true
		for _, f := range fields {
			ok = ok && strings.Contains(l, f)
		}
		if ok {
			return true
		}
	}
	return false
}

// readOnly removes write permission from the tree, as a CI image's
// read-only layer would; the cleanup restores it so the test can delete it.
// (Run as root the kernel ignores the bits, so snapshot also checks that
// nothing was written.)
func readOnly(t *testing.T, root string) {
	t.Helper()
	chmodTree(t, root, 0o555, 0o555)
	t.Cleanup(func() { chmodTree(t, root, 0o755, 0o755) })
}

func chmodTree(t *testing.T, root string, dirMode, fileMode os.FileMode) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.Chmod(path, dirMode)
		}
		return os.Chmod(path, fileMode)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// snapshot lists every entry of the tree with its size and modification time.
func snapshot(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fmt.Fprintf(&b, "%s %v %d %s\n", rel, fi.Mode(), fi.Size(), fi.ModTime().Format(time.RFC3339Nano))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
