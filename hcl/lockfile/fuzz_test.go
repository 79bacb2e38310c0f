package lockfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// FuzzParse feeds arbitrary lock files (a pipeline's directory is anyone's
// checkout) to Parse. Properties:
//   - Parse never panics, and returns a File even with errors;
//   - every diagnostic's subject lies within the source;
//   - a file that parses without errors writes (Bytes) a canonical file
//     that parses back to the same entries, and writing that again gives
//     the same bytes.
//
// Seeds are in testdata/fuzz/FuzzParse and the package's testdata.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"invalid.hcl", "written.golden"} {
		if src, err := os.ReadFile(filepath.Join("testdata", name)); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		lf, diags := Parse(FileName, src)
		if lf == nil {
			t.Fatal("Parse returned no File")
		}
		checkSubjects(t, diags, len(src))
		if diags.HasErrors() {
			return
		}
		out := lf.Bytes()
		again, diags := Parse(FileName, out)
		if diags.HasErrors() {
			t.Fatalf("the written file does not parse: %s\n%s", diags.Error(), out)
		}
		if len(again.Plugins) != len(lf.Plugins) {
			t.Fatalf("%d entries read back, want %d\n%s", len(again.Plugins), len(lf.Plugins), out)
		}
		for i, p := range lf.Plugins {
			q := again.Plugins[i]
			want := slices.Compact(slices.Sorted(slices.Values(p.Hashes)))
			if q.Address != p.Address || q.Version != p.Version || q.Constraints != p.Constraints || !slices.Equal(q.Hashes, want) {
				t.Fatalf("entry %d read back as %+v, want %+v\n%s", i, q, p, out)
			}
		}
		if out2 := again.Bytes(); string(out2) != string(out) {
			t.Fatalf("writing is not stable:\n%s\nthen\n%s", out, out2)
		}
	})
}

func checkSubjects(t *testing.T, diags hcl.Diagnostics, n int) {
	t.Helper()
	for _, d := range diags {
		if s := d.Subject; s != nil && (s.Start.Byte < 0 || s.Start.Byte > s.End.Byte || s.End.Byte > n) {
			t.Fatalf("diagnostic %q points at bytes %d-%d of %d", d.Summary, s.Start.Byte, s.End.Byte, n)
		}
	}
}
