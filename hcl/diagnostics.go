package hcl

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
)

// ANSI escapes, used only when the caller asks for color.
const (
	ansiBoldRed    = "\x1b[1;31m"
	ansiBoldYellow = "\x1b[1;33m"
	ansiBold       = "\x1b[1m"
	ansiReset      = "\x1b[0m"
)

// WriteDiagnostics prints diags for a person, one after the other with a
// blank line between them:
//
//	Error: Unknown input
//
//	  on examples/bad/pipeline.hcl:12:13:
//	    12:   inputs = [source.nope]
//	                    ^^^^^^^^^^^
//
//	There is no source named "nope". Declared sources: ticks.
//
// The "on" line and the snippet appear only when the diagnostic has a Subject;
// the snippet only when its file is in files. The carets underline the
// subject, clipped to its first line. File names are printed as they were
// given to Parse. With color, the severity is bold red (Error) or bold yellow
// (Warning) and the summary bold.
//
// Everything that comes from a file or a plugin (summary, detail, snippet)
// is printed through Escape.
func WriteDiagnostics(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool) error {
	return WriteDiagnosticsLimit(w, files, diags, color, 0)
}

// WriteDiagnosticsLimit is WriteDiagnostics printing at most limit
// diagnostics (0: all), then a line counting the rest. A file of garbage
// yields one diagnostic per stray byte; the CLI prints
// MaxPrintedDiagnostics of them.
func WriteDiagnosticsLimit(w io.Writer, files map[string]*hcl.File, diags hcl.Diagnostics, color bool, limit int) error {
	var buf bytes.Buffer
	for i, d := range diags {
		if limit > 0 && i == limit {
			writeMore(&buf, diags[i:])
			break
		}
		if i > 0 {
			buf.WriteByte('\n')
		}
		writeDiagnostic(&buf, files, d, color)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("writing diagnostics: %w", err)
	}
	return nil
}

// FormatDiagnostics returns what WriteDiagnostics prints without color.
func FormatDiagnostics(files map[string]*hcl.File, diags hcl.Diagnostics) string {
	var b strings.Builder
	_ = WriteDiagnostics(&b, files, diags, false) // a strings.Builder does not fail
	return b.String()
}

func writeDiagnostic(buf *bytes.Buffer, files map[string]*hcl.File, d *hcl.Diagnostic, color bool) {
	severity, sevColor := "Error", ansiBoldRed
	if d.Severity == hcl.DiagWarning {
		severity, sevColor = "Warning", ansiBoldYellow
	}
	summary := Escape(d.Summary)
	if color {
		fmt.Fprintf(buf, "%s%s%s: %s%s%s\n", sevColor, severity, ansiReset, ansiBold, summary, ansiReset)
	} else {
		fmt.Fprintf(buf, "%s: %s\n", severity, summary)
	}

	if d.Subject != nil {
		s := d.Subject
		fmt.Fprintf(buf, "\n  on %s:%d:%d:\n", Escape(s.Filename), s.Start.Line, s.Start.Column)
		if f, ok := files[s.Filename]; ok && f != nil {
			writeSnippet(buf, f.Bytes, *s)
		}
	}

	if detail := strings.TrimRight(d.Detail, "\n"); detail != "" {
		buf.WriteByte('\n')
		buf.WriteString(Escape(detail))
		buf.WriteByte('\n')
	}
}

// writeMore counts the diagnostics left unprinted.
func writeMore(buf *bytes.Buffer, rest hcl.Diagnostics) {
	errs := 0
	for _, d := range rest {
		if d.Severity == hcl.DiagError {
			errs++
		}
	}
	fmt.Fprintf(buf, "\n... and %d more (%d errors, %d warnings) not shown; `flowctl validate -json` lists every one.\n",
		len(rest), errs, len(rest)-errs)
}

// writeSnippet prints the subject's first line with its number and a run of
// carets under the subject. Columns are counted in runes; a tab in the line
// is repeated in the padding so the carets stay aligned in a terminal.
func writeSnippet(buf *bytes.Buffer, src []byte, r hcl.Range) {
	if r.Start.Byte < 0 || r.Start.Byte > len(src) {
		return // a range from another version of the file; print no snippet
	}
	lineStart := bytes.LastIndexByte(src[:r.Start.Byte], '\n') + 1
	lineEnd := len(src)
	if i := bytes.IndexByte(src[lineStart:], '\n'); i >= 0 {
		lineEnd = lineStart + i
	}
	line := bytes.TrimRight(src[lineStart:lineEnd], "\r")

	start := r.Start.Byte - lineStart
	end := min(r.End.Byte-lineStart, len(line))
	start = min(start, len(line))

	// Each rune is printed escaped (see Escape) and the line is clipped, so
	// the carets are placed by the width of what was printed.
	var shown strings.Builder
	caretStart, caretEnd, runes := -1, -1, 0
	var pad strings.Builder
	for i := 0; i < len(line) && runes < maxSnippetRunes; runes++ {
		r, n := utf8.DecodeRune(line[i:])
		out := escapeRune(r, n, line[i])
		if i < start {
			if r == '\t' {
				pad.WriteByte('\t')
			} else {
				pad.WriteString(strings.Repeat(" ", utf8.RuneCountInString(out)))
			}
		}
		if i >= start && caretStart < 0 {
			caretStart = utf8.RuneCountInString(shown.String())
		}
		shown.WriteString(out)
		if i < end {
			caretEnd = utf8.RuneCountInString(shown.String())
		}
		i += n
		if i < len(line) && runes+1 == maxSnippetRunes {
			shown.WriteString(" ...")
		}
	}
	prefix := fmt.Sprintf("    %d: ", r.Start.Line)
	fmt.Fprintf(buf, "%s%s\n", prefix, shown.String())

	buf.WriteString(strings.Repeat(" ", len(prefix)))
	buf.WriteString(pad.String())
	carets := 1
	if caretStart >= 0 && caretEnd > caretStart {
		carets = caretEnd - caretStart
	}
	buf.WriteString(strings.Repeat("^", carets))
	buf.WriteByte('\n')
}
