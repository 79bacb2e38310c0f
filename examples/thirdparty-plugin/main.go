// Command flowctl-plugin-upper is a flowctl plugin written the way a third
// party writes one: its own module, depending only on
// github.com/flowctl/flowctl/pluginsdk. One binary serves two components:
// the processor "upper" upper-cases the ASCII letters in every event's data
// and can mark each event it changed with an attribute; the sink "tally"
// (tally.go) counts events by type into a JSON file.
package main

import (
	"bytes"
	"context"

	"github.com/flowctl/flowctl/pluginsdk"
)

// version is set by the release build: -ldflags "-X main.version=1.0.0".
var version = "0.0.0-dev"

func main() {
	pluginsdk.Serve(pluginsdk.Plugin{
		Name:    "upper",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewProcessor("upper", "Upper-cases each event's data.",
				pluginsdk.NewSpec(
					pluginsdk.String("mark", "Attribute set to the plugin version on every event it changed; empty sets none."),
				),
				newUpper),
			tallyComponent(),
		},
	})
}

// upper embeds UnimplementedProcessor so that a method a later SDK adds to
// Processor does not break its build.
type upper struct {
	pluginsdk.UnimplementedProcessor
	mark string
}

var _ pluginsdk.Processor = (*upper)(nil)

func newUpper(init pluginsdk.Init) (pluginsdk.Processor, error) {
	return &upper{mark: init.Config.String("mark")}, nil
}

func (u *upper) Open(context.Context) error { return nil }

// Process emits one event per input: the same event with its data
// upper-cased. The input's data is never modified in place: it shares the
// batch's memory. Its attributes are its own to edit.
func (u *upper) Process(_ context.Context, in pluginsdk.Event, emit func(pluginsdk.Event)) error {
	out := in
	out.Data = bytes.ToUpper(in.Data)
	if u.mark != "" {
		out.SetAttribute(u.mark, "upper "+version)
	}
	emit(out)
	return nil
}

func (u *upper) Teardown(context.Context) error { return nil }
