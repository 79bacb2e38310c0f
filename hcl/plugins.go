package hcl

import (
	"fmt"
	"slices"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// RequiredPlugin is one entry of the flowctl block's required_plugins: a
// third-party plugin the pipeline uses, under a local name.
//
//	flowctl {
//	  required_plugins {
//	    upper = { source = "example.com/acme/upper", version = "~> 1.0" }
//	  }
//	}
type RequiredPlugin struct {
	// Name is the local name; component blocks use it as their type.
	Name string
	// Source is the plugin address as written; the host parses it.
	Source      string
	SourceRange hcl.Range
	// Constraints is nil when the entry has no version (any version).
	Constraints version.Constraints
	// Version is the constraint as written, "" when absent.
	Version      string
	VersionRange hcl.Range
	// DeclRange covers the whole `name = {...}` item.
	DeclRange hcl.Range
}

const (
	flowctlBlock         = "flowctl"
	requiredPluginsBlock = "required_plugins"
)

var flowctlSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{{Type: requiredPluginsBlock}},
}

// RequiredPlugin returns the required plugin with local name name, or nil.
func (c *Config) RequiredPlugin(name string) *RequiredPlugin {
	i := slices.IndexFunc(c.RequiredPlugins, func(rp *RequiredPlugin) bool { return rp.Name == name })
	if i < 0 {
		return nil
	}
	return c.RequiredPlugins[i]
}

func (p *parser) flowctlBlock(block *hcl.Block) hcl.Diagnostics {
	if p.flowctl != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate flowctl block",
			Detail:   fmt.Sprintf("A pipeline has one flowctl block, and it was already declared at %s. Merge the two.", posString(p.flowctl.DefRange)),
			Subject:  block.DefRange.Ptr(),
		}}
	}
	p.flowctl = block
	content, diags := block.Body.Content(flowctlSchema)
	for i, rb := range content.Blocks {
		if i > 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate required_plugins block",
				Detail:   fmt.Sprintf("The flowctl block has one required_plugins block; the first is at %s.", posString(content.Blocks[0].DefRange)),
				Subject:  rb.DefRange.Ptr(),
			})
			continue
		}
		diags = append(diags, p.requiredPlugins(rb)...)
	}
	return diags
}

func (p *parser) requiredPlugins(block *hcl.Block) hcl.Diagnostics {
	attrs, diags := block.Body.JustAttributes()
	for _, attr := range inOrder(attrs) {
		rp, moreDiags := requiredPlugin(attr)
		diags = append(diags, moreDiags...)
		if rp == nil {
			continue
		}
		p.plugins[rp.Name] = rp
		p.cfg.RequiredPlugins = append(p.cfg.RequiredPlugins, rp)
	}
	return diags
}

const requiredPluginForm = `Each entry is NAME = { source = "HOSTNAME/NAMESPACE/NAME", version = "CONSTRAINT" }, for example upper = { source = "example.com/acme/upper", version = "~> 1.0" }.`

func requiredPlugin(attr *hcl.Attribute) (*RequiredPlugin, hcl.Diagnostics) {
	rp := &RequiredPlugin{Name: attr.Name, DeclRange: attr.Range}
	bad := func(subject hcl.Range, summary, detail string) (*RequiredPlugin, hcl.Diagnostics) {
		return nil, hcl.Diagnostics{{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: subject.Ptr()}}
	}
	if !hclsyntax.ValidIdentifier(rp.Name) {
		return bad(attr.NameRange, "Invalid plugin name", fmt.Sprintf("%q cannot be a component type. A name starts with a letter or underscore and contains only letters, digits, underscores and dashes.", rp.Name))
	}
	obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr)
	if !ok {
		return bad(attr.Expr.Range(), "Invalid required_plugins entry", requiredPluginForm)
	}
	var diags hcl.Diagnostics
	for _, item := range obj.Items {
		key, ok := objectKey(item.KeyExpr)
		switch {
		case !ok:
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid required_plugins entry", Detail: requiredPluginForm, Subject: item.KeyExpr.Range().Ptr()})
		case key == "source":
			rp.SourceRange = item.ValueExpr.Range()
			rp.Source, diags = literalEntryString(item.ValueExpr, "source", diags)
		case key == "version":
			rp.VersionRange = item.ValueExpr.Range()
			var v string
			if v, diags = literalEntryString(item.ValueExpr, "version", diags); v != "" {
				c, err := version.NewConstraint(v)
				if err != nil {
					diags = append(diags, &hcl.Diagnostic{
						Severity: hcl.DiagError, Summary: "Invalid version constraint",
						Detail:  fmt.Sprintf("%s. Write a constraint such as \"~> 1.4\", \">= 1.2, < 2.0\" or \"= 1.4.2\".", capitalize(err.Error())),
						Subject: rp.VersionRange.Ptr(),
					})
				}
				rp.Version, rp.Constraints = v, c
			}
		default:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Unsupported argument",
				Detail:  fmt.Sprintf("A required_plugins entry takes source and version, not %q.", key),
				Subject: item.KeyExpr.Range().Ptr(),
			})
		}
	}
	if rp.SourceRange == (hcl.Range{}) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError, Summary: "Missing plugin source",
			Detail:  fmt.Sprintf("The entry %q needs a source: the plugin's address, such as \"example.com/acme/%s\".", rp.Name, rp.Name),
			Subject: attr.Expr.Range().Ptr(),
		})
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return rp, nil
}

// objectKey reads a bare or quoted object key.
func objectKey(expr hcl.Expression) (string, bool) {
	if k := hcl.ExprAsKeyword(expr); k != "" {
		return k, true
	}
	v, diags := expr.Value(nil)
	if diags.HasErrors() || v.Type() != cty.String || v.IsNull() {
		return "", false
	}
	return v.AsString(), true
}

func literalEntryString(expr hcl.Expression, name string, diags hcl.Diagnostics) (string, hcl.Diagnostics) {
	if len(expr.Variables()) == 0 {
		if v, d := expr.Value(nil); !d.HasErrors() && v.Type() == cty.String && !v.IsNull() {
			return v.AsString(), diags
		}
	}
	return "", append(diags, &hcl.Diagnostic{
		Severity: hcl.DiagError, Summary: "Invalid " + name,
		Detail:  fmt.Sprintf("%s must be a quoted string constant: plugins are resolved before variables have values.", name),
		Subject: expr.Range().Ptr(),
	})
}
