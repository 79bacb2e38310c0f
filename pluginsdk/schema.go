package pluginsdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// attrType is the type of a configuration attribute.
type attrType int

// Attribute types. The host checks values against them before a plugin sees
// them, and reports mistakes at the attribute's place in the pipeline file.
const (
	typeString attrType = iota + 1
	typeNumber
	typeBool
	typeStringList
	typeStringMap
	// typeDuration is a string such as "250ms" read with time.ParseDuration.
	typeDuration
)

var typeNames = map[attrType]string{
	typeString: "string", typeNumber: "number", typeBool: "bool",
	typeStringList: "list(string)", typeStringMap: "map(string)", typeDuration: "duration",
}

// String names the type as HCL does.
func (t attrType) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("attrType(%d)", int(t))
}

func (t attrType) proto() flowctlv1.AttributeType {
	switch t {
	case typeString:
		return flowctlv1.AttributeType_ATTRIBUTE_TYPE_STRING
	case typeNumber:
		return flowctlv1.AttributeType_ATTRIBUTE_TYPE_NUMBER
	case typeBool:
		return flowctlv1.AttributeType_ATTRIBUTE_TYPE_BOOL
	case typeStringList:
		return flowctlv1.AttributeType_ATTRIBUTE_TYPE_LIST_OF_STRING
	case typeStringMap:
		return flowctlv1.AttributeType_ATTRIBUTE_TYPE_MAP_OF_STRING
	case typeDuration:
		return flowctlv1.AttributeType_ATTRIBUTE_TYPE_DURATION
	}
	return flowctlv1.AttributeType_ATTRIBUTE_TYPE_UNSPECIFIED
}

// Attr declares one configuration attribute. Build it with String, Number,
// Bool, StringList, StringMap or Duration and refine it with Required,
// Default and Sensitive.
type Attr struct {
	name        string
	typ         attrType
	description string
	required    bool
	sensitive   bool
	def         any // normalized Go value, nil when there is no default
}

// String declares a string attribute.
func String(name, description string) *Attr { return newAttr(name, typeString, description) }

// Number declares a number attribute; read it with Config.Int or Config.Float.
func Number(name, description string) *Attr { return newAttr(name, typeNumber, description) }

// Bool declares a bool attribute.
func Bool(name, description string) *Attr { return newAttr(name, typeBool, description) }

// StringList declares a list(string) attribute.
func StringList(name, description string) *Attr {
	return newAttr(name, typeStringList, description)
}

// StringMap declares a map(string) attribute.
func StringMap(name, description string) *Attr {
	return newAttr(name, typeStringMap, description)
}

// Duration declares a duration attribute written as a string ("5s").
func Duration(name, description string) *Attr { return newAttr(name, typeDuration, description) }

func newAttr(name string, typ attrType, description string) *Attr {
	return &Attr{name: name, typ: typ, description: description}
}

// Required marks the attribute as one the pipeline must set.
func (a *Attr) Required() *Attr { a.required = true; return a }

// Sensitive marks the attribute's value as secret: the host never prints it.
func (a *Attr) Sensitive() *Attr { a.sensitive = true; return a }

// Default sets the value used when the pipeline leaves the attribute unset.
// It panics when v does not fit the attribute's type: that is a bug in the
// plugin, found the first time its schema is built.
func (a *Attr) Default(v any) *Attr {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("pluginsdk: attribute %q: default: %v", a.name, err))
	}
	norm, err := a.decode(raw)
	if err != nil {
		panic(fmt.Sprintf("pluginsdk: attribute %q: default: %v", a.name, err))
	}
	a.def = norm
	return a
}

// decode turns a JSON value into the attribute's Go value: string, float64,
// bool, []string, map[string]string or time.Duration.
func (a *Attr) decode(raw json.RawMessage) (any, error) {
	var err error
	switch a.typ {
	case typeString:
		var v string
		err = json.Unmarshal(raw, &v)
		return v, typeErr(err, a.typ)
	case typeNumber:
		var v float64
		err = json.Unmarshal(raw, &v)
		return v, typeErr(err, a.typ)
	case typeBool:
		var v bool
		err = json.Unmarshal(raw, &v)
		return v, typeErr(err, a.typ)
	case typeStringList:
		var v []string
		err = json.Unmarshal(raw, &v)
		return v, typeErr(err, a.typ)
	case typeStringMap:
		var v map[string]string
		err = json.Unmarshal(raw, &v)
		return v, typeErr(err, a.typ)
	case typeDuration:
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			// A Go time.Duration default arrives as nanoseconds.
			var ns int64
			if json.Unmarshal(raw, &ns) == nil {
				return time.Duration(ns), nil
			}
			return nil, typeErr(err, a.typ)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration such as \"250ms\" or \"1m30s\"", s)
		}
		return d, nil
	}
	return nil, fmt.Errorf("unknown attribute type %v", a.typ)
}

func typeErr(err error, t attrType) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("a %v is required", t)
}

// Spec is the configuration schema of one component.
type Spec struct {
	attrs []*Attr
}

// NewSpec builds a schema from attribute declarations. It panics on a
// duplicate or empty name (a plugin bug).
func NewSpec(attrs ...*Attr) *Spec {
	seen := make(map[string]bool, len(attrs))
	for _, a := range attrs {
		if a.name == "" || seen[a.name] {
			panic(fmt.Sprintf("pluginsdk: duplicate or empty attribute name %q", a.name))
		}
		if _, ok := typeNames[a.typ]; !ok {
			panic(fmt.Sprintf("pluginsdk: attribute %q: unknown type", a.name))
		}
		seen[a.name] = true
	}
	return &Spec{attrs: slices.Clone(attrs)}
}

func (s *Spec) attr(name string) *Attr {
	if s == nil {
		return nil
	}
	for _, a := range s.attrs {
		if a.name == name {
			return a
		}
	}
	return nil
}

func (s *Spec) proto() []*flowctlv1.Attribute {
	if s == nil {
		return nil
	}
	out := make([]*flowctlv1.Attribute, 0, len(s.attrs))
	for _, a := range s.attrs {
		pa := &flowctlv1.Attribute{
			Name: a.name, Type: a.typ.proto(), Description: a.description,
			Required: a.required, Sensitive: a.sensitive,
		}
		if a.def != nil {
			v := a.def
			if d, ok := v.(time.Duration); ok {
				v = d.String()
			}
			pa.DefaultJson, _ = json.Marshal(v) // values came from JSON; cannot fail
		}
		out = append(out, pa)
	}
	return out
}

// Config holds a component's configuration, checked against its Spec, with
// defaults applied. Getters panic when asked for an attribute the Spec does
// not declare with that type: that is a bug in the plugin, not in the user's
// pipeline.
type Config struct {
	spec   *Spec
	values map[string]any
	set    map[string]bool
}

// parseConfig checks a JSON object of attribute values against spec. Problems
// come back as diagnostics whose paths name the attribute.
func parseConfig(spec *Spec, raw []byte) (Config, []diagnostic) {
	cfg := Config{spec: spec, values: map[string]any{}, set: map[string]bool{}}
	var obj map[string]json.RawMessage
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &obj); err != nil {
			return cfg, []diagnostic{{Summary: "Invalid configuration", Detail: fmt.Sprintf("configuration is not a JSON object: %v", err)}}
		}
	}
	var diags []diagnostic
	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		a := spec.attr(name)
		if a == nil {
			diags = append(diags, diagnostic{Summary: "Unsupported argument", Detail: fmt.Sprintf("An argument named %q is not expected here.", name), Path: []string{name}})
			continue
		}
		if string(obj[name]) == "null" {
			continue
		}
		v, err := a.decode(obj[name])
		if err != nil {
			cfg.set[name] = true // present, just wrong: not also "missing"
			diags = append(diags, diagnostic{Summary: "Invalid value for " + strings.ToLower(a.typ.String()) + " argument", Detail: fmt.Sprintf("%s: %v.", name, err), Path: []string{name}})
			continue
		}
		cfg.values[name], cfg.set[name] = v, true
	}
	for _, a := range spec.attrsOrNil() {
		if cfg.set[a.name] {
			continue
		}
		if a.required {
			diags = append(diags, diagnostic{Summary: "Missing required argument", Detail: fmt.Sprintf("The argument %q is required, but was not set.", a.name), Path: []string{a.name}})
			continue
		}
		if a.def != nil {
			cfg.values[a.name] = a.def
		}
	}
	return cfg, diags
}

func (s *Spec) attrsOrNil() []*Attr {
	if s == nil {
		return nil
	}
	return s.attrs
}

// isSet reports whether the pipeline set the attribute (defaults do not count).
func (c Config) isSet(name string) bool { return c.set[name] }

func (c Config) get(name string, t attrType) any {
	a := c.spec.attr(name)
	if a == nil || a.typ != t {
		panic(fmt.Sprintf("pluginsdk: config attribute %q is not declared as %v", name, t))
	}
	return c.values[name]
}

// String returns a string attribute ("" when unset without default).
func (c Config) String(name string) string {
	v, _ := c.get(name, typeString).(string)
	return v
}

// Float returns a number attribute.
func (c Config) Float(name string) float64 {
	v, _ := c.get(name, typeNumber).(float64)
	return v
}

// Int returns a number attribute truncated to an integer, and saturates at
// the int64 range.
func (c Config) Int(name string) int64 {
	f := c.Float(name)
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	return int64(f)
}

// Bool returns a bool attribute.
func (c Config) Bool(name string) bool {
	v, _ := c.get(name, typeBool).(bool)
	return v
}

// Duration returns a duration attribute.
func (c Config) Duration(name string) time.Duration {
	v, _ := c.get(name, typeDuration).(time.Duration)
	return v
}

// StringList returns a list(string) attribute. The caller may not modify it.
func (c Config) StringList(name string) []string {
	v, _ := c.get(name, typeStringList).([]string)
	return v
}

// StringMap returns a map(string) attribute. The caller may not modify it.
func (c Config) StringMap(name string) map[string]string {
	v, _ := c.get(name, typeStringMap).(map[string]string)
	return v
}

// diagnostic is a problem with a component's configuration. Path names the
// attribute (and an element of it, if any) so the host can point at the
// right place in the pipeline file.
type diagnostic struct {
	Warning bool
	Summary string
	Detail  string
	Path    []string
	// ValueStart and ValueEnd, when ValueEnd > 0, narrow the problem to
	// bytes [ValueStart, ValueEnd) of the string value at Path.
	ValueStart, ValueEnd int
}

func (d diagnostic) proto() *flowctlv1.Diagnostic {
	sev := flowctlv1.Severity_SEVERITY_ERROR
	if d.Warning {
		sev = flowctlv1.Severity_SEVERITY_WARNING
	}
	return &flowctlv1.Diagnostic{Severity: sev, Summary: d.Summary, Detail: d.Detail, AttributePath: d.Path,
		ValueStart: uint32(d.ValueStart), ValueEnd: uint32(d.ValueEnd)}
}

// NewAttrError returns an error about attribute path[0] (and element
// path[1:]): returned by a component constructor, the user sees it at that
// attribute in the pipeline file. To report several problems at once,
// return them joined with errors.Join: each becomes a diagnostic of its own.
//
// For a value the plugin parses (an expression, a template), err may have a
// method Span() (start, end int) giving the bytes [start, end) of the
// string value that are wrong: the host then points at that spot, not at
// the whole string.
func NewAttrError(err error, path ...string) error { return &attrError{path: path, err: err} }

// attrError is an error about one attribute.
type attrError struct {
	path []string
	err  error
}

func (e *attrError) Error() string { return strings.Join(e.path, ".") + ": " + e.err.Error() }

func (e *attrError) Unwrap() error { return e.err }

// span is the optional method of an attribute error's cause that narrows
// it within a string value.
type span interface{ Span() (start, end int) }

// valueRange is where, within the attribute's string value, e is; end is 0
// when e is about the whole value.
func (e *attrError) valueRange() (start, end int) {
	var sp span
	if errors.As(e.err, &sp) {
		if start, end := sp.Span(); start >= 0 && end > start {
			return start, end
		}
	}
	return 0, 0
}
