package hcl

import (
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

func TestWriteDiagnostics(t *testing.T) {
	const name = "dir/p.hcl"
	src := "sink \"file\" \"out\" {\n\tinputs = [source.nope]\n  path = <<EOT\nlong\nEOT\n}\n"
	f, diags := hclsyntax.ParseConfig([]byte(src), name, hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	files := map[string]*hcl.File{name: f}
	rng := func(startLine, startCol, startByte, endLine, endCol, endByte int) *hcl.Range {
		return &hcl.Range{
			Filename: name,
			Start:    hcl.Pos{Line: startLine, Column: startCol, Byte: startByte},
			End:      hcl.Pos{Line: endLine, Column: endCol, Byte: endByte},
		}
	}

	tests := []struct {
		name  string
		files map[string]*hcl.File
		diags hcl.Diagnostics
		color bool
		want  string
	}{
		{
			name:  "no subject",
			diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Plugin not found", Detail: "Install it."}},
			want:  "Error: Plugin not found\n\nInstall it.\n",
		},
		{
			name:  "no detail",
			diags: hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "Deprecated"}},
			want:  "Warning: Deprecated\n",
		},
		{
			name:  "tab before the subject keeps the carets aligned",
			files: files,
			diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unknown input", Detail: "There is no source named \"nope\".", Subject: rng(2, 12, 31, 2, 23, 42)}},
			want: "Error: Unknown input\n\n  on dir/p.hcl:2:12:\n" +
				"    2: \tinputs = [source.nope]\n" +
				"       \t          ^^^^^^^^^^^\n" +
				"\nThere is no source named \"nope\".\n",
		},
		{
			name:  "a subject over several lines is clipped to its first",
			files: files,
			diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Bad path", Subject: rng(3, 10, 53, 5, 4, 67)}},
			want:  "Error: Bad path\n\n  on dir/p.hcl:3:10:\n    3:   path = <<EOT\n                ^^^^^\n",
		},
		{
			name:  "an empty subject gets one caret",
			files: files,
			diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Missing", Subject: rng(1, 19, 18, 1, 19, 18)}},
			want:  "Error: Missing\n\n  on dir/p.hcl:1:19:\n    1: sink \"file\" \"out\" {\n                         ^\n",
		},
		{
			name:  "a file that was not parsed has no snippet",
			files: nil,
			diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Bad", Subject: rng(1, 1, 0, 1, 5, 4)}},
			want:  "Error: Bad\n\n  on dir/p.hcl:1:1:\n",
		},
		{
			name: "diagnostics are separated by a blank line",
			diags: hcl.Diagnostics{
				{Severity: hcl.DiagError, Summary: "One", Detail: "First."},
				{Severity: hcl.DiagWarning, Summary: "Two"},
			},
			want: "Error: One\n\nFirst.\n\nWarning: Two\n",
		},
		{
			name:  "color",
			diags: hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "One"}, {Severity: hcl.DiagWarning, Summary: "Two"}},
			color: true,
			want:  "\x1b[1;31mError\x1b[0m: \x1b[1mOne\x1b[0m\n\n\x1b[1;33mWarning\x1b[0m: \x1b[1mTwo\x1b[0m\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteDiagnostics(&b, tt.files, tt.diags, tt.color); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
			if !tt.color && FormatDiagnostics(tt.files, tt.diags) != tt.want {
				t.Error("FormatDiagnostics differs from WriteDiagnostics without color")
			}
		})
	}
}

func TestWriteDiagnosticsWriterError(t *testing.T) {
	err := WriteDiagnostics(failingWriter{}, nil, hcl.Diagnostics{{Summary: "x"}}, false)
	if !errors.Is(err, errWrite) {
		t.Errorf("error = %v, want it to wrap the writer's error", err)
	}
}

var errWrite = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }
