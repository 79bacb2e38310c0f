package hcl

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// envAttr is the host-owned attribute that lists what a component's plugin
// finds in its environment beyond the minimal one every plugin gets.
const envAttr = "env"

// Env is what a component's env attribute gives its plugin's environment.
// A plugin starts with a minimal environment (see drivers.PluginEnv); only
// what is written here is added, so nothing from flowctl's own environment
// (a FLOWCTL_VAR_ secret, a cloud credential) reaches a plugin unless the
// pipeline says so.
//
// Two forms:
//
//	env = { API_URL = "https://...", TOKEN = var.token }   # names and values
//	env = ["AWS_PROFILE", "HTTPS_PROXY"]                   # passed through from flowctl's environment
type Env struct {
	// Set are names and values, in name order.
	Set []EnvVar
	// Pass names variables whose value is taken from flowctl's own
	// environment when the plugin starts (left out when unset there).
	Pass []string
	// Range is the attribute's expression; the zero Range without one.
	Range hcl.Range
}

// EnvVar is one NAME=value of Env.Set. Sensitive says the value came from a
// sensitive variable; it is passed all the same (it was asked for), but
// never shown.
type EnvVar struct {
	Name, Value string
	Sensitive   bool
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// DecodeEnv evaluates c's env attribute in ectx. A component without one
// returns an empty Env.
func (c *Component) DecodeEnv(ectx *hcl.EvalContext) (*Env, hcl.Diagnostics) {
	env := &Env{}
	if c.envExpr == nil {
		return env, nil
	}
	env.Range = c.envExpr.Range()
	val, diags := c.envExpr.Value(ectx)
	if diags.HasErrors() {
		return env, diags
	}
	bad := func(detail string) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid env",
			Detail:   detail,
			Subject:  env.Range.Ptr(),
		}}
	}
	const shape = `env is a map of environment variables to set, env = { NAME = "value" }, or a list of names to pass through from flowctl's environment, env = ["NAME"].`
	if !val.IsWhollyKnown() {
		return env, nil // an unknown variable, already reported
	}
	if val.IsNull() {
		return env, nil
	}
	ty := val.Type()
	switch {
	case ty.IsObjectType() || ty.IsMapType():
		for name, v := range val.AsValueMap() {
			if !envName.MatchString(name) {
				diags = append(diags, bad(fmt.Sprintf("%q is not an environment variable name (letters, digits and underscores, not starting with a digit).", name))...)
				continue
			}
			marked := v.ContainsMarked()
			v, _ = v.UnmarkDeep()
			s, err := toEnvString(v)
			if err != nil {
				diags = append(diags, bad(fmt.Sprintf("The value of %s %s. %s", name, err, shape))...)
				continue
			}
			env.Set = append(env.Set, EnvVar{Name: name, Value: s, Sensitive: marked})
		}
		slices.SortFunc(env.Set, func(a, b EnvVar) int { return strings.Compare(a.Name, b.Name) })
	case ty.IsTupleType() || ty.IsListType() || ty.IsSetType():
		val, _ = val.UnmarkDeep()
		for _, v := range val.AsValueSlice() {
			if v.IsNull() || v.Type() != cty.String {
				diags = append(diags, bad("Every element of a list must be a name. "+shape)...)
				continue
			}
			name := v.AsString()
			if !envName.MatchString(name) {
				diags = append(diags, bad(fmt.Sprintf("%q is not an environment variable name (letters, digits and underscores, not starting with a digit).", name))...)
				continue
			}
			env.Pass = append(env.Pass, name)
		}
	default:
		return env, bad(shape)
	}
	return env, diags
}

func toEnvString(v cty.Value) (string, error) {
	switch {
	case v.IsNull():
		return "", fmt.Errorf("is null")
	case v.Type() == cty.String:
		return v.AsString(), nil
	case v.Type() == cty.Number:
		return v.AsBigFloat().Text('f', -1), nil
	case v.Type() == cty.Bool:
		if v.True() {
			return "true", nil
		}
		return "false", nil
	}
	return "", fmt.Errorf("is a %s, not a string", v.Type().FriendlyName())
}
