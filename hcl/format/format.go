// Package format puts pipeline files in flowctl's canonical layout, for
// `flowctl fmt`.
//
// The canonical layout is hclwrite's (two-space indentation, `=` aligned
// within a run of attributes, normalised spacing) plus: \n line endings, no
// trailing whitespace, at most one blank line in a row, no blank line just
// inside braces, and exactly one trailing newline. Text inside strings and
// heredocs is never touched. Formatting is idempotent, and a file with syntax
// errors is refused rather than rewritten.
package format

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

// Source returns src in canonical form, or nil and the syntax errors.
func Source(filename string, src []byte) ([]byte, hcl.Diagnostics) {
	src = bytes.ReplaceAll(src, []byte("\r\n"), []byte("\n"))
	if _, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos); diags.HasErrors() {
		return nil, diags
	}
	out := hclwrite.Format(src)
	return tidyLines(out, literalLines(out, filename)), nil
}

// literalLines reports the lines (1-based) whose text is data: the body
// of a heredoc, and the continuation lines of a quoted string that spans
// lines. Their whitespace and blank lines are kept as they are.
func literalLines(src []byte, filename string) map[int]bool {
	toks, _ := hclsyntax.LexConfig(src, filename, hcl.InitialPos)
	inside := map[int]bool{}
	heredocFrom := 0
	for _, t := range toks {
		switch t.Type {
		case hclsyntax.TokenOHeredoc:
			heredocFrom = t.Range.End.Line // the token ends after its newline
		case hclsyntax.TokenCHeredoc:
			for l := heredocFrom; l < t.Range.Start.Line; l++ {
				inside[l] = true
			}
			heredocFrom = 0
		case hclsyntax.TokenQuotedLit:
			for l := t.Range.Start.Line + 1; l <= t.Range.End.Line; l++ {
				inside[l] = true
			}
		}
	}
	return inside
}

// tidyLines applies the line rules hclwrite leaves alone.
func tidyLines(src []byte, literal map[int]bool) []byte {
	lines := strings.Split(string(src), "\n")
	out := make([]string, 0, len(lines))
	for i, line := range lines {
		n := i + 1
		if literal[n] {
			out = append(out, line)
			continue
		}
		line = strings.TrimRight(line, " \t")
		if line == "" {
			prev := ""
			if len(out) > 0 {
				prev = strings.TrimSpace(out[len(out)-1])
			}
			if len(out) == 0 || prev == "" || strings.HasSuffix(prev, "{") {
				continue // leading, repeated, or just after an opening brace
			}
		}
		if strings.HasPrefix(strings.TrimSpace(line), "}") && len(out) > 0 && out[len(out)-1] == "" && !literal[n-1] {
			out = out[:len(out)-1] // blank line just before a closing brace
		}
		out = append(out, line)
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	if len(out) == 0 {
		return []byte{}
	}
	return []byte(strings.Join(out, "\n") + "\n")
}

// Files lists the files fmt formats under path: path itself when it is a
// file; for a directory its .hcl files, and with recursive those of its
// subdirectories, skipping hidden files and directories (.git, .flowctl,
// the lock file). The list is sorted.
func Files(path string, recursive bool) ([]string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return []string{path}, nil
	}
	var files []string
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		hidden := strings.HasPrefix(d.Name(), ".") && p != path
		switch {
		case d.IsDir() && p != path && (hidden || !recursive):
			return filepath.SkipDir
		case !d.IsDir() && !hidden && strings.HasSuffix(d.Name(), ".hcl"):
			files = append(files, p)
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}
