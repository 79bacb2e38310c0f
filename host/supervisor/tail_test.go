package supervisor

import (
	"slices"
	"testing"
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
