package cel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	celgo "cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/ext"

	"github.com/flowctl/flowctl/plugins/internal/jsonl"
	"github.com/flowctl/flowctl/pluginsdk"
)

// costLimit bounds the work one expression may do for one event, so a
// runaway comprehension fails the event instead of stalling the pipeline.
const costLimit = 1_000_000

// Processor evaluates the compiled expressions.
type Processor struct {
	filter celgo.Program // nil: keep every event
	set    []setter      // sorted by attribute name
	// needsData is whether any expression reads data, so JSON is decoded
	// only when something uses it.
	needsData bool
}

type setter struct {
	attr string
	prg  celgo.Program
}

var _ pluginsdk.Processor = (*Processor)(nil)

func newEnv() (*celgo.Env, error) {
	return celgo.NewEnv(
		celgo.Variable("id", celgo.StringType),
		celgo.Variable("type", celgo.StringType),
		celgo.Variable("time", celgo.TimestampType),
		celgo.Variable("key", celgo.StringType),
		celgo.Variable("attributes", celgo.MapType(celgo.StringType, celgo.StringType)),
		celgo.Variable("content_type", celgo.StringType),
		celgo.Variable("data", celgo.DynType),
		celgo.OptionalTypes(),
		ext.Strings(),
	)
}

func newProcessor(init pluginsdk.Init) (pluginsdk.Processor, error) {
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("cel: build the environment: %w", err)
	}
	p := &Processor{}
	// Every bad expression is reported, not just the first.
	var errs []error
	if src := init.Config.String("filter"); src != "" {
		prg, usesData, err := compile(env, src, func(t *celgo.Type) error {
			if !t.IsAssignableType(celgo.BoolType) {
				return fmt.Errorf("filter must be a bool expression; this one gives %s", t)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, attrError(err, "filter"))
		}
		p.filter, p.needsData = prg, usesData
	}
	set := init.Config.StringMap("set")
	for _, attr := range slices.Sorted(maps.Keys(set)) {
		if attr == "" {
			errs = append(errs, pluginsdk.NewAttrError(errors.New("an attribute name may not be empty"), "set"))
			continue
		}
		prg, usesData, err := compile(env, set[attr], checkSetType)
		if err != nil {
			errs = append(errs, attrError(err, "set", attr))
			continue
		}
		p.set = append(p.set, setter{attr: attr, prg: prg})
		p.needsData = p.needsData || usesData
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// checkSetType accepts what can be written into an attribute.
func checkSetType(t *celgo.Type) error {
	for _, ok := range []*celgo.Type{celgo.StringType, celgo.IntType, celgo.UintType, celgo.DoubleType, celgo.BoolType, celgo.TimestampType, celgo.NullType} {
		if t.IsExactType(ok) {
			return nil
		}
	}
	if t.IsExactType(celgo.DynType) {
		return nil // checked per event
	}
	return fmt.Errorf("an attribute is set from a string, number, bool, timestamp or null; this expression gives %s", t)
}

// compile parses and type-checks src and reports whether it reads data.
func compile(env *celgo.Env, src string, checkType func(*celgo.Type) error) (celgo.Program, bool, error) {
	ast, iss := env.CompileSource(common.NewStringSource(src, "expression"))
	if iss.Err() != nil {
		ce := &compileError{msg: "the CEL expression does not compile:\n" + strings.ReplaceAll(iss.Err().Error(), "ERROR: ", "")}
		if errs := iss.Errors(); len(errs) > 0 && errs[0].Location != nil {
			ce.start, ce.end = byteSpan(src, errs[0].Location.Line(), errs[0].Location.Column())
		}
		return nil, false, ce
	}
	if err := checkType(ast.OutputType()); err != nil {
		return nil, false, err
	}
	prg, err := env.Program(ast, celgo.CostLimit(costLimit), celgo.InterruptCheckFrequency(100))
	if err != nil {
		return nil, false, fmt.Errorf("the CEL expression cannot be planned: %w", err)
	}
	return prg, readsData(ast), nil
}

// compileError is an expression that does not compile, with where in it
// the (first) problem is, so the host can point at it in the pipeline file.
type compileError struct {
	msg        string
	start, end int // bytes of the expression; end 0 when unknown
}

func (e *compileError) Error() string { return e.msg }

// Span narrows the error to the spot the compiler names (end 0: the whole
// expression); pluginsdk.NewAttrError reads it.
func (e *compileError) Span() (start, end int) { return e.start, e.end }

// attrError is the attribute error for an expression at path.
func attrError(err error, path ...string) error {
	return pluginsdk.NewAttrError(err, path...)
}

// byteSpan turns CEL's location (line from 1, column in characters from 0)
// into the bytes of src holding that character. A location past the end
// (an expression that stops too soon) names the last character.
func byteSpan(src string, line, column int) (start, end int) {
	if line < 1 || column < 0 || src == "" {
		return 0, 0
	}
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(src[off:], '\n')
		if i < 0 {
			return 0, 0
		}
		off += i + 1
	}
	for c := 0; c < column && off < len(src) && src[off] != '\n'; c++ {
		_, size := utf8.DecodeRuneInString(src[off:])
		off += size
	}
	if off >= len(src) || src[off] == '\n' {
		_, size := utf8.DecodeLastRuneInString(src[:off])
		return off - size, off
	}
	_, size := utf8.DecodeRuneInString(src[off:])
	return off, off + size
}

// readsData reports whether the checked expression refers to data.
func readsData(ast *celgo.Ast) bool {
	for _, r := range ast.NativeRep().ReferenceMap() {
		if r.Name == "data" {
			return true
		}
	}
	return false
}

// Open does nothing: the processor holds no resources.
func (p *Processor) Open(context.Context) error { return nil }

// Process drops the event when the filter is false, else emits it with the
// attributes set.
func (p *Processor) Process(ctx context.Context, in pluginsdk.Event, emit func(pluginsdk.Event)) error {
	vars, err := p.activation(in)
	if err != nil {
		return err
	}
	if p.filter != nil {
		out, _, err := p.filter.ContextEval(ctx, vars)
		if err != nil {
			return fmt.Errorf("cel: filter: %w", err)
		}
		keep, ok := out.Value().(bool)
		if !ok {
			return fmt.Errorf("cel: filter gave %s %v, not a bool", out.Type().TypeName(), out.Value())
		}
		if !keep {
			return nil
		}
	}
	if len(p.set) == 0 {
		emit(in)
		return nil
	}
	res := in
	res.Attributes = slices.Clone(in.Attributes) // never modify the input's attributes
	for _, s := range p.set {
		out, _, err := s.prg.ContextEval(ctx, vars)
		if err != nil {
			return fmt.Errorf("cel: set.%s: %w", s.attr, err)
		}
		v, remove, err := attributeValue(out)
		if err != nil {
			return fmt.Errorf("cel: set.%s: %w", s.attr, err)
		}
		if remove {
			res.DeleteAttribute(s.attr)
		} else {
			res.SetAttribute(s.attr, v)
		}
	}
	emit(res)
	return nil
}

func (p *Processor) activation(e pluginsdk.Event) (map[string]any, error) {
	attrs := make(map[string]string, len(e.Attributes))
	for _, a := range e.Attributes {
		attrs[a.Key] = a.Value
	}
	t := e.Time
	if t.IsZero() {
		t = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	vars := map[string]any{
		"id": e.ID, "type": e.Type, "time": t, "key": strings.ToValidUTF8(string(e.Key), "\uFFFD"),
		"attributes": attrs, "content_type": e.ContentType, "data": types.NullValue,
	}
	if p.needsData && len(e.Data) > 0 && (jsonl.IsJSON(e.ContentType) || (e.ContentType == "" && json.Valid(e.Data))) {
		d, err := decodeJSON(e.Data)
		if err != nil {
			return nil, fmt.Errorf("cel: data of event %q is not valid JSON: %w", e.ID, err)
		}
		vars["data"] = d
	}
	return vars, nil
}

// decodeJSON decodes a payload, keeping whole numbers as int64 so that
// integer arithmetic (data.n % 2) works.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	}
	return v
}

// attributeValue turns a result into an attribute value; null removes it.
func attributeValue(v ref.Val) (s string, remove bool, err error) {
	switch x := v.Value().(type) {
	case string:
		return x, false, nil
	case bool:
		return strconv.FormatBool(x), false, nil
	case int64:
		return strconv.FormatInt(x, 10), false, nil
	case uint64:
		return strconv.FormatUint(x, 10), false, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return strconv.FormatFloat(x, 'g', -1, 64), false, nil
		}
		b, _ := json.Marshal(x)
		return string(b), false, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), false, nil
	}
	if v == types.NullValue {
		return "", true, nil
	}
	return "", false, fmt.Errorf("gave a %s; an attribute takes a string, number, bool, timestamp or null", v.Type().TypeName())
}

// Teardown does nothing.
func (p *Processor) Teardown(context.Context) error { return nil }
