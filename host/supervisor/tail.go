package supervisor

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// maxTailLine bounds each kept line: they are printed in error messages.
const maxTailLine = 512

// tailBuffer keeps the last lines written to it: a plugin's stderr, shown
// when it fails. Lines are kept escaped (flowhcl.Escape) and cut at
// maxTailLine bytes.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	lines   []string
	partial []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			// A plugin that never ends its line is kept to its start.
			b.partial = append(b.partial, p[:min(len(p), max(0, maxTailLine-len(b.partial)))]...)
			break
		}
		b.partial = append(b.partial, p[:i]...)
		b.push(string(b.partial))
		b.partial = b.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// push keeps line; a plugin's hclog JSON line is kept as "level: message"
// so error hints read like the log. Debug and trace lines are dropped: the
// hint is for the person whose pipeline failed, and at those levels the log
// relay shows them anyway.
func (b *tailBuffer) push(line string) {
	if line == "" {
		return
	}
	var entry struct {
		Level   string `json:"@level"`
		Message string `json:"@message"`
	}
	if strings.HasPrefix(line, "{") && json.Unmarshal([]byte(line), &entry) == nil && entry.Message != "" {
		if entry.Level == "debug" || entry.Level == "trace" {
			return
		}
		line = entry.Level + ": " + entry.Message
	}
	if len(line) > maxTailLine {
		line = strings.ToValidUTF8(line[:maxTailLine], "") + " ..."
	}
	b.lines = append(b.lines, flowhcl.Escape(line))
	if len(b.lines) > b.max {
		b.lines = b.lines[len(b.lines)-b.max:]
	}
}

// Lines returns the kept lines, oldest first.
func (b *tailBuffer) Lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := append([]string(nil), b.lines...)
	if len(b.partial) > 0 {
		out = append(out, flowhcl.Escape(string(b.partial)))
	}
	return out
}

// Contains reports whether any kept line contains s.
func (b *tailBuffer) Contains(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, l := range b.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return strings.Contains(string(b.partial), s)
}
