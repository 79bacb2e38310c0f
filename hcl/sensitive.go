package hcl

import (
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Sensitivity follows values. A sensitive variable's value is marked
// (sensitive, a cty mark), and cty carries the mark into everything
// computed from it: a local, a format() call, a string template such as
// "https://host/?token=${var.token}". The language never prints a marked
// value. What reaches plugins is plain text, though, and a plugin may echo it
// in an error or a log line; so SensitiveStrings lists the text of every
// marked value, for the host's redaction of what plugins say (host/redact).

// SensitiveStrings returns the text of every sensitive value in ectx's
// variables and locals: each marked string, and each marked number as
// written. Bools are not listed (redacting "true" everywhere would hide
// nothing and break everything).
func SensitiveStrings(ectx *hcl.EvalContext) []string {
	if ectx == nil {
		return nil
	}
	var out []string
	for _, name := range []string{"var", "local"} {
		if v, ok := ectx.Variables[name]; ok {
			out = append(out, markedStrings(v)...)
		}
	}
	return compactStrings(out)
}

// markedStrings lists the text of the marked parts of v (all of v when v
// itself is marked).
func markedStrings(v cty.Value) []string {
	if !v.ContainsMarked() {
		return nil
	}
	uv, pvms := v.UnmarkDeepWithPaths()
	var out []string
	for _, pvm := range pvms {
		if !pvm.Marks.Has(sensitive) {
			continue
		}
		sub, err := pvm.Path.Apply(uv)
		if err != nil {
			continue
		}
		_ = cty.Walk(sub, func(_ cty.Path, leaf cty.Value) (bool, error) {
			if !leaf.IsKnown() || leaf.IsNull() {
				return false, nil
			}
			switch leaf.Type() {
			case cty.String:
				out = append(out, leaf.AsString())
			case cty.Number:
				out = append(out, leaf.AsBigFloat().Text('f', -1))
			}
			return true, nil
		})
	}
	return out
}

func compactStrings(s []string) []string {
	s = slices.DeleteFunc(s, func(x string) bool { return x == "" })
	slices.Sort(s)
	return slices.Compact(s)
}

// toFunc is stdlib.MakeToFunc(want) (tonumber, tobool, ...) whose errors
// never quote a sensitive argument: the standard one writes the string it
// could not convert into its message.
func toFunc(want cty.Type) function.Function {
	inner := stdlib.MakeToFunc(want)
	return function.New(&function.Spec{
		Description: inner.Description(),
		Params: []function.Parameter{{
			Name: "v", Type: cty.DynamicPseudoType,
			AllowNull: true, AllowDynamicType: true, AllowMarked: true,
		}},
		Type: func(args []cty.Value) (cty.Type, error) {
			v, _ := args[0].UnmarkDeep()
			return inner.ReturnType([]cty.Type{v.Type()})
		},
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			v, _ := args[0].UnmarkDeep()
			ret, err := inner.Call([]cty.Value{v})
			if err != nil {
				if args[0].ContainsMarked() {
					return cty.NilVal, function.NewArgErrorf(0, "cannot convert this sensitive value to %s (the value is not shown)", want.FriendlyNameForConstraint())
				}
				return cty.NilVal, err
			}
			if args[0].ContainsMarked() {
				// A conversion keeps the shape, so the marks go back on the
				// whole result: conservative, and never less marked.
				return ret.Mark(sensitive), nil
			}
			return ret, nil
		},
	})
}
