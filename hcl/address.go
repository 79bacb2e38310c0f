package hcl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/flowctl/flowctl/proto/wire"
)

// Kind is the role a component plays in a pipeline. It is also the block type
// that declares the component: `source`, `processor` or `sink`. It is the
// protocol's kind (wire.Kind): one type for the language, the host and the
// SDK.
type Kind = wire.Kind

// The kinds.
const (
	KindSource    = wire.KindSource
	KindProcessor = wire.KindProcessor
	KindSink      = wire.KindSink
)

// kinds lists every valid kind in pipeline order (data flows from the first
// to the last).
var kinds = wire.Kinds

// ErrInvalidKind is returned (wrapped) by ParseKind for a word that names no kind.
var ErrInvalidKind = wire.ErrInvalidKind

// ErrInvalidAddress is returned (wrapped) by ParseAddress for text that is
// not of the form kind.name.
var ErrInvalidAddress = errors.New("invalid component address")

// plural is used in diagnostics ("Declared sources: ticks.").
func plural(k Kind) string {
	return k.String() + "s"
}

// ParseKind parses the HCL spelling of a kind ("source", "processor", "sink").
func ParseKind(s string) (Kind, error) { return wire.ParseKind(s) }

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
