// Package stdout is the flowctl "stdout" plugin: a sink that prints events
// on the plugin process's standard output, for demos and debugging.
//
// go-plugin owns a plugin's real stdout (the handshake line goes there) and
// then replaces os.Stdout with a pipe whose output it forwards to the host;
// the host decides where it ends up. The sink therefore writes to os.Stdout
// as it is when the sink opens. A batch is acked once its lines were flushed
// into that pipe: stdout offers no stronger durability.
//
// format = "json" (the default) prints the JSON Lines that the file sink
// writes (see plugins/internal/jsonl). format = "text" prints one line per
// event for people to read:
//
//	<id> <type> <attributes> <data>
//
// where attributes are k=v pairs sorted by key and joined with commas ("-"
// when there are none; values with spaces, commas or unprintable characters
// are Go-quoted), and data is printed as is when it is one line of
// printable text, Go-quoted otherwise, and left out when empty.
package stdout

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/flowctl/flowctl/plugins/internal/jsonl"
	"github.com/flowctl/flowctl/pluginsdk"
)

// Formats the sink prints.
const (
	FormatJSON = "json"
	FormatText = "text"
)

// Plugin returns the stdout plugin at the given version.
func Plugin(version string) pluginsdk.Plugin {
	return newPlugin(version, func() io.Writer { return os.Stdout })
}

// newPlugin lets tests capture the output; out is called when a sink opens.
func newPlugin(version string, out func() io.Writer) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "stdout",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewSink("stdout",
				"Prints events on standard output as JSON Lines or as readable text.",
				pluginsdk.NewSpec(
					pluginsdk.String("format", `Output format: "json" (JSON Lines, as the file sink writes) or "text" (one readable line per event).`).Default(FormatJSON),
				),
				func(init pluginsdk.Init) (pluginsdk.Sink, error) { return newSink(init, out) }),
		},
	}
}

// Sink prints events.
type Sink struct {
	format string
	out    func() io.Writer

	mu     sync.Mutex // serializes Write and Teardown
	w      *bufio.Writer
	buf    []byte
	closed bool
}

var _ pluginsdk.Sink = (*Sink)(nil)

func newSink(init pluginsdk.Init, out func() io.Writer) (*Sink, error) {
	format := init.Config.String("format")
	if format != FormatJSON && format != FormatText {
		return nil, pluginsdk.NewAttrError(fmt.Errorf("unknown format %q: use %q or %q", format, FormatJSON, FormatText), "format")
	}
	return &Sink{format: format, out: out}, nil
}

// Open binds the sink to the current standard output.
func (s *Sink) Open(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w = bufio.NewWriterSize(s.out(), 64<<10)
	return nil
}

// Write prints the batch and flushes it.
func (s *Sink) Write(_ context.Context, batch []pluginsdk.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.w == nil {
		return errors.New("stdout sink: write after teardown")
	}
	for _, e := range batch {
		var err error
		s.buf = s.buf[:0]
		if s.format == FormatText {
			s.buf = appendText(s.buf, e)
		} else if s.buf, err = jsonl.Append(s.buf, e); err != nil {
			return fmt.Errorf("stdout sink: %w", err)
		}
		if _, err := s.w.Write(s.buf); err != nil {
			return fmt.Errorf("stdout sink: %w", err)
		}
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("stdout sink: %w", err)
	}
	return nil
}

// Teardown flushes nothing (every Write flushed) and stops further writes.
func (s *Sink) Teardown(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func appendText(b []byte, e pluginsdk.Event) []byte {
	b = append(b, orDash(e.ID)...)
	b = append(b, ' ')
	b = append(b, orDash(e.Type)...)
	b = append(b, ' ')
	if len(e.Attributes) == 0 {
		b = append(b, '-')
	}
	attrs := slices.Clone(e.Attributes)
	slices.SortStableFunc(attrs, func(x, y pluginsdk.Attribute) int { return strings.Compare(x.Key, y.Key) })
	for i, a := range attrs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendWord(b, a.Key, " ,=\"")
		b = append(b, '=')
		b = appendWord(b, a.Value, " ,\"")
	}
	if len(e.Data) > 0 {
		b = append(b, ' ')
		b = appendWord(b, string(e.Data), "")
	}
	return append(b, '\n')
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// appendWord appends s as is when it is printable and holds none of the
// special characters, and Go-quoted otherwise.
func appendWord(b []byte, s, special string) []byte {
	if s != "" && utf8.ValidString(s) && !strings.ContainsAny(s, special) &&
		strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) < 0 {
		return append(b, s...)
	}
	return strconv.AppendQuote(b, s)
}
