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
	// Sensitive values are marked so that flowctl never prints them; the
	// plugin still receives them.
	Sensitive   bool
	Validations []*Validation
	DeclRange   hcl.Range
	// defaultRange is the default's expression, where a failed validation
	// of the default points.
	defaultRange hcl.Range
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
		{Name: "sensitive"},
	},
	Blocks: []hcl.BlockHeaderSchema{{Type: "validation"}},
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
	if attr, ok := content.Attributes["sensitive"]; ok {
		sv, moreDiags := staticValue(attr, cty.Bool)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			v.Sensitive = sv.True()
		}
	}
	for _, vb := range content.Blocks {
		val, moreDiags := parseValidation(v.Name, vb)
		diags = append(diags, moreDiags...)
		if val != nil {
			v.Validations = append(v.Validations, val)
		}
	}
	if attr, ok := content.Attributes["default"]; ok {
		v.defaultRange = attr.Expr.Range()
		val, moreDiags := defaultValue(attr)
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

// VarSources are the variable values given outside the pipeline files.
type VarSources struct {
	// Flags are the -var NAME=VALUE pairs.
	Flags map[string]string
	// Files are the -var-file paths, in the order given: HCL files of
	// NAME = expression lines, or JSON objects (.json).
	Files []string
	// Environ is the process environment (os.Environ()); only
	// FLOWCTL_VAR_NAME entries are read, and names the pipeline does not
	// declare are ignored, so one environment can serve many pipelines.
	Environ []string
}

// EnvVarPrefix starts the environment variables that set pipeline
// variables: FLOWCTL_VAR_count=5 sets var.count.
const EnvVarPrefix = "FLOWCTL_VAR_"

// EvalContext returns the context plugin configuration is evaluated in: every
// variable as var.NAME, every local as local.NAME, and the functions (see
// the package doc).
//
// A variable's value is, from lowest to highest precedence: its default,
// FLOWCTL_VAR_NAME, the -var-file files in order, -var. A value for a
// variable of a primitive type (string, number, bool) or of no declared
// type, from -var or the environment, is taken as a literal string and
// converted; any other is parsed as an HCL expression, e.g.
// -var 'tags=["a","b"]'. A name that is not declared (except in the
// environment), a value that does not convert, a failed validation rule and
// a variable left without a value are errors. A value in error is unknown in
// the returned context, so expressions that use it do not report the problem
// again. Sensitive values are marked (cty marks) wherever they flow.
func (c *Config) EvalContext(src VarSources) (*hcl.EvalContext, hcl.Diagnostics) {
	values, diags := c.variableValues(src)
	vars := cty.ObjectVal(values)
	locals, moreDiags := c.localValues(vars)
	diags = append(diags, moreDiags...)
	return &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": vars, "local": cty.ObjectVal(locals)},
		Functions: bodyFunctions(),
	}, diags
}

// given is one value from outside the files' defaults, with where it came
// from for messages.
type given struct {
	val cty.Value
	// rng is the value's range in a variable file or default; zero for
	// -var and the environment, which from names instead ("-var count").
	rng  hcl.Range
	from string
}

// variableValues decides the value of every declared variable. It is the one
// place the sources of values are ranked.
func (c *Config) variableValues(src VarSources) (map[string]cty.Value, hcl.Diagnostics) {
	declared := make(map[string]*Variable, len(c.Variables))
	names := make([]string, 0, len(c.Variables))
	for _, v := range c.Variables {
		declared[v.Name] = v
		names = append(names, v.Name)
	}
	vals := map[string]given{}
	failed := map[string]bool{}
	diags := c.fromEnviron(src.Environ, declared, vals, failed)
	for _, path := range src.Files {
		diags = append(diags, c.fromVarFile(path, declared, names, vals, failed)...)
	}
	diags = append(diags, fromFlags(src.Flags, declared, names, vals, failed)...)

	values := make(map[string]cty.Value, len(c.Variables))
	for _, v := range c.Variables {
		g, ok := vals[v.Name]
		switch {
		case failed[v.Name]:
			values[v.Name] = cty.UnknownVal(v.Type)
			continue
		case !ok && v.Required():
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "No value for required variable",
				Detail: fmt.Sprintf("The variable %q has no default, so it needs a value: add -var %s=VALUE to the command line, set %s%s, or put it in a -var-file.",
					v.Name, v.Name, EnvVarPrefix, v.Name),
				Subject: v.DeclRange.Ptr(),
			})
			values[v.Name] = cty.UnknownVal(v.Type)
			continue
		case !ok:
			g = given{val: v.Default, rng: v.defaultRange}
		}
		moreDiags := v.validate(g)
		diags = append(diags, moreDiags...)
		val := g.val
		if moreDiags.HasErrors() {
			val = cty.UnknownVal(v.Type)
		}
		if v.Sensitive {
			val = val.Mark(sensitive)
		}
		values[v.Name] = val
	}
	return values, diags
}

// sensitive marks the values of sensitive variables and everything computed
// from them.
type sensitiveMark struct{}

var sensitive = sensitiveMark{}

func (c *Config) fromEnviron(environ []string, declared map[string]*Variable, vals map[string]given, failed map[string]bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, kv := range environ {
		key, value, ok := strings.Cut(kv, "=")
		name, isVar := strings.CutPrefix(key, EnvVarPrefix)
		v := declared[name]
		if !ok || !isVar || v == nil {
			continue
		}
		val, moreDiags := v.parseRaw(value, EnvVarPrefix+name)
		diags = append(diags, moreDiags...)
		record(v.Name, given{val: val, from: EnvVarPrefix + name}, moreDiags, vals, failed)
	}
	return diags
}

func fromFlags(flags map[string]string, declared map[string]*Variable, names []string, vals map[string]given, failed map[string]bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	keys := make([]string, 0, len(flags))
	for name := range flags {
		keys = append(keys, name)
	}
	slices.Sort(keys) // map order must not decide the order of diagnostics
	for _, name := range keys {
		v, ok := declared[name]
		if !ok {
			diags = append(diags, undeclaredVariable(name, names))
			continue
		}
		val, moreDiags := v.parseRaw(flags[name], "-var "+name)
		diags = append(diags, moreDiags...)
		record(name, given{val: val, from: "-var " + name}, moreDiags, vals, failed)
	}
	return diags
}

// record keeps a value from a higher-ranked source; a failed one marks the
// variable so no lower-ranked value hides the error.
func record(name string, g given, diags hcl.Diagnostics, vals map[string]given, failed map[string]bool) {
	if diags.HasErrors() {
		failed[name] = true
		return
	}
	delete(failed, name)
	vals[name] = g
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

// parseRaw converts a command-line or environment value to the variable's
// type. Such values have no source range, so the diagnostics have no Subject
// and instead name the variable and where the value came from (from, e.g.
// "-var count"). A sensitive value is never shown.
func (v *Variable) parseRaw(s, from string) (cty.Value, hcl.Diagnostics) {
	invalid := func(problem string) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  v.invalidSummary(from, s),
			Detail: fmt.Sprintf("%s. The variable is declared at %s with type %s.",
				problem, posString(v.DeclRange), typeexpr.TypeString(v.Type)),
		}}
	}

	val := cty.StringVal(s)
	if !v.Type.IsPrimitiveType() && v.Type != cty.DynamicPseudoType {
		expr, diags := hclsyntax.ParseExpression([]byte(s), from, hcl.InitialPos)
		if diags.HasErrors() {
			if v.Sensitive {
				return cty.NilVal, invalid("The value is not a valid HCL expression")
			}
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

// invalidSummary heads a diagnostic about a value that has no source range:
// which variable, where the value came from, and the value unless it is
// sensitive.
func (v *Variable) invalidSummary(from, value string) string {
	if v.Sensitive {
		value = "(sensitive value)"
	}
	return fmt.Sprintf("Invalid value for variable %q (%s=%s)", v.Name, from, value)
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
