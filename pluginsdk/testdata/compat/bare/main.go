// Command bare is a v1 source that does not embed UnimplementedSource: the
// control of TestForwardCompatible, which must fail to build once Source
// gains a method.
package main

import (
	"context"

	"github.com/flowctl/flowctl/pluginsdk"
)

type source struct{}

func (source) Open(context.Context, pluginsdk.Position) error { return nil }
func (source) Read(context.Context, int) ([]pluginsdk.Record, error) {
	return nil, pluginsdk.ErrEndOfInput
}
func (source) Ack(context.Context, pluginsdk.Position) error { return nil }
func (source) Teardown(context.Context) error                { return nil }

func main() {
	pluginsdk.Serve(pluginsdk.Plugin{Name: "bare", Version: "1.0.0", Components: []pluginsdk.Component{
		pluginsdk.NewSource("none", "no events", pluginsdk.NewSpec(), func(pluginsdk.Init) (pluginsdk.Source, error) { return source{}, nil }),
	}})
}
