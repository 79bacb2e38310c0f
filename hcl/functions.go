package hcl

import (
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// bodyFunctions is the function table of component bodies, locals and
// validation rules: functions() with an env() that refuses, so that
// everything a pipeline reads from the environment is a declared variable.
func bodyFunctions() map[string]function.Function {
	fs := functions()
	fs["env"] = envFunc(func(name string) (cty.Value, error) {
		return cty.NilVal, fmt.Errorf("env() can be used only in a variable's default, so that every value the pipeline reads from the environment is declared: add variable \"x\" { default = env(%q) } and use var.x", name)
	})
	return fs
}

// defaultFunctions is the function table of variable defaults: functions()
// and env(NAME), the value of an environment variable. An unset variable is
// an error; try(env("X"), "fallback") gives a fallback.
func defaultFunctions() map[string]function.Function {
	fs := functions()
	fs["env"] = envFunc(func(name string) (cty.Value, error) {
		v, ok := os.LookupEnv(name)
		if !ok {
			return cty.NilVal, fmt.Errorf("the environment variable %s is not set; set it, or give a fallback with try(env(%q), \"...\")", name, name)
		}
		return cty.StringVal(v), nil
	})
	return fs
}

func envFunc(impl func(name string) (cty.Value, error)) function.Function {
	return function.New(&function.Spec{
		Description: "The value of an environment variable.",
		Params:      []function.Parameter{{Name: "name", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return impl(args[0].AsString())
		},
	})
}

// functions is the function table of every EvalContext. It is the go-cty
// standard library under the names Terraform users know, so a pipeline reads
// like the HCL they have written before. Only pure functions are here: the
// same pipeline and variables always decode to the same configuration (no
// file, environment or clock access).
func functions() map[string]function.Function {
	return map[string]function.Function{
		// numbers
		"abs":      stdlib.AbsoluteFunc,
		"ceil":     stdlib.CeilFunc,
		"floor":    stdlib.FloorFunc,
		"log":      stdlib.LogFunc,
		"max":      stdlib.MaxFunc,
		"min":      stdlib.MinFunc,
		"parseint": stdlib.ParseIntFunc,
		"pow":      stdlib.PowFunc,
		"signum":   stdlib.SignumFunc,

		// strings
		"chomp":         stdlib.ChompFunc,
		"format":        stdlib.FormatFunc,
		"formatlist":    stdlib.FormatListFunc,
		"indent":        stdlib.IndentFunc,
		"join":          stdlib.JoinFunc,
		"lower":         stdlib.LowerFunc,
		"regex":         stdlib.RegexFunc,
		"regexall":      stdlib.RegexAllFunc,
		"regex_replace": stdlib.RegexReplaceFunc,
		"replace":       stdlib.ReplaceFunc,
		"split":         stdlib.SplitFunc,
		"strlen":        stdlib.StrlenFunc,
		"strrev":        stdlib.ReverseFunc,
		"substr":        stdlib.SubstrFunc,
		"title":         stdlib.TitleFunc,
		"trim":          stdlib.TrimFunc,
		"trimprefix":    stdlib.TrimPrefixFunc,
		"trimspace":     stdlib.TrimSpaceFunc,
		"trimsuffix":    stdlib.TrimSuffixFunc,
		"upper":         stdlib.UpperFunc,

		// collections
		"chunklist":    stdlib.ChunklistFunc,
		"coalesce":     stdlib.CoalesceFunc,
		"coalescelist": stdlib.CoalesceListFunc,
		"compact":      stdlib.CompactFunc,
		"concat":       stdlib.ConcatFunc,
		"contains":     stdlib.ContainsFunc,
		"distinct":     stdlib.DistinctFunc,
		"element":      stdlib.ElementFunc,
		"flatten":      stdlib.FlattenFunc,
		"index":        stdlib.IndexFunc,
		"keys":         stdlib.KeysFunc,
		"length":       stdlib.LengthFunc,
		"lookup":       stdlib.LookupFunc,
		"merge":        stdlib.MergeFunc,
		"range":        stdlib.RangeFunc,
		"reverse":      stdlib.ReverseListFunc,
		"setunion":     stdlib.SetUnionFunc,
		"slice":        stdlib.SliceFunc,
		"sort":         stdlib.SortFunc,
		"values":       stdlib.ValuesFunc,
		"zipmap":       stdlib.ZipmapFunc,

		// encoding and types
		"csvdecode":  stdlib.CSVDecodeFunc,
		"jsondecode": stdlib.JSONDecodeFunc,
		"jsonencode": stdlib.JSONEncodeFunc,
		"tobool":     toFunc(cty.Bool),
		"tolist":     toFunc(cty.List(cty.DynamicPseudoType)),
		"tomap":      toFunc(cty.Map(cty.DynamicPseudoType)),
		"tonumber":   toFunc(cty.Number),
		"toset":      toFunc(cty.Set(cty.DynamicPseudoType)),
		"tostring":   toFunc(cty.String),

		// errors as values
		"try": tryfunc.TryFunc,
		"can": tryfunc.CanFunc,
	}
}
