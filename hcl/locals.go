package hcl

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Local is one attribute of a locals block: a named expression over
// variables, other locals and functions, referred to as local.NAME.
type Local struct {
	Name      string
	Expr      hcl.Expression
	DeclRange hcl.Range
}

const localsBlock = "locals"

func (p *parser) localsBlock(block *hcl.Block) hcl.Diagnostics {
	attrs, diags := block.Body.JustAttributes()
	for _, attr := range inOrder(attrs) {
		n := attr.Name
		if !hclsyntax.ValidIdentifier(n) {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Invalid local name",
				Detail:  fmt.Sprintf("%q cannot be used in a reference such as local.NAME.", n),
				Subject: attr.NameRange.Ptr(),
			})
			continue
		}
		if prev, ok := p.locals[n]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Duplicate local value",
				Detail:  fmt.Sprintf("A local value named %q was already declared at %s. Names must be unique among locals; rename one of them.", n, posString(prev.DeclRange)),
				Subject: attr.NameRange.Ptr(),
			})
			continue
		}
		l := &Local{Name: n, Expr: attr.Expr, DeclRange: attr.Range}
		p.locals[n] = l
		p.cfg.Locals = append(p.cfg.Locals, l)
	}
	return diags
}

// resolveLocals orders the locals so that each comes after the locals it
// refers to (Config.localOrder). A cycle and a reference to an undeclared
// local are reported here, at parse time, once each; the locals involved are
// left out of the order, so they are unknown when evaluated and what uses
// them does not report the problem again.
func (p *parser) resolveLocals() hcl.Diagnostics {
	names := make([]string, 0, len(p.cfg.Locals))
	for _, l := range p.cfg.Locals {
		names = append(names, l.Name)
	}
	const (
		visiting = 1
		done     = 2
		broken   = 3
	)
	state := map[string]int{}
	var diags hcl.Diagnostics
	// visit reports whether l can be evaluated.
	var visit func(l *Local, path []string) bool
	visit = func(l *Local, path []string) bool {
		switch state[l.Name] {
		case done:
			return true
		case broken:
			return false
		case visiting:
			cycle := append(path[slices.Index(path, l.Name):], l.Name)
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError, Summary: "Cycle in local values",
				Detail:  fmt.Sprintf("The local values refer to each other in a loop: %s. Break the loop.", "local."+strings.Join(cycle, " -> local.")),
				Subject: l.DeclRange.Ptr(),
			})
			return false
		}
		state[l.Name] = visiting
		ok := true
		for _, ref := range l.Expr.Variables() {
			name, isLocal := localName(ref)
			if !isLocal {
				continue
			}
			dep, declared := p.locals[name]
			if !declared {
				diags = append(diags, undeclaredLocal(name, names, ref.SourceRange()))
				ok = false
				continue
			}
			if !visit(dep, append(path, l.Name)) {
				ok = false
			}
		}
		if !ok {
			state[l.Name] = broken
			return false
		}
		state[l.Name] = done
		p.cfg.localOrder = append(p.cfg.localOrder, l)
		return true
	}
	for _, l := range p.cfg.Locals {
		visit(l, nil)
	}
	return dedupe(diags)
}

// localName returns NAME for a reference local.NAME.
func localName(ref hcl.Traversal) (string, bool) {
	if ref.RootName() != "local" || len(ref) < 2 {
		return "", false
	}
	step, ok := ref[1].(hcl.TraverseAttr)
	return step.Name, ok
}

// localValues evaluates the locals in localOrder with the variables'
// values. A local left out of the order (Parse reported why), or whose value
// is in error, is unknown, so what uses it does not report the problem again.
func (c *Config) localValues(vars cty.Value) (map[string]cty.Value, hcl.Diagnostics) {
	values := make(map[string]cty.Value, len(c.Locals))
	for _, l := range c.Locals {
		values[l.Name] = cty.DynamicVal
	}
	var diags hcl.Diagnostics
	for _, l := range c.localOrder {
		ectx := &hcl.EvalContext{
			Variables: map[string]cty.Value{"var": vars, "local": cty.ObjectVal(values)},
			Functions: bodyFunctions(),
		}
		v, moreDiags := l.Expr.Value(ectx)
		diags = append(diags, moreDiags...)
		if moreDiags.HasErrors() {
			v = cty.DynamicVal
		}
		values[l.Name] = v
	}
	return values, diags
}

func undeclaredLocal(name string, declared []string, rng hcl.Range) *hcl.Diagnostic {
	detail := fmt.Sprintf("The pipeline declares no local value named %q.", name)
	if s := NameSuggestion(name, declared); s != "" {
		detail += fmt.Sprintf(" Did you mean %q?", s)
	} else {
		detail += fmt.Sprintf(" Declare it in a locals block: locals { %s = ... }.", name)
	}
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Reference to undeclared local value", Detail: detail, Subject: rng.Ptr()}
}

// dedupe drops a diagnostic that repeats an earlier one at the same place:
// a reference inside a cycle or to a missing local is seen once per path.
func dedupe(diags hcl.Diagnostics) hcl.Diagnostics {
	seen := map[string]bool{}
	return slices.DeleteFunc(diags, func(d *hcl.Diagnostic) bool {
		key := d.Summary
		if d.Subject != nil {
			key += posString(*d.Subject)
		}
		if seen[key] {
			return true
		}
		seen[key] = true
		return false
	})
}
