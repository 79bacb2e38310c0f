package hcl

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
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
	expr, found := c.exprOf(path)
	if expr == nil {
		return c.DeclRange, found
	}
	return expr.Range(), found
}

// exprOf finds the expression path points at (see Range): nil when path[0]
// is not in the block; the attribute's whole expression when the rest of
// the path cannot be followed.
func (c *Component) exprOf(path []string) (hcl.Expression, bool) {
	if len(path) == 0 || c.Body == nil {
		return nil, false
	}
	content, _, _ := c.Body.PartialContent(&hcl.BodySchema{
		Attributes: []hcl.AttributeSchema{{Name: path[0]}},
	})
	attr, ok := content.Attributes[path[0]]
	if !ok {
		return nil, false
	}
	if len(path) > 1 {
		if item, ok := itemExpr(attr.Expr, path[1]); ok {
			return item, true
		}
	}
	return attr.Expr, true
}

// itemExpr finds the value for key in a literal map/object or the element
// at index key in a literal list. Anything computed (a variable, a function
// call) has no items to find.
func itemExpr(expr hcl.Expression, key string) (hcl.Expression, bool) {
	if pairs, diags := hcl.ExprMap(expr); !diags.HasErrors() {
		for _, kv := range pairs {
			k, diags := kv.Key.Value(nil)
			if !diags.HasErrors() && k.Type() == cty.String && k.IsKnown() && !k.IsNull() && k.AsString() == key {
				return kv.Value, true
			}
		}
		return nil, false
	}
	if elems, diags := hcl.ExprList(expr); !diags.HasErrors() {
		if i, err := strconv.Atoi(key); err == nil && i >= 0 && i < len(elems) {
			return elems[i], true
		}
	}
	return nil, false
}

// valueRange is the range of bytes [start, end) of the string expr writes,
// when expr is a one-line string literal whose source is its value (no
// escapes, no interpolation): only then do value offsets map to columns.
func valueRange(expr hcl.Expression, start, end int) (hcl.Range, bool) {
	tmpl, ok := expr.(*hclsyntax.TemplateExpr)
	if !ok || len(tmpl.Parts) != 1 {
		return hcl.Range{}, false
	}
	lit, ok := tmpl.Parts[0].(*hclsyntax.LiteralValueExpr)
	if !ok || lit.Val.Type() != cty.String || lit.Val.IsNull() {
		return hcl.Range{}, false
	}
	s, r := lit.Val.AsString(), lit.SrcRange
	if r.Start.Line != r.End.Line || r.End.Byte-r.Start.Byte != len(s) || start < 0 || end > len(s) || start >= end {
		return hcl.Range{}, false
	}
	at := func(off int) hcl.Pos {
		return hcl.Pos{Line: r.Start.Line, Column: r.Start.Column + utf8.RuneCountInString(s[:off]), Byte: r.Start.Byte + off}
	}
	return hcl.Range{Filename: r.Filename, Start: at(start), End: at(end)}, true
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
		if expr, _ := c.exprOf(path); expr != nil && d.GetValueEnd() > 0 {
			if r, ok := valueRange(expr, int(d.GetValueStart()), int(d.GetValueEnd())); ok {
				rng = r
			}
		}
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
