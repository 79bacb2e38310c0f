package hcl

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPrintedDiagnostics is how many diagnostics the CLI prints
// (WriteDiagnosticsLimit); the rest are counted. A file of garbage yields
// one per stray byte, and the first few say all there is to say
// (`validate -json` lists them all).
const MaxPrintedDiagnostics = 10

// maxSnippetRunes bounds a snippet line, so a minified or binary file does
// not print kilobytes per diagnostic.
const maxSnippetRunes = 160

// Escape makes text from a pipeline file or a plugin safe to print on a
// terminal: control characters other than newline and tab, and bytes that
// are not UTF-8, are written as Go escapes (\x1b, \u0085), so input cannot
// move the cursor, change colours or ring the bell.
func Escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteString(escapeRune(r, n, s[i]))
		i += n
	}
	return b.String()
}

func needsEscape(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n' && r != '\t') {
			return true
		}
	}
	return false
}

// escapeRune is how one decoded rune (n bytes, the first being first) is
// printed.
func escapeRune(r rune, n int, first byte) string {
	switch {
	case r == utf8.RuneError && n <= 1:
		return fmt.Sprintf(`\x%02x`, first)
	case r == '\n' || r == '\t':
		return string(r)
	case r < 0x80 && unicode.IsControl(r):
		return fmt.Sprintf(`\x%02x`, r)
	case unicode.IsControl(r):
		return fmt.Sprintf(`\u%04x`, r)
	}
	return string(r)
}
