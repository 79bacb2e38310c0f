package file

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
)

const version = "0.0.0-test"

// sampleEvents covers every field and every way a payload is written.
func sampleEvents() []pluginsdk.Event {
	at := time.Date(2025, 3, 4, 5, 6, 7, 891011, time.UTC)
	return []pluginsdk.Event{
		{ID: "e1", Type: "order.created", Time: at, Key: []byte("customer-7"),
			Attributes:  []pluginsdk.Attribute{{Key: "env", Value: "prod"}, {Key: "region", Value: "eu-west-1"}},
			ContentType: "application/json", Data: []byte(`{"order":17,"total":12.5}`)},
		{ID: "e2", Type: "log.line", Time: at.Add(time.Millisecond),
			ContentType: "text/plain; charset=utf-8", Data: []byte("line one\nline \"two\" ünïcode")},
		{ID: "e3", Type: "blob", Key: []byte{0, 1, 2, 0xfe}, ContentType: "application/octet-stream",
			Data: []byte{0xff, 0xfe, 0x00, 0x80, '\n', 0x7f}},
		{ID: "e4", Type: "empty"},
	}
}

// writeEvents writes batches through the file sink and fails on any nack.
func writeEvents(t *testing.T, config map[string]any, batches ...[]pluginsdk.Event) {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSink, "file", config)
	acks, err := h.Write(t.Context(), batches...)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range acks {
		if !a.GetOk() {
			t.Fatalf("batch %d nacked: %s", i+1, a.GetError())
		}
	}
}

// readEvents reads a file through the file source.
func readEvents(t *testing.T, path string, opts sdktest.ReadOptions) (*sdktest.SourceResult, error) {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSource, "file", map[string]any{"path": path})
	return h.ReadSource(t.Context(), opts)
}

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.jsonl")
	writeEvents(t, map[string]any{"path": input}, sampleEvents())
	p := Plugin(version)
	sdktest.Conformance(t, p,
		sdktest.Case{Name: "source", Kind: sdktest.KindSource, Component: "file",
			Config: map[string]any{"path": input}},
		sdktest.Case{Name: "sink", Kind: sdktest.KindSink, Component: "file",
			Config: map[string]any{"path": filepath.Join(dir, "out.jsonl")}, Input: sampleEvents()},
		sdktest.Case{Name: "sink-truncate-nosync", Kind: sdktest.KindSink, Component: "file",
			Config: map[string]any{"path": filepath.Join(dir, "out2.jsonl"), "append": false, "fsync": false},
			Input:  sampleEvents()},
	)
	// Batches of two, so the resume check has several batches.
	sdktest.Conformance(t, p, sdktest.Case{Name: "source-resume", Kind: sdktest.KindSource,
		Component: "file", Config: map[string]any{"path": input}, Resume: true, MaxBatch: 2})
}

func TestSinkWritesOneLinePerEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	evs := sampleEvents()
	writeEvents(t, map[string]any{"path": path}, evs[:2], evs[2:])
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`{"id":"e1","type":"order.created","time":"2025-03-04T05:06:07.000891011Z","key":"Y3VzdG9tZXItNw==","attributes":{"env":"prod","region":"eu-west-1"},"content_type":"application/json","data":{"order":17,"total":12.5}}`,
		`{"id":"e2","type":"log.line","time":"2025-03-04T05:06:07.001891011Z","content_type":"text/plain; charset=utf-8","data":"line one\nline \"two\" ünïcode"}`,
		`{"id":"e3","type":"blob","key":"AAEC/g==","content_type":"application/octet-stream","data_base64":"//4AgAp/"}`,
		`{"id":"e4","type":"empty"}`,
	}, "\n") + "\n"
	if string(got) != want {
		t.Errorf("file content:\n%s\nwant:\n%s", got, want)
	}
}

func TestRoundTripKeepsEveryField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	want := sampleEvents()
	writeEvents(t, map[string]any{"path": path}, want)
	res, err := readEvents(t, path, sdktest.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Ended {
		t.Error("source did not end at the end of the file")
	}
	if len(res.Events) != len(want) {
		t.Fatalf("read %d events, want %d", len(res.Events), len(want))
	}
	for i := range want {
		assertSameEvent(t, res.Events[i], want[i])
	}
}

func assertSameEvent(t *testing.T, got, want pluginsdk.Event) {
	t.Helper()
	if got.ID != want.ID || got.Type != want.Type || !got.Time.Equal(want.Time) || got.ContentType != want.ContentType {
		t.Errorf("event %s: got id %q type %q time %v content type %q; want %q %q %v %q",
			want.ID, got.ID, got.Type, got.Time, got.ContentType, want.ID, want.Type, want.Time, want.ContentType)
	}
	if !bytes.Equal(got.Key, want.Key) || !bytes.Equal(got.Data, want.Data) {
		t.Errorf("event %s: key %q data %q, want key %q data %q", want.ID, got.Key, got.Data, want.Key, want.Data)
	}
	if len(got.Attributes) != len(want.Attributes) {
		t.Errorf("event %s: attributes %v, want %v", want.ID, got.Attributes, want.Attributes)
	}
	for _, a := range want.Attributes {
		if v, _ := got.Attribute(a.Key); v != a.Value {
			t.Errorf("event %s: attribute %q = %q, want %q", want.ID, a.Key, v, a.Value)
		}
	}
}

func TestSourceResumesAtByteOffset(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	writeEvents(t, map[string]any{"path": path}, sampleEvents())
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := readEvents(t, path, sdktest.ReadOptions{MaxBatch: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Each position is the offset just past its event's line.
	lines := bytes.SplitAfter(content, []byte("\n"))
	var end int64
	for i, pos := range first.Positions {
		end += int64(len(lines[i]))
		if got := int64(binary.BigEndian.Uint64(pos)); got != end {
			t.Errorf("event %d position %d, want the end of its line %d", i+1, got, end)
		}
	}

	res, err := readEvents(t, path, sdktest.ReadOptions{From: first.Positions[1]})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 2 || res.Events[0].ID != "e3" || res.Events[1].ID != "e4" {
		t.Fatalf("resumed after the second line: got %d events %v, want e3 and e4", len(res.Events), ids(res.Events))
	}

	done, err := readEvents(t, path, sdktest.ReadOptions{From: Offset(int64(len(content)))})
	if err != nil {
		t.Fatal(err)
	}
	if len(done.Events) != 0 || !done.Ended {
		t.Errorf("resumed at the end: got %v (ended %v), want nothing and the end", ids(done.Events), done.Ended)
	}
}

func ids(evs []pluginsdk.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func TestSourceSkipsBlankLinesAndReadsUnterminatedLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.jsonl")
	content := "{\"id\":\"a\"}\n\n   \r\n{\"id\":\"b\",\"unknown\":true}\n{\"type\":\"no-id\"}"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := readEvents(t, path, sdktest.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(res.Events); strings.Join(got, ",") != "a,b," || res.Events[2].Type != "no-id" {
		t.Fatalf("got events %q, want a, b and one without id", got)
	}
	last := res.Positions[len(res.Positions)-1]
	if got := binary.BigEndian.Uint64(last); got != uint64(len(content)) {
		t.Errorf("last position %d, want the file size %d", got, len(content))
	}
}

func TestSourceErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.jsonl")
	content := "{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\": oops}\n"
	if err := os.WriteFile(bad, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.jsonl")
	if err := os.WriteFile(good, []byte("{\"id\":\"a\"}\n{\"id\":\"b\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		from pluginsdk.Position
		want []string
	}{
		{"malformed line", bad, nil, []string{bad + ":3:", "invalid JSON"}},
		{"malformed line after resume", bad, Offset(11), []string{bad + ":3:"}},
		{"missing file", filepath.Join(dir, "nope.jsonl"), nil, []string{"nope.jsonl", "no such file or directory"}},
		{"malformed position", good, pluginsdk.Position{1, 2}, []string{`"0102"`, "not a file position"}},
		{"offset past the end", good, Offset(500), []string{"beyond the end", "truncated or replaced"}},
		{"offset inside a line", good, Offset(3), []string{"not at the start of a line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readEvents(t, tt.path, sdktest.ReadOptions{From: tt.from})
			if err == nil {
				t.Fatal("read succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestSinkRelativePathUsesWorkingDirectory(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeEvents(t, map[string]any{"path": "out/events.jsonl"}, sampleEvents()[:1])
	if _, err := os.Stat(filepath.Join(dir, "out", "events.jsonl")); err != nil {
		t.Errorf("relative path not written under the working directory: %v", err)
	}
}

func TestSinkAppendsOrTruncates(t *testing.T) {
	evs := sampleEvents()
	tests := []struct {
		name   string
		config map[string]any
		want   []string
	}{
		{"append by default", map[string]any{}, []string{"old", "e1"}},
		{"append = false truncates", map[string]any{"append": false}, []string{"e1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out.jsonl")
			if err := os.WriteFile(path, []byte("{\"id\":\"old\"}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tt.config["path"] = path
			writeEvents(t, tt.config, evs[:1])
			res, err := readEvents(t, path, sdktest.ReadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(res.Events); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("file holds %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSinkOpenFailureNamesTheOSError(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSink, "file", map[string]any{"path": filepath.Join(notDir, "out.jsonl")})
	_, err := h.Write(t.Context(), sampleEvents())
	if err == nil {
		t.Fatal("writing below a regular file succeeded")
	}
	for _, want := range []string{"plain-file", "not a directory"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestSinkNacksFailedWrite(t *testing.T) {
	const full = "/dev/full" // every write fails with ENOSPC
	if _, err := os.Stat(full); err != nil {
		t.Skipf("%s is not available on this system: %v", full, err)
	}
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSink, "file", map[string]any{"path": full})
	acks, err := h.Write(t.Context(), sampleEvents())
	if err != nil {
		t.Fatal(err)
	}
	if acks[0].GetOk() {
		t.Fatal("a write to a full device was acked")
	}
	if !strings.Contains(acks[0].GetError(), "no space left on device") {
		t.Errorf("nack reason %q does not carry the OS error", acks[0].GetError())
	}
}

func TestConfigRequiresPath(t *testing.T) {
	for _, kind := range []sdktest.Kind{sdktest.KindSource, sdktest.KindSink} {
		t.Run(kind.String(), func(t *testing.T) {
			h := sdktest.New(t, Plugin(version))
			diags, err := h.Configure(t.Context(), kind, "file", map[string]any{"path": ""})
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) != 1 || strings.Join(diags[0].GetAttributePath(), ".") != "path" {
				t.Fatalf("diagnostics %v, want one at path", diags)
			}
		})
	}
}

// Devices cannot be synced; writing to one with the default fsync = true
// must still succeed.
func TestSinkWritesToDevice(t *testing.T) {
	const null = "/dev/null"
	if _, err := os.Stat(null); err != nil {
		t.Skipf("%s is not available on this system: %v", null, err)
	}
	writeEvents(t, map[string]any{"path": null}, sampleEvents())
}
