package lockfile

import (
	"fmt"
	"strings"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: "plugin", LabelNames: []string{"address"}}},
}

var pluginSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{
		{Name: "version", Required: true},
		{Name: "constraints"},
		{Name: "hashes", Required: true},
	},
}

// fix is what every lock file diagnostic suggests.
const fix = " Run `flowctl plugins lock` to write a fresh lock file."

// Parse parses a lock file's source; filename is used in ranges only.
func Parse(filename string, src []byte) (*File, hcl.Diagnostics) {
	f := &File{Path: filename}
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		return f, diags
	}
	f.HCL = file
	content, moreDiags := file.Body.Content(rootSchema)
	diags = append(diags, moreDiags...)
	// Duplicates are found by label, so an entry that fails to parse still
	// counts as the first.
	seen := map[string]*hcl.Block{}
	for _, block := range content.Blocks {
		address := block.Labels[0]
		if prev, ok := seen[address]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate plugin in the lock file",
				Detail: fmt.Sprintf("%s is already pinned at %s:%d.%s",
					address, prev.DefRange.Filename, prev.DefRange.Start.Line, fix),
				Subject: block.DefRange.Ptr(),
			})
			continue
		}
		seen[address] = block
		p, moreDiags := parsePlugin(block)
		diags = append(diags, moreDiags...)
		if p != nil {
			f.Set(p)
		}
	}
	return f, diags
}

func parsePlugin(block *hcl.Block) (*Plugin, hcl.Diagnostics) {
	p := &Plugin{Address: block.Labels[0], DeclRange: block.DefRange}
	content, diags := block.Body.Content(pluginSchema)
	if diags.HasErrors() {
		for _, d := range diags {
			d.Detail = strings.TrimSpace(d.Detail + fix)
		}
		return nil, diags
	}
	var moreDiags hcl.Diagnostics
	attr := content.Attributes["version"]
	p.VersionRange = attr.Expr.Range()
	if p.Version, moreDiags = literalString(attr); !moreDiags.HasErrors() {
		if err := checkVersion(p.Version); err != nil {
			moreDiags = invalid(attr, "Invalid version in the lock file", fmt.Sprintf("%q is not a semantic version: %s.", p.Version, err))
		}
	}
	diags = append(diags, moreDiags...)
	if attr, ok := content.Attributes["constraints"]; ok {
		if p.Constraints, moreDiags = literalString(attr); !moreDiags.HasErrors() {
			if _, err := version.NewConstraint(p.Constraints); err != nil {
				moreDiags = invalid(attr, "Invalid constraints in the lock file", fmt.Sprintf("%q is not a version constraint: %s.", p.Constraints, err))
			}
		}
		diags = append(diags, moreDiags...)
	}
	attr = content.Attributes["hashes"]
	p.HashesRange = attr.Expr.Range()
	p.Hashes, moreDiags = hashes(attr)
	diags = append(diags, moreDiags...)
	if diags.HasErrors() {
		return nil, diags
	}
	return p, nil
}

func invalid(attr *hcl.Attribute, summary, detail string) hcl.Diagnostics {
	return hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail + fix, Subject: attr.Expr.Range().Ptr()}}
}

// literalString reads a constant string: the lock file holds no
// expressions, so no variable or function can change what it pins.
func literalString(attr *hcl.Attribute) (string, hcl.Diagnostics) {
	v, ok := literal(attr.Expr)
	if !ok || v.Type() != cty.String || v.IsNull() {
		return "", invalid(attr, "Invalid lock file value", fmt.Sprintf("%s must be a quoted string.", attr.Name))
	}
	return v.AsString(), nil
}

func literal(expr hcl.Expression) (cty.Value, bool) {
	if len(expr.Variables()) > 0 {
		return cty.NilVal, false
	}
	if _, isCall := expr.(*hclsyntax.FunctionCallExpr); isCall {
		return cty.NilVal, false
	}
	v, diags := expr.Value(nil)
	return v, !diags.HasErrors() && v.IsWhollyKnown()
}

func hashes(attr *hcl.Attribute) ([]string, hcl.Diagnostics) {
	exprs, diags := hcl.ExprList(attr.Expr)
	if diags.HasErrors() {
		return nil, invalid(attr, "Invalid hashes in the lock file", "hashes must be a list of quoted strings such as \"h1:...\".")
	}
	var out []string
	for _, e := range exprs {
		v, ok := literal(e)
		if !ok || v.Type() != cty.String || v.IsNull() {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Invalid hashes in the lock file",
				Detail: "hashes must be a list of quoted strings such as \"h1:...\"." + fix, Subject: e.Range().Ptr()}}
		}
		h := v.AsString()
		if !strings.HasPrefix(h, "h1:") {
			return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: "Unsupported hash scheme",
				Detail: fmt.Sprintf("unsupported hash scheme in %q: flowctl knows h1 hashes.%s", h, fix), Subject: e.Range().Ptr()}}
		}
		out = append(out, h)
	}
	return out, nil
}
