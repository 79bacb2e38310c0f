package format

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestSourceGolden formats each testdata/NAME.in.hcl and compares it with
// NAME.golden.hcl; formatting the golden must give the golden (idempotence).
func TestSourceGolden(t *testing.T) {
	ins, err := filepath.Glob(filepath.Join("testdata", "*.in.hcl"))
	if err != nil || len(ins) == 0 {
		t.Fatalf("no cases: %v", err)
	}
	for _, in := range ins {
		name := strings.TrimSuffix(filepath.Base(in), ".in.hcl")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			got, diags := Source(in, src)
			if diags.HasErrors() {
				t.Fatal(diags)
			}
			golden := filepath.Join("testdata", name+".golden.hcl")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if string(got) != string(want) {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			again, _ := Source(golden, want)
			if string(again) != string(want) {
				t.Errorf("not idempotent: formatting the golden gives:\n%s", again)
			}
		})
	}
}

func TestSourceRefusesSyntaxErrors(t *testing.T) {
	out, diags := Source("bad.hcl", []byte("source \"g\" {\n  count = \n"))
	if out != nil || !diags.HasErrors() {
		t.Fatalf("got %q, %v; want nil and a syntax error", out, diags)
	}
	if d := diags[0]; d.Subject == nil || d.Subject.Filename != "bad.hcl" || d.Severity != hcl.DiagError {
		t.Errorf("diagnostic without a place: %+v", d)
	}
}

func TestHeredocUntouched(t *testing.T) {
	src, _ := os.ReadFile(filepath.Join("testdata", "heredoc.in.hcl"))
	out, _ := Source("h.hcl", src)
	if !strings.Contains(string(out), "attributes.env == \"dev\"   \n\n\n   indented\n") {
		t.Errorf("heredoc content changed:\n%s", out)
	}
}

func TestDiff(t *testing.T) {
	var long []string
	for i := range 20 {
		long = append(long, "line "+string(rune('a'+i)))
	}
	a := strings.Join(long, "\n") + "\n"
	b := strings.Replace(a, "line j\n", "line J\n", 1)
	tests := []struct{ name, a, b, want string }{
		{"equal", "x\n", "x\n", ""},
		{"middle", a, b, "--- old\n+++ new\n@@ -7,7 +7,7 @@\n line g\n line h\n line i\n-line j\n+line J\n line k\n line l\n line m\n"},
		{"append", "a\n", "a\nb\n", "--- old\n+++ new\n@@ -1,1 +1,2 @@\n a\n+b\n"},
		{"no final newline", "a\nb", "a\nb\n", "--- old\n+++ new\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"},
		{"from empty", "", "a\n", "--- old\n+++ new\n@@ -0,0 +1,1 @@\n+a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Diff("old", "new", []byte(tt.a), []byte(tt.b)); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"b.hcl", "a.hcl", "x.txt", ".flowctl.lock.hcl", "dev.vars.hcl", "sub/c.hcl", ".git/d.hcl"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rel := func(ps []string) string {
		for i, p := range ps {
			ps[i], _ = filepath.Rel(dir, p)
		}
		return strings.Join(ps, " ")
	}
	flat, _ := Files(dir, false)
	if got := rel(flat); got != "a.hcl b.hcl dev.vars.hcl" {
		t.Errorf("Files: %s", got)
	}
	deep, _ := Files(dir, true)
	if got := rel(deep); got != "a.hcl b.hcl dev.vars.hcl sub/c.hcl" {
		t.Errorf("Files recursive: %s", got)
	}
	one, _ := Files(filepath.Join(dir, "x.txt"), false)
	if got := rel(one); got != "x.txt" {
		t.Errorf("Files of a file: %s", got)
	}
}
