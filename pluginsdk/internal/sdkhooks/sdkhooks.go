// Package sdkhooks lets pluginsdk/sdktest reach the parts of pluginsdk that
// serve the host (registering the gRPC services, parsing a configuration,
// the GetSchema answer) without them being part of the SDK's exported
// surface. pluginsdk sets each hook in an init function; the values are
// pluginsdk types passed as any, because this package cannot import
// pluginsdk (pluginsdk imports it).
package sdkhooks

import (
	"context"
	"io"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

var (
	// RegisterServices registers the plugin services of plugin (a
	// pluginsdk.Plugin) on s. The returned stop tears down the configured
	// component, if any; it is safe to call more than once.
	RegisterServices func(s *grpc.Server, plugin any, log hclog.Logger) (stop func(context.Context))

	// ParseConfig checks the JSON object raw against spec (a
	// *pluginsdk.Spec). It returns a pluginsdk.Config and the diagnostics.
	ParseConfig func(spec any, raw []byte) (config any, diags []*flowctlv1.Diagnostic)

	// Schema is plugin's GetSchema answer; Validate reports mistakes in
	// plugin's definition (plugin is a pluginsdk.Plugin).
	Schema   func(plugin any) *flowctlv1.GetSchemaResponse
	Validate func(plugin any) error
)

// NewLogger wraps l as a pluginsdk.Logger.
var NewLogger func(l hclog.Logger) any

// Serve is pluginsdk.Serve without the exit, with its arguments and output
// given: it returns the exit code.
var Serve func(plugin any, args []string, stdout, stderr io.Writer) int

// EncodeEvents appends the wire encoding of events (a []pluginsdk.Event)
// to dst; DecodeEvents appends the events of b to dst (a
// []pluginsdk.Event), keeping events that a component would refuse.
var (
	EncodeEvents func(dst []byte, events any) []byte
	DecodeEvents func(b []byte, dst any) (events any, err error)
)
