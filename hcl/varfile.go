package hcl

import (
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	hcljson "github.com/hashicorp/hcl/v2/json"
	"github.com/zclconf/go-cty/cty/convert"
)

// fromVarFile reads a -var-file: NAME = expression lines (or a JSON
// object). Expressions are constants that may call functions. The file joins
// c.Files so its diagnostics print with snippets.
func (c *Config) fromVarFile(path string, declared map[string]*Variable, names []string, vals map[string]given, failed map[string]bool) hcl.Diagnostics {
	src, err := os.ReadFile(path)
	if err != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Failed to read variable file",
			Detail:   fmt.Sprintf("Cannot read -var-file %s: %s.", path, err),
		}}
	}
	var f *hcl.File
	var diags hcl.Diagnostics
	if strings.HasSuffix(path, ".json") {
		f, diags = hcljson.Parse(src, path)
	} else {
		f, diags = hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	}
	if f != nil {
		c.Files[path] = f
	}
	if diags.HasErrors() {
		return diags
	}
	attrs, diags := f.Body.JustAttributes()
	for _, attr := range inOrder(attrs) {
		name := attr.Name
		v, ok := declared[name]
		if !ok {
			d := undeclaredVariable(name, names)
			d.Summary = fmt.Sprintf("Value for undeclared variable %q", name)
			d.Subject = attr.NameRange.Ptr()
			diags = append(diags, d)
			continue
		}
		val, moreDiags := defaultValue(attr)
		if !moreDiags.HasErrors() {
			conv, err := convert.Convert(val, v.Type)
			if err != nil {
				moreDiags = hcl.Diagnostics{{
					Severity: hcl.DiagError,
					Summary:  fmt.Sprintf("Invalid value for variable %q", name),
					Detail: fmt.Sprintf("%s. The variable is declared at %s with type %s.",
						capitalize(err.Error()), posString(v.DeclRange), typeexpr.TypeString(v.Type)),
					Subject: attr.Expr.Range().Ptr(),
				}}
			}
			val = conv
		}
		diags = append(diags, moreDiags...)
		record(name, given{val: val, rng: attr.Expr.Range()}, moreDiags, vals, failed)
	}
	return diags
}
