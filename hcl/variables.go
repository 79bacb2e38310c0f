package hcl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Variable is a variable block: an input to the pipeline, set with -var on the
// command line or taken from its default, and referred to as var.NAME.
type Variable struct {
	Name string
	// Type is the declared type constraint; cty.DynamicPseudoType (any)
	// when the block has no type attribute.
	Type cty.Type
	// Default is the default value converted to Type, or cty.NilVal when the
	// variable has none and so must be set.
	Default     cty.Value
	Description string
	DeclRange   hcl.Range
}

// Required reports whether the variable must be given a value.
func (v *Variable) Required() bool {
	return v.Default == cty.NilVal
}

var variableSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "type"},
		{Name: "default"},
		{Name: "description"},
	},
}

func (p *parser) variable(block *hcl.Block) hcl.Diagnostics {
	v := &Variable{
		Name:      block.Labels[0],
		Type:      cty.DynamicPseudoType,
		Default:   cty.NilVal,
		DeclRange: block.DefRange,
	}
	var diags hcl.Diagnostics
	if !hclsyntax.ValidIdentifier(v.Name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid variable name",
			Detail:   fmt.Sprintf("%q cannot be used in a reference such as var.NAME. A name starts with a letter or underscore and contains only letters, digits, underscores and dashes.", v.Name),
			Subject:  block.LabelRanges[0].Ptr(),
		})
	}
	if prev, ok := p.variables[v.Name]; ok {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate variable",
			Detail:   fmt.Sprintf("A variable named %q was already declared at %s. Names must be unique among variables; rename one of them.", v.Name, posString(prev.DeclRange)),
			Subject:  v.DeclRange.Ptr(),
		})
	}

	content, moreDiags := block.Body.Content(variableSchema)
	diags = append(diags, moreDiags...)

	if attr, ok := content.Attributes["type"]; ok {
		ty, moreDiags := typeexpr.TypeConstraint(attr.Expr)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			v.Type = ty
		}
	}
	if attr, ok := content.Attributes["description"]; ok {
		desc, moreDiags := staticString(attr)
		diags = append(diags, moreDiags...)
		v.Description = desc
	}
	if attr, ok := content.Attributes["default"]; ok {
		val, moreDiags := constValue(attr)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			conv, err := convert.Convert(val, v.Type)
			if err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid default value for variable",
					Detail:   fmt.Sprintf("The default of variable %q does not match its type %s: %s.", v.Name, typeexpr.TypeString(v.Type), err),
					Subject:  attr.Expr.Range().Ptr(),
				})
			} else {
				v.Default = conv
			}
		}
	}

	p.variables[v.Name] = v
	p.cfg.Variables = append(p.cfg.Variables, v)
	return diags
}

// EvalContext returns the context plugin configuration is evaluated in: every
// variable as var.NAME and the built-in functions (see the package doc).
//
// raw holds the -var NAME=VALUE pairs from the command line. A value for a
// variable of a primitive type (string, number, bool) or of no declared type
// is taken as a literal string and converted; any other value is parsed as an
// HCL expression, e.g. -var 'tags=["a","b"]'. A name that is not declared, a
// value that does not convert, and a variable left without a value are
// errors. A variable whose value is in error is unknown in the returned
// context, so expressions that use it do not report the problem again.
func (c *Config) EvalContext(raw map[string]string) (*hcl.EvalContext, hcl.Diagnostics) {
	values, diags := c.variableValues(raw)
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(values)},
		Functions: functions(),
	}, diags
}

// variableValues decides the value of every declared variable. It is the one
// place the sources of values are ranked: the command line, then the default.
func (c *Config) variableValues(raw map[string]string) (map[string]cty.Value, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	declared := make(map[string]*Variable, len(c.Variables))
	names := make([]string, 0, len(c.Variables))
	for _, v := range c.Variables {
		declared[v.Name] = v
		names = append(names, v.Name)
	}

	given := make([]string, 0, len(raw))
	for name := range raw {
		given = append(given, name)
	}
	slices.Sort(given) // map order must not decide the order of diagnostics
	for _, name := range given {
		if _, ok := declared[name]; !ok {
			diags = append(diags, undeclaredVariable(name, names))
		}
	}

	values := make(map[string]cty.Value, len(c.Variables))
	for _, v := range c.Variables {
		var val cty.Value
		var moreDiags hcl.Diagnostics
		if s, ok := raw[v.Name]; ok {
			val, moreDiags = v.parseRaw(s)
		} else if !v.Required() {
			val = v.Default
		} else {
			moreDiags = hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail:   fmt.Sprintf("The variable %q has no default, so it needs a value: add -var %s=VALUE to the command line.", v.Name, v.Name),
				Subject:  v.DeclRange.Ptr(),
			}}
		}
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			val = cty.UnknownVal(v.Type)
		}
		values[v.Name] = val
	}
	return values, diags
}

func undeclaredVariable(name string, declared []string) *hcl.Diagnostic {
	detail := fmt.Sprintf("The pipeline declares no variable named %q.", name)
	switch {
	case len(declared) == 0:
		detail += " It declares no variables at all."
	case NameSuggestion(name, declared) != "":
		detail += fmt.Sprintf(" Did you mean %q?", NameSuggestion(name, declared))
	default:
		detail += " Declared variables: " + strings.Join(declared, ", ") + "."
	}
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  fmt.Sprintf("Value for undeclared variable %q (-var %s=...)", name, name),
		Detail:   detail,
	}
}

// parseRaw converts a -var value to the variable's type. Command-line values
// have no source range, so the diagnostics have no Subject and instead name
// the variable and the flag.
func (v *Variable) parseRaw(s string) (cty.Value, hcl.Diagnostics) {
	invalid := func(problem string) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid value for variable %q (-var %s=%s)", v.Name, v.Name, s),
			Detail: fmt.Sprintf("%s. The variable is declared at %s with type %s.",
				problem, posString(v.DeclRange), typeexpr.TypeString(v.Type)),
		}}
	}

	val := cty.StringVal(s)
	if !v.Type.IsPrimitiveType() && v.Type != cty.DynamicPseudoType {
		expr, diags := hclsyntax.ParseExpression([]byte(s), "-var "+v.Name, hcl.InitialPos)
		if diags.HasErrors() {
			return cty.NilVal, invalid("The value is not a valid HCL expression: " + diagText(diags))
		}
		val, diags = expr.Value(&hcl.EvalContext{Functions: functions()})
		if diags.HasErrors() {
			return cty.NilVal, invalid("The value cannot be evaluated: " + diagText(diags))
		}
	}
	conv, err := convert.Convert(val, v.Type)
	if err != nil {
		return cty.NilVal, invalid(capitalize(err.Error()))
	}
	return conv, nil
}

// diagText flattens diagnostics about a string that has no file, for use
// inside another diagnostic's detail.
func diagText(diags hcl.Diagnostics) string {
	parts := make([]string, 0, len(diags))
	for _, d := range diags {
		parts = append(parts, strings.TrimSuffix(d.Summary+": "+d.Detail, "."))
	}
	return strings.Join(parts, "; ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
