// Package transform is the flowctl "transform" processor plugin: it edits
// event metadata and drops events that match a condition.
//
// For each event, in this order:
//
//  1. drop_if is evaluated on the event as it arrived; a matching event is
//     dropped: it produces no output and the host counts it as delivered.
//  2. drop_attributes removes the named attributes.
//  3. set adds or overwrites attributes (so set wins over drop_attributes).
//  4. type, when not empty, replaces the event type.
//
// Key, time, content type and data pass through untouched. Attributes are
// edited in place: the SDK gives each input event a map of its own.
//
// drop_if is a single comparison or presence test, checked when the
// pipeline is configured:
//
//	<field> == "<value>"    <field> != "<value>"    has(<field>)    !has(<field>)
//
// where <field> is id, type, key (compared as a string) or
// attributes.<name> (name: letters, digits and _ . - / :). Values are
// double-quoted strings with Go/JSON escapes; in HCL write them as
// drop_if = "attributes.env == \"dev\"" or with a heredoc. id, type and key
// are present (for has) when not empty. An attribute is present when the
// event carries it, even with an empty value; a missing attribute is equal
// to no value, so `attributes.x != "v"` is true for an event without x.
package transform

import (
	"context"
	"maps"
	"slices"

	"github.com/flowctl/flowctl/pluginsdk"
)

// Plugin returns the transform plugin at the given version.
func Plugin(version string) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "transform",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewProcessor("transform",
				"Sets and removes attributes, renames the event type and drops events matching a condition.",
				spec(), newProcessor),
		},
	}
}

func spec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.StringMap("set", "Attributes to add or overwrite on every event."),
		pluginsdk.StringList("drop_attributes", "Names of attributes to remove from every event."),
		pluginsdk.String("type", "New event type; empty keeps each event's type."),
		pluginsdk.String("drop_if", `Drop events matching this condition: <field> == "<value>", <field> != "<value>", has(<field>) or !has(<field>), where <field> is id, type, key or attributes.<name>.`),
	)
}

// Processor applies the configured edits.
type Processor struct {
	set    []pluginsdk.Attribute // in key order, so outputs do not vary
	drop   []string
	typ    string
	dropIf *condition // nil: keep every event
}

var _ pluginsdk.Processor = (*Processor)(nil)

func newProcessor(init pluginsdk.Init) (pluginsdk.Processor, error) {
	p := &Processor{
		set:  sortedAttributes(init.Config.StringMap("set")),
		drop: append([]string(nil), init.Config.StringList("drop_attributes")...),
		typ:  init.Config.String("type"),
	}
	if src := init.Config.String("drop_if"); src != "" {
		c, err := parseCondition(src)
		if err != nil {
			return nil, pluginsdk.NewAttrError(err, "drop_if")
		}
		p.dropIf = c
	}
	return p, nil
}

// Open does nothing: the processor holds no resources.
func (p *Processor) Open(context.Context) error { return nil }

// Process emits the edited event, or nothing when drop_if matches.
func (p *Processor) Process(_ context.Context, in pluginsdk.Event, emit func(pluginsdk.Event)) error {
	if p.dropIf != nil && p.dropIf.matches(&in) {
		return nil
	}
	out := in
	p.editAttributes(&out)
	if p.typ != "" {
		out.Type = p.typ
	}
	emit(out)
	return nil
}

// editAttributes applies the attribute edits to e. The event owns its
// attributes, so they are edited in place.
func (p *Processor) editAttributes(e *pluginsdk.Event) {
	for _, k := range p.drop {
		e.DeleteAttribute(k)
	}
	for _, a := range p.set {
		e.SetAttribute(a.Key, a.Value)
	}
}

func sortedAttributes(m map[string]string) []pluginsdk.Attribute {
	out := make([]pluginsdk.Attribute, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, pluginsdk.Attribute{Key: k, Value: m[k]})
	}
	return out
}

// Teardown does nothing.
func (p *Processor) Teardown(context.Context) error { return nil }
