package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestRedactor(t *testing.T) {
	const secret = "s3cr3t/t0ken+x"
	r := New(secret, "ab") // "ab" is too short to scrub
	tests := []struct{ in, want string }{
		{"token " + secret + " here", "token (sensitive value) here"},
		{`Post "https://h/hook?t=` + url.QueryEscape(secret) + `": refused`, `Post "https://h/hook?t=(sensitive value)": refused`},
		{"path /" + url.PathEscape(secret), "path /(sensitive value)"},
		{"nothing to see: ab", "nothing to see: ab"},
	}
	for _, tt := range tests {
		if got := r.String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactorLongestFirst(t *testing.T) {
	r := New("secret", "https://h/?t=secret")
	if got := r.String("POST https://h/?t=secret failed"); got != "POST (sensitive value) failed" {
		t.Fatalf("got %q", got)
	}
}

func TestRedactorError(t *testing.T) {
	r := New("hunter22")
	err := fmt.Errorf("sink.out: %w: dial with hunter22", context.DeadlineExceeded)
	red := r.Error(err)
	if strings.Contains(red.Error(), "hunter22") {
		t.Fatalf("error not redacted: %v", red)
	}
	if !errors.Is(red, context.DeadlineExceeded) {
		t.Fatal("redacted error lost what it wraps")
	}
	if plain := errors.New("no secret"); r.Error(plain) != plain {
		t.Fatal("an error without a secret should come back as it is")
	}
}

func TestWriterAndNil(t *testing.T) {
	var buf bytes.Buffer
	r := New()
	w := r.Writer(&buf)
	fmt.Fprintf(w, "before hunter22\n")
	r.Add("hunter22")
	fmt.Fprintf(w, "after hunter22\n")
	if got := buf.String(); got != "before hunter22\nafter (sensitive value)\n" {
		t.Fatalf("got %q", got)
	}
	var none *Redactor
	if none.String("x hunter22") != "x hunter22" || none.Error(nil) != nil || !none.Empty() {
		t.Fatal("a nil Redactor must pass everything through")
	}
}

func TestLogger(t *testing.T) {
	var buf bytes.Buffer
	r := New("hunter22")
	l := Logger(hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true}), r).Named("sink.out").With("url", "https://h/?t=hunter22")
	l.Warn("post failed: hunter22", "error", errors.New("dial hunter22"), "count", 3, "items", []string{"hunter22"})
	l.StandardLogger(nil).Print("std hunter22")
	if strings.Contains(buf.String(), "hunter22") {
		t.Fatalf("logged a sensitive value:\n%s", buf.String())
	}
	if !strings.Contains(buf.String(), `"count":3`) {
		t.Errorf("a number lost its type:\n%s", buf.String())
	}
}
