package hcl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Range returns the source range a plugin's attribute path points at: the
// expression of the attribute path[0] and, when that expression is a map,
// object or list constructor and path[1] names one of its keys or indexes,
// that item's value. When the path cannot be followed, it falls back to the
// closest range found, and finally to the block header.
func (c *Component) Range(path []string) hcl.Range {
	r, _ := c.rangeOf(path)
	return r
}

// rangeOf is Range that also reports whether path[0] was found.
func (c *Component) rangeOf(path []string) (hcl.Range, bool) {
	if len(path) == 0 || c.Body == nil {
		return c.DeclRange, false
	}
	content, _, _ := c.Body.PartialContent(&hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: path[0]}},
	})
	attr, ok := content.Attributes[path[0]]
	if !ok {
		return c.DeclRange, false
	}
	if len(path) > 1 {
		if r, ok := itemRange(attr.Expr, path[1]); ok {
			return r, true
		}
	}
	return attr.Expr.Range(), true
}

// itemRange finds the value for key in a literal map/object or the element
// at index key in a literal list. Anything computed (a variable, a function
// call) has no item ranges to find.
func itemRange(expr hcl.Expression, key string) (hcl.Range, bool) {
	if pairs, diags := hcl.ExprMap(expr); !diags.HasErrors() {
		for _, kv := range pairs {
			k, diags := kv.Key.Value(nil)
			if !diags.HasErrors() && k.Type() == cty.String && k.IsKnown() && !k.IsNull() && k.AsString() == key {
				return kv.Value.Range(), true
			}
		}
		return hcl.Range{}, false
	}
	if elems, diags := hcl.ExprList(expr); !diags.HasErrors() {
		if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(elems) {
			return elems[i].Range(), true
		}
	}
	return hcl.Range{}, false
}

// PluginDiagnostics turns the diagnostics a plugin answered Configure with
// into HCL diagnostics that point into the pipeline file. The summary is
// prefixed with the component's address, because the plugin does not know
// which of possibly several blocks it is configuring; the detail is kept.
func (c *Component) PluginDiagnostics(in []*flowctlv1.Diagnostic) hcl.Diagnostics {
	out := make(hcl.Diagnostics, 0, len(in))
	for _, d := range in {
		severity := hcl.DiagError
		if d.GetSeverity() == flowctlv1.Severity_SEVERITY_WARNING {
			severity = hcl.DiagWarning
		}
		summary := d.GetSummary()
		if summary == "" {
			summary = "Invalid configuration"
		}
		detail := d.GetDetail()
		path := d.GetAttributePath()
		rng, found := c.rangeOf(path)
		if !found && len(path) > 0 {
			// Do not lose where the plugin pointed when the file cannot show it.
			detail = strings.TrimSpace(detail + "\n\n" + fmt.Sprintf("(The %s plugin reported this for attribute %s.)", c.Type, strings.Join(path, ".")))
		}
		out = append(out, &hcl.Diagnostic{
			Severity: severity,
			Summary:  c.Address.String() + ": " + summary,
			Detail:   detail,
			Subject:  rng.Ptr(),
		})
	}
	return out
}
