package hcl

import (
	"errors"
	"testing"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

func TestParseKind(t *testing.T) {
	tests := []struct {
		in    string
		want  Kind
		proto flowctlv1.Kind
	}{
		{"source", KindSource, flowctlv1.Kind_KIND_SOURCE},
		{"processor", KindProcessor, flowctlv1.Kind_KIND_PROCESSOR},
		{"sink", KindSink, flowctlv1.Kind_KIND_SINK},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseKind(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || got.String() != tt.in || got.Proto() != tt.proto {
				t.Errorf("ParseKind(%q) = %v (%v), want %v (%v)", tt.in, got, got.Proto(), tt.want, tt.proto)
			}
		})
	}
	for _, bad := range []string{"", "Source", "sources", "filter"} {
		if _, err := ParseKind(bad); !errors.Is(err, ErrInvalidKind) {
			t.Errorf("ParseKind(%q) error = %v, want ErrInvalidKind", bad, err)
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in      string
		want    Address
		wantErr string
	}{
		{in: "source.ticks", want: Address{KindSource, "ticks"}},
		{in: "processor.add-tags_2", want: Address{KindProcessor, "add-tags_2"}},
		{in: "sink.out", want: Address{KindSink, "out"}},
		{in: "ticks", wantErr: `invalid component address "ticks": want kind.name, e.g. source.ticks`},
		{in: "stream.ticks", wantErr: `invalid component address "stream.ticks": invalid component kind "stream": want source, processor or sink`},
		{in: "source.", wantErr: `invalid component address "source.": "" is not a valid name (letters, digits, _ and -, not starting with a digit)`},
		{in: "source.a.b", wantErr: `invalid component address "source.a.b": "a.b" is not a valid name (letters, digits, _ and -, not starting with a digit)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseAddress(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrInvalidAddress) {
					t.Fatalf("error = %v, want %q wrapping ErrInvalidAddress", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || got.String() != tt.in {
				t.Errorf("ParseAddress(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
