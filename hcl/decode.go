package hcl

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// DecodeComponent decodes the plugin's part of a component block against the
// schema its plugin reported, evaluating expressions in ectx (see
// Config.EvalContext).
//
// HCL reports what is wrong with the block, each at its range: an argument
// the schema does not declare (with a "Did you mean" when one is close), a
// value of the wrong type, a missing required argument, a nested block. A
// DURATION attribute must also parse with time.ParseDuration.
//
// configJSON is the JSON object of the attributes that are set, ready for
// ConfigureRequest.config_json. Attributes left out or set to null are
// absent: defaults are the plugin's to apply, not the host's. configJSON is
// nil when diags has errors.
func DecodeComponent(c *Component, schema *flowctlv1.ComponentSchema, ectx *hcl.EvalContext) (configJSON []byte, diags hcl.Diagnostics) {
	configJSON, _, diags = DecodeComponentSensitive(c, schema, ectx)
	return configJSON, diags
}

// DecodeComponentSensitive is DecodeComponent that also returns the text of
// the configuration's sensitive values: those computed from sensitive
// variables, and every value of an attribute the plugin's schema declares
// sensitive. The host redacts them from whatever the plugin says.
func DecodeComponentSensitive(c *Component, schema *flowctlv1.ComponentSchema, ectx *hcl.EvalContext) (configJSON []byte, sensitiveText []string, diags hcl.Diagnostics) {
	if schema.GetKind() != c.Address.Kind.Proto() {
		// The caller chose the wrong schema: a bug, but one worth a clear message.
		return nil, nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Plugin schema does not match the component",
			Detail: fmt.Sprintf("%s is a %s of type %q, but the schema given to decode it is for the %s %q. This is a bug in flowctl; please report it.",
				c.Address, c.Address.Kind, c.Type, kindFromProto(schema.GetKind()), schema.GetName()),
			Subject: c.TypeRange.Ptr(),
		}}
	}

	attrs := schema.GetAttributes()
	spec := make(hcldec.ObjectSpec, len(attrs))
	for _, a := range attrs {
		spec[a.GetName()] = &hcldec.AttrSpec{
			Name:     a.GetName(),
			Type:     attributeType(a.GetType()),
			Required: a.GetRequired(),
		}
	}

	val, diags := hcldec.Decode(c.Body, spec, ectx)
	diags = explainUndeclaredVariables(diags, hcldec.Variables(c.Body, spec), ectx)
	// The plugin gets sensitive values as they are; what flowctl prints
	// about them below must not show them.
	marked := map[string]bool{}
	for _, a := range attrs {
		v := val.GetAttr(a.GetName())
		if v.ContainsMarked() {
			marked[a.GetName()] = true
			sensitiveText = append(sensitiveText, markedStrings(v)...)
		}
		if a.GetSensitive() && v.IsWhollyKnown() {
			sensitiveText = append(sensitiveText, markedStrings(v.Mark(sensitive))...)
		}
	}
	sensitiveText = compactStrings(sensitiveText)
	val, _ = val.UnmarkDeep()
	for _, a := range attrs {
		diags = append(diags, checkAttribute(c, a, val.GetAttr(a.GetName()), spec[a.GetName()], marked[a.GetName()] || a.GetSensitive())...)
	}
	// hcldec visits an ObjectSpec in map order; the user reads the file top down.
	sortBySource(diags)
	if diags.HasErrors() {
		return nil, sensitiveText, diags
	}

	out, err := configObject(val)
	if err != nil {
		return nil, sensitiveText, append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Cannot encode configuration",
			Detail:   fmt.Sprintf("The configuration of %s cannot be sent to its plugin: %s.", c.Address, err),
			Subject:  c.DeclRange.Ptr(),
		})
	}
	return out, sensitiveText, diags
}

// attributeType maps a protocol attribute type to the cty type HCL converts
// the value to. A type this host does not know (from a newer plugin) accepts
// any value and passes it on as JSON, so such plugins still work.
func attributeType(t flowctlv1.AttributeType) cty.Type {
	switch t {
	case flowctlv1.AttributeType_ATTRIBUTE_TYPE_STRING, flowctlv1.AttributeType_ATTRIBUTE_TYPE_DURATION:
		return cty.String
	case flowctlv1.AttributeType_ATTRIBUTE_TYPE_NUMBER:
		return cty.Number
	case flowctlv1.AttributeType_ATTRIBUTE_TYPE_BOOL:
		return cty.Bool
	case flowctlv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING:
		return cty.List(cty.String)
	case flowctlv1.AttributeType_ATTRIBUTE_TYPE_MAP_OF_STRING:
		return cty.Map(cty.String)
	default:
		return cty.DynamicPseudoType
	}
}

// checkAttribute adds what HCL's type conversion cannot know: a required
// attribute explicitly set to null is as missing as one left out, and a
// duration must parse.
func checkAttribute(c *Component, a *flowctlv1.Attribute, v cty.Value, spec hcldec.Spec, sensitive bool) hcl.Diagnostics {
	if !v.IsKnown() {
		return nil // already reported, by HCL or while deciding variables
	}
	rng := hcldec.SourceRange(c.Body, spec)
	if v.IsNull() {
		if a.GetRequired() && hasAttribute(c.Body, a.GetName()) {
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf("The argument %q is required, but its value is null.", a.GetName()),
				Subject:  rng.Ptr(),
			}}
		}
		return nil
	}
	if a.GetType() == flowctlv1.AttributeType_ATTRIBUTE_TYPE_DURATION {
		if _, err := time.ParseDuration(v.AsString()); err != nil {
			shown := fmt.Sprintf("%q", v.AsString())
			if sensitive {
				shown = "(sensitive value)"
			}
			return hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid duration",
				Detail:   fmt.Sprintf("The argument %q is a duration such as \"250ms\", \"10s\" or \"1h30m\", not %s.", a.GetName(), shown),
				Subject:  rng.Ptr(),
			}}
		}
	}
	return nil
}

func hasAttribute(body hcl.Body, name string) bool {
	content, _, _ := body.PartialContent(&hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: name}}})
	_, ok := content.Attributes[name]
	return ok
}

// configObject encodes the set attributes of a decoded object as a JSON
// object. Each value is encoded with its own type, so the plugin sees plain
// JSON whatever the declared type.
func configObject(val cty.Value) ([]byte, error) {
	names := make([]string, 0, len(val.Type().AttributeTypes()))
	for name := range val.Type().AttributeTypes() {
		names = append(names, name)
	}
	slices.Sort(names)

	obj := make(map[string]json.RawMessage, len(names))
	for _, name := range names {
		v := val.GetAttr(name)
		if v.IsNull() || !v.IsWhollyKnown() {
			continue
		}
		b, err := ctyjson.Marshal(v, v.Type())
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", name, err)
		}
		obj[name] = b
	}
	return json.Marshal(obj)
}

// explainUndeclaredVariables replaces HCL's generic "This object does not
// have an attribute named ..." for var.NAME and local.NAME with a diagnostic
// that says a variable (or local value) is missing and suggests the closest
// declared one.
func explainUndeclaredVariables(diags hcl.Diagnostics, refs []hcl.Traversal, ectx *hcl.EvalContext) hcl.Diagnostics {
	if ectx == nil {
		return diags
	}
	for _, ref := range refs {
		root := ref.RootName()
		obj, ok := ectx.Variables[root]
		if (root != "var" && root != "local") || !ok || !obj.Type().IsObjectType() || len(ref) < 2 {
			continue
		}
		step, ok := ref[1].(hcl.TraverseAttr)
		if !ok || obj.Type().HasAttribute(step.Name) {
			continue
		}
		declared := make([]string, 0, len(obj.Type().AttributeTypes()))
		for name := range obj.Type().AttributeTypes() {
			declared = append(declared, name)
		}
		slices.Sort(declared)
		rng := step.SrcRange
		diags = slices.DeleteFunc(diags, func(d *hcl.Diagnostic) bool {
			return d.Subject != nil && *d.Subject == rng
		})
		if root == "local" {
			diags = append(diags, undeclaredLocal(step.Name, declared, ref.SourceRange()))
			continue
		}
		detail := fmt.Sprintf("The pipeline declares no variable named %q.", step.Name)
		if s := NameSuggestion(step.Name, declared); s != "" {
			detail += fmt.Sprintf(" Did you mean %q?", s)
		} else {
			detail += fmt.Sprintf(" Declare it with a variable %q block.", step.Name)
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Reference to undeclared variable",
			Detail:   detail,
			Subject:  ref.SourceRange().Ptr(),
		})
	}
	return diags
}

// sortBySource orders diagnostics by where their subject starts, those without
// a subject first. Ties keep a fixed order too, so output is reproducible.
func sortBySource(diags hcl.Diagnostics) {
	key := func(d *hcl.Diagnostic) (string, int) {
		if d.Subject == nil {
			return "", -1
		}
		return d.Subject.Filename, d.Subject.Start.Byte
	}
	slices.SortStableFunc(diags, func(a, b *hcl.Diagnostic) int {
		af, ab := key(a)
		bf, bb := key(b)
		return cmp.Or(
			strings.Compare(af, bf),
			cmp.Compare(ab, bb),
			strings.Compare(a.Summary, b.Summary),
			strings.Compare(a.Detail, b.Detail),
		)
	})
}

func kindFromProto(k flowctlv1.Kind) string {
	for _, kind := range kinds {
		if kind.Proto() == k {
			return kind.String()
		}
	}
	return k.String()
}
