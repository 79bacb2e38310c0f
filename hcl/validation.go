package hcl

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Validation is a variable's validation block: a condition its value must
// meet, and the message shown when it does not.
//
//	validation {
//	  condition     = var.count > 0
//	  error_message = "count must be positive."
//	}
type Validation struct {
	Condition    hcl.Expression
	ErrorMessage hcl.Expression
	DeclRange    hcl.Range
}

var validationSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "condition", Required: true},
		{Name: "error_message", Required: true},
	},
}

// parseValidation reads a validation block of variable name. Its
// expressions may refer only to the variable itself: a rule is checked when
// the value is decided, before anything else has one.
func parseValidation(name string, block *hcl.Block) (*Validation, hcl.Diagnostics) {
	content, diags := block.Body.Content(validationSchema)
	if diags.HasErrors() {
		return nil, diags
	}
	val := &Validation{
		Condition:    content.Attributes["condition"].Expr,
		ErrorMessage: content.Attributes["error_message"].Expr,
		DeclRange:    block.DefRange,
	}
	for _, expr := range []hcl.Expression{val.Condition, val.ErrorMessage} {
		for _, ref := range expr.Variables() {
			if isSelf(ref, name) {
				continue
			}
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid reference in variable validation",
				Detail:   fmt.Sprintf("A validation rule of variable %q may refer only to var.%s: it is checked while the variables get their values.", name, name),
				Subject:  ref.SourceRange().Ptr(),
			})
		}
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return val, nil
}

func isSelf(ref hcl.Traversal, name string) bool {
	if ref.RootName() != "var" || len(ref) < 2 {
		return false
	}
	step, ok := ref[1].(hcl.TraverseAttr)
	return ok && step.Name == name
}

// validate checks g against every validation rule of v.
func (v *Variable) validate(g given) hcl.Diagnostics {
	var diags hcl.Diagnostics
	ectx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: g.val})},
		Functions: bodyFunctions(),
	}
	for _, rule := range v.Validations {
		ok, moreDiags := v.check(rule, ectx)
		diags = append(diags, moreDiags...)
		if ok || moreDiags.HasErrors() {
			continue
		}
		d := &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid value for variable",
			Detail: fmt.Sprintf("%s\n\nThis was checked by the validation rule at %s (variable %q).",
				v.errorMessage(rule, ectx), posString(rule.DeclRange), v.Name),
			Subject: g.rng.Ptr(),
		}
		if g.rng == (hcl.Range{}) {
			// A value from the command line or the environment: say which,
			// and point at the rule it broke.
			d.Summary = v.invalidSummary(g.from, valueText(g.val))
			d.Subject = rule.Condition.Range().Ptr()
		}
		diags = append(diags, d)
	}
	return diags
}

func (v *Variable) check(rule *Validation, ectx *hcl.EvalContext) (bool, hcl.Diagnostics) {
	res, diags := rule.Condition.Value(ectx)
	if diags.HasErrors() {
		return false, diags
	}
	res, _ = res.Unmark()
	res, err := convert.Convert(res, cty.Bool)
	if err != nil || res.IsNull() || !res.IsKnown() {
		return false, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid validation condition",
			Detail:   fmt.Sprintf("A condition must be true or false; this one is not (variable %q).", v.Name),
			Subject:  rule.Condition.Range().Ptr(),
		}}
	}
	return res.True(), nil
}

// errorMessage renders the rule's message, unless it would show a
// sensitive value.
func (v *Variable) errorMessage(rule *Validation, ectx *hcl.EvalContext) string {
	if v.Sensitive && len(rule.ErrorMessage.Variables()) > 0 {
		return "(the error message refers to a sensitive value and is not shown)"
	}
	msg, diags := rule.ErrorMessage.Value(ectx)
	if diags.HasErrors() {
		return "(the error message cannot be evaluated: " + diagText(diags) + ")"
	}
	msg, err := convert.Convert(msg, cty.String)
	if err != nil || msg.IsNull() || !msg.IsKnown() {
		return "(the error message is not a string)"
	}
	return msg.AsString()
}

// valueText renders a value given on the command line or in the
// environment the way it was written: strings bare, others in HCL syntax.
func valueText(v cty.Value) string {
	if v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
		return v.AsString()
	}
	return string(hclwrite.TokensForValue(v).Bytes())
}
