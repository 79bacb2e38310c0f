package sdktest

import (
	"context"

	"bytes"
	"google.golang.org/grpc"
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

// AppendEvents appends the wire encoding of a batch of events to dst, as
// the SDK sends it.
func AppendEvents(dst []byte, events []pluginsdk.Event) []byte {
	return sdkhooks.EncodeEvents(dst, events)
}

// DecodeEvents appends the events of a batch's wire encoding to dst, as
// the SDK reads them (aliasing b). It keeps events that a component would
// refuse (see pluginsdk.Event.Validate), so a test sees what was sent.
func DecodeEvents(b []byte, dst []pluginsdk.Event) ([]pluginsdk.Event, error) {
	events, err := sdkhooks.DecodeEvents(b, dst)
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

// Attributes returns e's attributes as a map (a repeated key keeps its last
// value), for comparing in tests.
func Attributes(e pluginsdk.Event) map[string]string {
	m := make(map[string]string, len(e.Attributes))
	for _, a := range e.Attributes {
		m[a.Key] = a.Value
	}
	return m
}

// Register registers p's plugin services on s, as a plugin process does,
// for a test that serves them itself (on a unix socket, say). The returned
// stop tears down the configured component.
func Register(s *grpc.Server, p pluginsdk.Plugin) (stop func(context.Context)) {
	return sdkhooks.RegisterServices(s, p, hclog.NewNullLogger())
}
