package sdktest

import (
	"bytes"
	"io"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/internal/sdkhooks"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// Kind names a component's kind when a test configures it.
type Kind = wire.Kind

// The component kinds.
const (
	KindSource    = wire.KindSource
	KindProcessor = wire.KindProcessor
	KindSink      = wire.KindSink
)

// Init returns what a component constructor receives for the JSON object
// config checked against spec, with a logger that discards what it is
// given; it fails the test if config does not fit spec. It lets a test
// build a component directly, without the gRPC harness.
func Init(t testing.TB, spec *pluginsdk.Spec, config string) pluginsdk.Init {
	t.Helper()
	cfg, diags := sdkhooks.ParseConfig(spec, []byte(config))
	if len(diags) > 0 {
		t.Fatalf("sdktest: config diagnostics: %v", diags)
	}
	return pluginsdk.Init{Config: cfg.(pluginsdk.Config), Logger: NewLogger(io.Discard), Address: "test.component"}
}

// NewLogger returns a pluginsdk.Logger that writes text lines at level
// info and above to w.
func NewLogger(w io.Writer) pluginsdk.Logger {
	return sdkhooks.NewLogger(hclog.New(&hclog.LoggerOptions{Output: w, Level: hclog.Info})).(pluginsdk.Logger)
}

// EncodeEvents returns the wire encoding of a batch of events, as a source
// sends it.
func EncodeEvents(events []pluginsdk.Event) []byte { return sdkhooks.EncodeEvents(events) }

// DecodeEvents reads a batch's wire encoding. It keeps events that a
// component would refuse (see pluginsdk.Event.Validate), so a test can see
// what a source sent.
func DecodeEvents(b []byte) ([]pluginsdk.Event, error) {
	events, err := sdkhooks.DecodeEvents(b)
	return events.([]pluginsdk.Event), err
}

// Schema returns p's GetSchema answer, also what `describe` prints.
func Schema(p pluginsdk.Plugin) *flowctlv1.GetSchemaResponse { return sdkhooks.Schema(p) }

// describe runs p's `describe` and returns its output.
func describe(p pluginsdk.Plugin) (stdout, stderr *bytes.Buffer, code int) {
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	code = sdkhooks.Serve(p, []string{"describe"}, stdout, stderr)
	return stdout, stderr, code
}
