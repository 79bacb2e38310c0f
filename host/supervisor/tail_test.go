package supervisor

import (
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestTailBufferKeepsLastLinesReadable(t *testing.T) {
	b := newTailBuffer(2)
	_, _ = b.Write([]byte("first\n{\"@level\":\"error\",\"@message\":\"disk full\",\"@module\":\"file\"}\npar"))
	_, _ = b.Write([]byte("tial\n{not json\n"))
	want := []string{"partial", "{not json"}
	if got := b.Lines(); !slices.Equal(got, want) {
		t.Fatalf("lines %q, want %q", got, want)
	}
	b = newTailBuffer(5)
	_, _ = b.Write([]byte("{\"@level\":\"error\",\"@message\":\"disk full\"}\n"))
	if got := b.Lines(); !slices.Equal(got, []string{"error: disk full"}) {
		t.Fatalf("lines %q, want the log message", got)
	}
}

func TestLogRelayKeepsLevelsAndFields(t *testing.T) {
	var out strings.Builder
	log := hclog.New(&hclog.LoggerOptions{Name: "sink.out", Output: &out, Level: hclog.Info, DisableTime: true})
	r := &logRelay{log: log}
	_, _ = r.Write([]byte(`{"@level":"error","@message":"disk full","@module":"file","path":"/out"}` + "\n" + `{"@level":"debug","@message":"hidden"}` + "\nplain line\n{\"@level\":\"warn\",\"@mess"))
	_, _ = r.Write([]byte("age\":\"slow\"}\n"))
	want := "[ERROR] sink.out: disk full: path=/out\n[WARN]  sink.out: slow\n"
	if got := out.String(); got != want {
		t.Fatalf("relayed\n%q\nwant\n%q", got, want)
	}
}
