package wire

import (
	"errors"
	"fmt"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Kind is the role a component plays in a pipeline: source, processor or
// sink. It is also the HCL block type that declares the component. The zero
// Kind is invalid, so a forgotten assignment is caught.
type Kind int

// The component kinds, in pipeline order (data flows from the first to the
// last).
const (
	KindSource Kind = iota + 1
	KindProcessor
	KindSink
)

// Kinds lists every valid kind in pipeline order.
var Kinds = []Kind{KindSource, KindProcessor, KindSink}

// ErrInvalidKind is returned (wrapped) by ParseKind for a word that names no
// kind.
var ErrInvalidKind = errors.New("invalid component kind")

// String returns the kind as written in HCL.
func (k Kind) String() string {
	switch k {
	case KindSource:
		return "source"
	case KindProcessor:
		return "processor"
	case KindSink:
		return "sink"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// ParseKind parses the HCL spelling of a kind ("source", "processor",
// "sink").
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("%w %q: want source, processor or sink", ErrInvalidKind, s)
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
	}
	return flowctlv1.Kind_KIND_UNSPECIFIED
}

// KindFromProto is the inverse of Kind.Proto; 0 for an unknown value.
func KindFromProto(k flowctlv1.Kind) Kind {
	switch k {
	case flowctlv1.Kind_KIND_SOURCE:
		return KindSource
	case flowctlv1.Kind_KIND_PROCESSOR:
		return KindProcessor
	case flowctlv1.Kind_KIND_SINK:
		return KindSink
	}
	return 0
}
