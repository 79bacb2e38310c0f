package hcl

import (
	"bytes"

	"github.com/hashicorp/hcl/v2"
)

// JSONReport is the machine-readable result of validating a pipeline
// (`flowctl validate -json`). Its shape follows the one Terraform's
// `validate -json` made familiar to tools and editors.
type JSONReport struct {
	Valid        bool             `json:"valid"`
	ErrorCount   int              `json:"error_count"`
	WarningCount int              `json:"warning_count"`
	Diagnostics  []JSONDiagnostic `json:"diagnostics"`
}

// JSONDiagnostic is one diagnostic. Range and Snippet are absent when the
// diagnostic has no subject (a -var value, a missing file).
type JSONDiagnostic struct {
	Severity string       `json:"severity"` // "error" or "warning"
	Summary  string       `json:"summary"`
	Detail   string       `json:"detail,omitempty"`
	Range    *JSONRange   `json:"range,omitempty"`
	Snippet  *JSONSnippet `json:"snippet,omitempty"`
}

// JSONRange is a source range; lines and columns count from 1, bytes from 0.
type JSONRange struct {
	Filename string  `json:"filename"`
	Start    JSONPos `json:"start"`
	End      JSONPos `json:"end"`
}

// JSONPos is one position in a file.
type JSONPos struct {
	Line   int `json:"line"`
	Column int `json:"column"`
	Byte   int `json:"byte"`
}

// JSONSnippet is the subject's first line of source, with the subject's
// byte offsets within Code, for a tool to underline.
type JSONSnippet struct {
	Code                 string `json:"code"`
	StartLine            int    `json:"start_line"`
	HighlightStartOffset int    `json:"highlight_start_offset"`
	HighlightEndOffset   int    `json:"highlight_end_offset"`
}

// NewJSONReport describes diags; files supply the snippets.
func NewJSONReport(files map[string]*hcl.File, diags hcl.Diagnostics) *JSONReport {
	r := &JSONReport{Diagnostics: []JSONDiagnostic{}}
	for _, d := range diags {
		jd := JSONDiagnostic{Severity: "error", Summary: d.Summary, Detail: d.Detail}
		if d.Severity == hcl.DiagWarning {
			jd.Severity = "warning"
			r.WarningCount++
		} else {
			r.ErrorCount++
		}
		if s := d.Subject; s != nil {
			jd.Range = &JSONRange{
				Filename: s.Filename,
				Start:    JSONPos{s.Start.Line, s.Start.Column, s.Start.Byte},
				End:      JSONPos{s.End.Line, s.End.Column, s.End.Byte},
			}
			if f, ok := files[s.Filename]; ok && f != nil {
				jd.Snippet = jsonSnippet(f.Bytes, *s)
			}
		}
		r.Diagnostics = append(r.Diagnostics, jd)
	}
	r.Valid = r.ErrorCount == 0
	return r
}

func jsonSnippet(src []byte, r hcl.Range) *JSONSnippet {
	if r.Start.Byte < 0 || r.Start.Byte > len(src) || r.End.Byte < r.Start.Byte {
		return nil
	}
	lineStart := bytes.LastIndexByte(src[:r.Start.Byte], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[lineStart:], '\n'); i >= 0 {
		lineEnd = lineStart + i
	}
	code := string(bytes.TrimRight(src[lineStart:lineEnd], "\r"))
	return &JSONSnippet{
		Code:                 code,
		StartLine:            r.Start.Line,
		HighlightStartOffset: r.Start.Byte - lineStart,
		HighlightEndOffset:   min(r.End.Byte-lineStart, len(code)),
	}
}
