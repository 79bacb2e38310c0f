package hcl

import (
	"fmt"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// constValue evaluates an attribute that is read at parse time, before any
// variable has a value. A reference gets a diagnostic that says why it is not
// allowed; the nil EvalContext makes HCL report a function call.
func constValue(attr *hcl.Attribute) (cty.Value, hcl.Diagnostics) {
	if vars := attr.Expr.Variables(); len(vars) > 0 {
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Variables not allowed",
			Detail:   fmt.Sprintf("%s is read when the pipeline is parsed, before variables have values, so it must be a constant.", attr.Name),
			Subject:  vars[0].SourceRange().Ptr(),
		}}
	}
	return attr.Expr.Value(nil)
}

// staticValue is constValue for a value that must be known, not null, and
// of type ty.
func staticValue(attr *hcl.Attribute, ty cty.Type) (cty.Value, hcl.Diagnostics) {
	v, diags := constValue(attr)
	if diags.HasErrors() {
		return cty.NilVal, diags
	}
	if v.IsNull() {
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid value",
			Detail:   fmt.Sprintf("%s cannot be null.", attr.Name),
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	conv, err := convert.Convert(v, ty)
	if err != nil {
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Incorrect attribute value type",
			Detail:   fmt.Sprintf("Inappropriate value for attribute %q: %s.", attr.Name, err),
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	return conv, nil
}

func staticString(attr *hcl.Attribute) (string, hcl.Diagnostics) {
	v, diags := staticValue(attr, cty.String)
	if diags.HasErrors() {
		return "", diags
	}
	return v.AsString(), nil
}

// posString renders where a range starts as FILE:LINE:COL, the form
// WriteDiagnostics prints, for details such as "first declared at ...".
func posString(r hcl.Range) string {
	return fmt.Sprintf("%s:%d:%d", r.Filename, r.Start.Line, r.Start.Column)
}

// defaultValue evaluates a variable's default: a constant that may call
// functions, env() among them, but refer to nothing.
func defaultValue(attr *hcl.Attribute) (cty.Value, hcl.Diagnostics) {
	if vars := attr.Expr.Variables(); len(vars) > 0 {
		return cty.NilVal, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Variables not allowed",
			Detail:   fmt.Sprintf("%s is read before variables have values, so it cannot refer to variables or locals; it may call functions, such as env(\"NAME\").", attr.Name),
			Subject:  vars[0].SourceRange().Ptr(),
		}}
	}
	return attr.Expr.Value(&hcl.EvalContext{Functions: defaultFunctions()})
}

// inOrder returns attrs (from JustAttributes, a map) in the order they are
// written, so diagnostics and declarations follow the file, not map order.
func inOrder(attrs hcl.Attributes) []*hcl.Attribute {
	out := make([]*hcl.Attribute, 0, len(attrs))
	for _, a := range attrs {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *hcl.Attribute) int { return a.Range.Start.Byte - b.Range.Start.Byte })
	return out
}

// wholeNumber reads a constant whole number in [lo, hi]; summary and detail
// say what it must be when it is not one.
func wholeNumber(attr *hcl.Attribute, lo, hi int64, summary, detail string) (int, hcl.Diagnostics) {
	v, diags := staticValue(attr, cty.Number)
	if diags.HasErrors() {
		return 0, diags
	}
	bf := v.AsBigFloat()
	n, exact := bf.Int64()
	if !bf.IsInt() || exact != 0 || n < lo || n > hi {
		return 0, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   detail,
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	return int(n), nil
}
