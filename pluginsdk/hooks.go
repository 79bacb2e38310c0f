package pluginsdk

import (
	"context"
	"io"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"

	"github.com/flowctl/flowctl/pluginsdk/internal/sdkhooks"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// init hands sdktest what it needs of the SDK's serving side (see
// sdkhooks), which is no part of the API a plugin author sees.
func init() {
	sdkhooks.RegisterServices = func(s *grpc.Server, plugin any, log hclog.Logger) func(context.Context) {
		return registerServices(s, plugin.(Plugin), log).teardown
	}
	sdkhooks.ParseConfig = func(spec any, raw []byte) (any, []*flowctlv1.Diagnostic) {
		cfg, diags := parseConfig(spec.(*Spec), raw)
		out := make([]*flowctlv1.Diagnostic, 0, len(diags))
		for _, d := range diags {
			out = append(out, d.proto())
		}
		return cfg, out
	}
	sdkhooks.Schema = func(plugin any) *flowctlv1.GetSchemaResponse { return plugin.(Plugin).schema() }
	sdkhooks.Validate = func(plugin any) error { return plugin.(Plugin).validate() }
	sdkhooks.Serve = func(plugin any, args []string, stdout, stderr io.Writer) int {
		return serve(plugin.(Plugin), args, stdout, stderr)
	}
	sdkhooks.EncodeEvents = func(dst []byte, events any) []byte { return appendEvents(dst, events.([]Event)) }
	sdkhooks.DecodeEvents = func(b []byte, dst any) (any, error) {
		var d decoder
		events, _, err := d.decode(b, dst.([]Event), nil)
		return events, err
	}
	sdkhooks.NewLogger = func(l hclog.Logger) any { return Logger(hcLogger{l}) }
}
