package main

import (
	"fmt"
	"io"
	"strings"

	flowhcl "github.com/flowctl/flowctl/hcl"
)

// maxLogEntry bounds one entry of the host's log. Plugins' logs are relayed
// into it, and a plugin may log anything, as long as it likes.
const maxLogEntry = 4 << 10

// logOutput is the host log's writer: it escapes control characters
// (flowhcl.Escape), so a relayed plugin line cannot drive the terminal, and
// cuts entries longer than maxLogEntry. hclog writes one entry per Write.
type logOutput struct{ w io.Writer }

func (o logOutput) Write(p []byte) (int, error) {
	s := flowhcl.Escape(string(p))
	if len(s) > maxLogEntry {
		cut := len(s) - maxLogEntry
		s = strings.ToValidUTF8(s[:maxLogEntry], "") + fmt.Sprintf(" ... (%d more bytes not shown)\n", cut)
	}
	if _, err := io.WriteString(o.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}
