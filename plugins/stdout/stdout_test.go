package stdout

import (
	"bytes"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// output stands in for the process's stdout. The sink writes from a gRPC
// server goroutine, so access is locked.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

func testPlugin(out *output) pluginsdk.Plugin {
	return newPlugin("0.0.0-test", func() io.Writer { return out })
}

func events() []pluginsdk.Event {
	return []pluginsdk.Event{
		{ID: "e1", Type: "order.created", Time: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			Attributes:  []pluginsdk.Attribute{{Key: "env", Value: "prod"}, {Key: "b", Value: "two words"}},
			ContentType: "application/json", Data: []byte(`{"n":1}`)},
		{ID: "e2", Type: "log", Data: []byte("multi\nline")},
		{ID: "e3", Type: "bin", Data: []byte{0xff, 0x01}},
		{},
	}
}

func TestConformance(t *testing.T) {
	out := &output{}
	sdktest.Conformance(t, testPlugin(out),
		sdktest.Case{Name: "json", Kind: sdktest.KindSink, Component: "stdout", Input: events()},
		sdktest.Case{Name: "text", Kind: sdktest.KindSink, Component: "stdout",
			Config: map[string]any{"format": "text"}, Input: events()},
	)
	// The real plugin declares the same schema.
	if got, want := sdktest.Schema(Plugin("0.0.0-test")).String(), sdktest.Schema(testPlugin(out)).String(); got != want {
		t.Errorf("Plugin and the test plugin differ:\n%s\n%s", got, want)
	}
}

func TestPrints(t *testing.T) {
	tests := []struct {
		format string
		want   []string
	}{
		{"json", []string{
			`{"id":"e1","type":"order.created","time":"2025-01-01T00:00:00Z","attributes":{"b":"two words","env":"prod"},"content_type":"application/json","data":{"n":1}}`,
			`{"id":"e2","type":"log","data":"multi\nline"}`,
			`{"id":"e3","type":"bin","data_base64":"/wE="}`,
			`{"id":"","type":""}`,
		}},
		{"text", []string{
			`e1 order.created b="two words",env=prod {"n":1}`,
			`e2 log - "multi\nline"`,
			`e3 bin - "\xff\x01"`,
			`- - -`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out := &output{}
			h := sdktest.New(t, testPlugin(out))
			h.MustConfigure(t, sdktest.KindSink, "stdout", map[string]any{"format": tt.format})
			evs := events()
			acks, err := h.Write(t.Context(), evs[:2], evs[2:])
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range acks {
				if !a.GetOk() {
					t.Fatalf("nack: %s", a.GetError())
				}
			}
			want := strings.Join(tt.want, "\n") + "\n"
			if got := out.String(); got != want {
				t.Errorf("printed:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// Each batch is on stdout by the time it is acked, not at Teardown.
func TestWriteFlushesEachBatch(t *testing.T) {
	out := &output{}
	h := sdktest.New(t, testPlugin(out))
	h.MustConfigure(t, sdktest.KindSink, "stdout", map[string]any{"format": "text"})
	stream, err := h.Sink.Stream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	evs := events()[:1]
	if err := stream.Send(sinkRequest(evs)); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); !strings.HasPrefix(got, "e1 ") {
		t.Errorf("after the ack stdout holds %q, want the batch", got)
	}
}

func TestBadFormat(t *testing.T) {
	h := sdktest.New(t, testPlugin(&output{}))
	diags, err := h.Configure(t.Context(), sdktest.KindSink, "stdout", map[string]any{"format": "yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if len(diags) != 1 || strings.Join(diags[0].GetAttributePath(), ".") != "format" {
		t.Fatalf("diagnostics %v, want one at format", diags)
	}
	if d := diags[0].GetDetail(); !strings.Contains(d, `"yaml"`) || !strings.Contains(d, `"json"`) || !strings.Contains(d, `"text"`) {
		t.Errorf("detail %q should name the bad value and the accepted ones", d)
	}
}

func sinkRequest(evs []pluginsdk.Event) *flowctlv1.SinkRequest {
	return &flowctlv1.SinkRequest{Seq: 1, Batch: &flowctlv1.Batch{Count: uint32(len(evs)), Events: sdktest.AppendEvents(nil, evs)}}
}
