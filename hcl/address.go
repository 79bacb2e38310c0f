package hcl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Kind is the role a component plays in a pipeline. It is also the block type
// that declares the component: `source`, `processor` or `sink`.
type Kind int

// The zero Kind is invalid so that a forgotten assignment is caught.
const (
	KindSource Kind = iota + 1
	KindProcessor
	KindSink
)

// kinds lists every valid kind in pipeline order (data flows from the first
// to the last).
var kinds = []Kind{KindSource, KindProcessor, KindSink}

// ErrInvalidKind is returned (wrapped) by ParseKind for a word that names no kind.
var ErrInvalidKind = errors.New("invalid component kind")

// ErrInvalidAddress is returned (wrapped) by ParseAddress for text that is
// not of the form kind.name.
var ErrInvalidAddress = errors.New("invalid component address")

// String returns the kind as written in HCL.
func (k Kind) String() string {
	switch k {
	case KindSource:
		return "source"
	case KindProcessor:
		return "processor"
	case KindSink:
		return "sink"
	default:
		return fmt.Sprintf("Kind(%d)", int(k))
	}
}

// plural is used in diagnostics ("Declared sources: ticks.").
func (k Kind) plural() string {
	return k.String() + "s"
}

// Proto returns the protocol's enum value for k.
func (k Kind) Proto() flowctlv1.Kind {
	switch k {
	case KindSource:
		return flowctlv1.Kind_KIND_SOURCE
	case KindProcessor:
		return flowctlv1.Kind_KIND_PROCESSOR
	case KindSink:
		return flowctlv1.Kind_KIND_SINK
	default:
		return flowctlv1.Kind_KIND_UNSPECIFIED
	}
}

// ParseKind parses the HCL spelling of a kind ("source", "processor", "sink").
func ParseKind(s string) (Kind, error) {
	for _, k := range kinds {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w %q: want source, processor or sink", ErrInvalidKind, s)
}

// Address names a component within a pipeline: its kind and its name, written
// kind.name as in `inputs = [source.ticks]`. Names are unique per kind, so
// source.a and sink.a are different components.
type Address struct {
	Kind Kind
	Name string
}

// String returns the address as written in HCL, e.g. "source.ticks".
func (a Address) String() string {
	return a.Kind.String() + "." + a.Name
}

// ParseAddress parses "kind.name". The name must be a valid HCL identifier,
// because an address is written as a reference, not a string.
func ParseAddress(s string) (Address, error) {
	kind, name, ok := strings.Cut(s, ".")
	if !ok {
		return Address{}, fmt.Errorf("%w %q: want kind.name, e.g. source.ticks", ErrInvalidAddress, s)
	}
	k, err := ParseKind(kind)
	if err != nil {
		return Address{}, fmt.Errorf("%w %q: %w", ErrInvalidAddress, s, err)
	}
	if !hclsyntax.ValidIdentifier(name) {
		return Address{}, fmt.Errorf("%w %q: %q is not a valid name (letters, digits, _ and -, not starting with a digit)", ErrInvalidAddress, s, name)
	}
	return Address{Kind: k, Name: name}, nil
}
