// Package cel is the flowctl "cel" processor plugin: it filters events and
// sets attributes with expressions in CEL, the Common Expression Language
// (cel.dev), over each event's fields, attributes and JSON data.
//
//	processor "cel" "orders" {
//	  inputs = [source.in]
//	  filter = "type == 'order' && data.total >= 100"
//	  set    = { tier = "data.total >= 1000 ? 'gold' : 'silver'" }
//	}
//
// Every expression sees these variables, describing the event as it
// arrived:
//
//	id, type, content_type  string
//	key                     string (bytes that are not UTF-8 become U+FFFD)
//	time                    timestamp (0001-01-01T00:00:00Z when the event has none)
//	attributes              map(string, string)
//	data                    dyn: the payload decoded from JSON when the content
//	                        type is JSON (or absent and the payload is JSON),
//	                        otherwise null. Whole JSON numbers are ints, others
//	                        doubles.
//
// The standard CEL library, optional values (attributes.?env.orValue("")) and
// the cel-go string extensions (lowerAscii, split, format, ...) are
// available.
//
// filter must be a bool expression: events for which it is false are
// dropped (the host counts them as delivered). set maps attribute names to
// expressions evaluated on kept events; a string result is used as is, a
// number, bool or timestamp is written in its CEL/JSON form, and null
// removes the attribute. Expressions are compiled and type-checked when the
// pipeline is configured, so `flowctl validate` reports a bad one at its
// attribute, with the line and column inside the expression.
//
// An expression that fails on an event (a missing map key, a division by
// zero, data that is not valid JSON) fails that event only; the component's
// on_error policy decides what happens to it.
package cel

import "github.com/flowctl/flowctl/pluginsdk"

// Plugin returns the cel plugin at the given version.
func Plugin(version string) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "cel",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewProcessor("cel",
				"Filters events and sets attributes with CEL expressions over the event's fields, attributes and JSON data.",
				spec(), newProcessor),
		},
	}
}

func spec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.String("filter", "CEL bool expression; events for which it is false are dropped. Variables: id, type, time, key, attributes, content_type, data."),
		pluginsdk.StringMap("set", "Attributes to set, each a CEL expression; a null result removes the attribute."),
	)
}
