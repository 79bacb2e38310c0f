package transform

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/flowctl/flowctl/pluginsdk"
)

// condition is a parsed drop_if. The language is deliberately tiny; see the
// package documentation for its forms and their meaning.
type condition struct {
	field  field
	op     op
	value  string // for opEqual and opNotEqual
	source string // as written, for messages
}

type op int

const (
	opEqual op = iota + 1
	opNotEqual
	opHas
	opNotHas
)

// fieldKind names what part of an event a condition looks at.
type fieldKind int

const (
	fieldID fieldKind = iota + 1
	fieldType
	fieldKey
	fieldAttribute
)

type field struct {
	kind fieldKind
	attr string // for fieldAttribute
}

// get returns the field's value and whether the event has it. id, type and
// key count as present when not empty; an attribute counts as present when
// the event carries it, even with an empty value.
func (f field) get(e *pluginsdk.Event) (string, bool) {
	switch f.kind {
	case fieldID:
		return e.ID, e.ID != ""
	case fieldType:
		return e.Type, e.Type != ""
	case fieldKey:
		return string(e.Key), len(e.Key) > 0
	}
	return e.Attribute(f.attr)
}

// matches reports whether e satisfies the condition. A missing attribute
// equals no value, not even "": `attributes.x == ""` is false for an event
// without x, and `attributes.x != "v"` is true.
func (c *condition) matches(e *pluginsdk.Event) bool {
	v, present := c.field.get(e)
	defined := present || c.field.kind != fieldAttribute
	switch c.op {
	case opHas:
		return present
	case opNotHas:
		return !present
	case opEqual:
		return defined && v == c.value
	case opNotEqual:
		return !defined || v != c.value
	}
	return false
}

// conditionForms is what an error about drop_if tells the user to write.
const conditionForms = `use one of: <field> == "<value>", <field> != "<value>", has(<field>), !has(<field>), ` +
	`where <field> is id, type, key or attributes.<name>`

var (
	hasPattern     = regexp.MustCompile(`^(!?)\s*has\s*\(\s*([^()\s]+)\s*\)$`)
	comparePattern = regexp.MustCompile(`^([^\s=!]+)\s*(==|!=)\s*(.+)$`)
	attrName       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-/:]*$`)
)

// parseCondition parses a drop_if expression.
func parseCondition(src string) (*condition, error) {
	s := strings.TrimSpace(src)
	c := &condition{source: src}
	if m := hasPattern.FindStringSubmatch(s); m != nil {
		c.op = opHas
		if m[1] == "!" {
			c.op = opNotHas
		}
		f, err := parseField(m[2])
		if err != nil {
			return nil, err
		}
		c.field = f
		return c, nil
	}
	m := comparePattern.FindStringSubmatch(s)
	if m == nil {
		return nil, fmt.Errorf("cannot read condition %q: %s", src, conditionForms)
	}
	f, err := parseField(m[1])
	if err != nil {
		return nil, err
	}
	c.field, c.op = f, opEqual
	if m[2] == "!=" {
		c.op = opNotEqual
	}
	lit := strings.TrimSpace(m[3])
	if !strings.HasPrefix(lit, `"`) {
		return nil, fmt.Errorf("in condition %q the value %s must be a double-quoted string: %s", src, lit, conditionForms)
	}
	c.value, err = strconv.Unquote(lit)
	if err != nil {
		return nil, fmt.Errorf("in condition %q the value %s is not a valid double-quoted string: %s", src, lit, conditionForms)
	}
	return c, nil
}

func parseField(s string) (field, error) {
	switch s {
	case "id":
		return field{kind: fieldID}, nil
	case "type":
		return field{kind: fieldType}, nil
	case "key":
		return field{kind: fieldKey}, nil
	}
	if name, ok := strings.CutPrefix(s, "attributes."); ok && attrName.MatchString(name) {
		return field{kind: fieldAttribute, attr: name}, nil
	}
	return field{}, fmt.Errorf("unknown field %q in condition: %s", s, conditionForms)
}
