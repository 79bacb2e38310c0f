package lockfile

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestRoundTrip writes a lock file, reads it back and writes it again: the
// entries survive, hashes come out sorted and unique, and the bytes are
// stable (a lock run that changes nothing makes no diff).
func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	f, diags := Load(path)
	if diags.HasErrors() || f.Exists() {
		t.Fatalf("a missing lock file is an empty one: exists=%v %v", f.Exists(), diags)
	}
	f.Set(&Plugin{Address: "example.com/acme/upper", Version: "1.0.0", Constraints: "~> 1.0", Hashes: []string{"h1:b=", "h1:a=", "h1:b="}})
	f.Set(&Plugin{Address: "example.com/acme/stamp", Version: "2.1.0", Hashes: []string{"h1:c="}})
	if err := f.Write(); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, filepath.Join("testdata", "written.golden"), string(first))

	back, diags := Load(path)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	if !back.Exists() || len(back.Plugins) != 2 || back.Plugins[0].Address != "example.com/acme/stamp" {
		t.Fatalf("read back %+v", back.Plugins)
	}
	up := back.Plugin("example.com/acme/upper")
	if up == nil || up.Version != "1.0.0" || up.Constraints != "~> 1.0" || strings.Join(up.Hashes, ",") != "h1:a=,h1:b=" {
		t.Fatalf("upper read back as %+v", up)
	}
	if !up.HasHash("h1:b=") || up.HasHash("h1:c=") {
		t.Error("HasHash does not match the pinned hashes")
	}
	if err := back.Write(); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if string(second) != string(first) {
		t.Errorf("second write differs:\n%s\nfirst:\n%s", second, first)
	}
	if !back.Remove("example.com/acme/stamp") || back.Remove("example.com/acme/stamp") {
		t.Error("Remove reports the wrong result")
	}
}

// TestInvalid checks what a user sees for a damaged lock file.
func TestInvalid(t *testing.T) {
	path := filepath.Join("testdata", "invalid.hcl")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, diags := Parse(path, src)
	if !diags.HasErrors() {
		t.Fatal("no errors")
	}
	checkGolden(t, filepath.Join("testdata", "invalid.golden"), flowhcl.FormatDiagnostics(map[string]*hcl.File{path: f.HCL}, diags))
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("differs from %s:\n%s\nwant:\n%s", path, got, want)
	}
}
