package drivers

import (
	"strings"
	"testing"
)

func TestParseHandshake(t *testing.T) {
	tests := []struct {
		line, err string
		want      Handshake
	}{
		{line: "1|1|tcp|[::]:7777|grpc|", want: Handshake{Protocol: 1, Addr: "[::]:7777"}},
		{line: "1|1|tcp|0.0.0.0:7777|grpc|\n", want: Handshake{Protocol: 1, Addr: "0.0.0.0:7777"}},
		{line: "1|9|tcp|:7777|grpc|", err: "incompatible API version with plugin. Plugin version: 9, Client versions: [1 2 3]"},
		{line: "2|1|tcp|:7777|grpc|", err: "bad plugin handshake: go-plugin core protocol 2, want 1"},
		{line: "1|1|tcp|:7777|netrpc|", err: `bad plugin handshake: the plugin serves "netrpc"; flowctl plugins speak grpc`},
		{line: "hello", err: `bad plugin handshake: "hello" is not a go-plugin handshake line`},
		{line: "1|x|tcp|:1|grpc|", err: `bad plugin handshake: protocol version "x"`},
	}
	for _, tt := range tests {
		got, err := ParseHandshake(tt.line)
		switch {
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("ParseHandshake(%q) error %v, want %q", tt.line, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("ParseHandshake(%q) = %+v, %v; want %+v", tt.line, got, err, tt.want)
		}
	}
}

// TestHandshakeWriter: lines before the handshake are early output, the
// handshake line is delivered once, and what follows (in any chunking)
// is stdout.
func TestHandshakeWriter(t *testing.T) {
	var stdout, early strings.Builder
	w := NewHandshakeWriter(&stdout, &early)
	for _, chunk := range []string{"starting\n1|1|tc", "p|:7777|grpc|\n{\"id\":", "\"1\"}\n", "1|1|tcp|:1|grpc|\n"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case line := <-w.Line():
		if line != "1|1|tcp|:7777|grpc|" {
			t.Errorf("line %q", line)
		}
	default:
		t.Fatal("no handshake line")
	}
	if early.String() != "starting\n" {
		t.Errorf("early %q", early.String())
	}
	if stdout.String() != "{\"id\":\"1\"}\n1|1|tcp|:1|grpc|\n" {
		t.Errorf("stdout %q", stdout.String())
	}
}

func TestOwnerGone(t *testing.T) {
	me := OwnerID()
	if OwnerGone(me) {
		t.Fatalf("OwnerGone(%q) for this very process", me)
	}
	parts := strings.Split(me, "_")
	for _, owner := range []string{
		parts[0] + "_" + parts[1] + "_1",    // the same pid, started at another time
		parts[0] + "_999999999_" + parts[2], // no such pid
	} {
		if !OwnerGone(owner) {
			t.Errorf("OwnerGone(%q) = false", owner)
		}
	}
	for _, owner := range []string{"other-host_1_1", "garbage", ""} {
		if OwnerGone(owner) {
			t.Errorf("OwnerGone(%q) = true: only this machine's dead owners are stale", owner)
		}
	}
}
