package drivers

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-plugin"
)

// FuzzParseHandshake feeds arbitrary handshake lines, as a network-mode
// plugin (a container or pod anyone may have built) prints them.
// Properties: no panic; every error is ErrHandshake or go-plugin's
// version-mismatch wording; an accepted line, written out again in
// go-plugin's form, parses to the same Handshake.
func FuzzParseHandshake(f *testing.F) {
	for _, s := range []string{
		"1|1|tcp|[::]:7777|grpc|", "1|1|tcp|0.0.0.0:7777|grpc|\n", "1|9|tcp|:7777|grpc|",
		"2|1|tcp|:7777|grpc|", "1|1|tcp|:7777|netrpc|", "hello", "1|x|tcp|:1|grpc|",
		"1|1|unix|/tmp/plugin123|grpc|MIIB...cert", "||||",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		hs, err := ParseHandshake(line)
		if err != nil {
			if !errors.Is(err, ErrHandshake) && !strings.HasPrefix(err.Error(), "incompatible API version with plugin") {
				t.Fatalf("ParseHandshake(%q): %v is not ErrHandshake", line, err)
			}
			return
		}
		again := fmt.Sprintf("%d|%d|tcp|%s|%s|", plugin.CoreProtocolVersion, hs.Protocol, hs.Addr, plugin.ProtocolGRPC)
		if hs2, err := ParseHandshake(again); err != nil || hs2 != hs {
			t.Fatalf("%q parsed as %+v; written out as %q it parses as %+v, %v", line, hs, again, hs2, err)
		}
	})
}

// FuzzHandshakeWriter writes arbitrary plugin output to a HandshakeWriter
// in arbitrary chunks. Properties: no panic; the early output, the
// handshake line and the output after it are the input, in order, with
// nothing lost or repeated; the line is the first with four '|'.
// TestHandshakeWriterBoundsItsBuffer covers lines over maxHandshakeLine.
func FuzzHandshakeWriter(f *testing.F) {
	f.Add([]byte("starting\n1|1|tcp|:7777|grpc|\n{\"id\":\"1\"}\n1|1|tcp|:1|grpc|\n"), []byte{3, 9, 1})
	f.Add([]byte("no handshake\nat all"), []byte{})
	f.Add([]byte("|||\n||||\n"), []byte{1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, out []byte, cuts []byte) {
		var stdout, early bytes.Buffer
		w := NewHandshakeWriter(&stdout, &early)
		rest := out
		for _, c := range cuts {
			n := min(int(c), len(rest))
			if _, err := w.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if _, err := w.Write(rest); err != nil {
			t.Fatal(err)
		}
		var line string
		select {
		case line = <-w.Line():
		default:
		}
		// The first complete line with four '|', at out[start:end].
		start, end := 0, -1
		for off := 0; ; {
			nl := bytes.IndexByte(out[off:], '\n')
			if nl < 0 {
				break
			}
			if nl > maxHandshakeLine {
				return // passed on as early output unsplit; not what this checks
			}
			if strings.Count(string(out[off:off+nl]), "|") >= 4 {
				start, end = off, off+nl
				break
			}
			off += nl + 1
		}
		if end < 0 {
			if line != "" {
				t.Fatalf("handshake %q found in output without one", line)
			}
			if !bytes.HasPrefix(out, early.Bytes()) || stdout.Len() > 0 {
				t.Fatalf("without a handshake: early %q, stdout %q of %q", early.Bytes(), stdout.Bytes(), out)
			}
			return
		}
		if line != string(out[start:end]) {
			t.Fatalf("handshake %q, want %q", line, out[start:end])
		}
		got := early.String() + line + "\n" + stdout.String()
		if got != string(out) {
			t.Fatalf("output rearranged:\n got %q\nwant %q", got, out)
		}
	})
}

// A plugin that prints an endless line before its handshake does not make
// the host hold it.
func TestHandshakeWriterBoundsItsBuffer(t *testing.T) {
	var early bytes.Buffer
	w := NewHandshakeWriter(nil, &early)
	chunk := bytes.Repeat([]byte("x"), 4096)
	for range 100 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.buf) > maxHandshakeLine+len(chunk) {
		t.Fatalf("holds %d bytes of an unfinished line", len(w.buf))
	}
	if _, err := w.Write([]byte("\n1|1|tcp|:7777|grpc|\n")); err != nil {
		t.Fatal(err)
	}
	if line := <-w.Line(); line != "1|1|tcp|:7777|grpc|" {
		t.Fatalf("handshake %q", line)
	}
	if early.Len() != 100*len(chunk)+1 {
		t.Fatalf("early output of %d bytes, want the %d written", early.Len(), 100*len(chunk)+1)
	}
}
