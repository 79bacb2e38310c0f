package hcl

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
)

// Names of the host-owned scale-out settings. Like inputs they are reserved
// in every component block.
const (
	parallelismAttr = "parallelism"
	partitionByAttr = "partition_by"
)

// MaxParallelism bounds parallelism: each instance is a plugin process,
// container or Pod of its own.
const MaxParallelism = 64

// PartitionByKey is the one partition_by value: events with the same key go
// to the same instance, in order.
const PartitionByKey = "key"

// Parallelism is how many instances of a processor or sink run, and how
// they share the batches.
type Parallelism struct {
	// Instances is parallelism, 1 when it is left out.
	Instances int
	// ByKey is partition_by = "key": a batch is split by a hash of each
	// event's key. Otherwise each batch goes whole to whichever instance is
	// ready for it first.
	ByKey bool
	// Range is the parallelism attribute's; the zero Range without one.
	Range hcl.Range
}

// parseParallelism reads parallelism and partition_by. Like batch, they are
// read at parse time: the number of plugins to start cannot wait for
// variables.
func parseParallelism(kind Kind, content *hcl.BodyContent) (Parallelism, hcl.Diagnostics) {
	p := Parallelism{Instances: 1}
	var diags hcl.Diagnostics
	attr, ok := content.Attributes[parallelismAttr]
	if ok {
		p.Range = attr.Expr.Range()
		if kind == KindSource {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unexpected parallelism",
				Detail:   "A source runs as one instance: its position and acks are one sequence, which several readers would have to split. Set parallelism on the processors and sinks after it.",
				Subject:  attr.NameRange.Ptr(),
			})
		} else {
			n, moreDiags := wholeNumber(attr, 1, MaxParallelism, "Invalid parallelism",
				fmt.Sprintf("parallelism is how many instances of the %s run, each a plugin of its own: a whole number from 1 to %d.", kind, MaxParallelism))
			diags = append(diags, moreDiags...)
			if !moreDiags.HasErrors() {
				p.Instances = n
			}
		}
	}
	if attr, ok := content.Attributes[partitionByAttr]; ok {
		s, moreDiags := staticString(attr)
		diags = append(diags, moreDiags...)
		switch {
		case moreDiags.HasErrors():
		case s != PartitionByKey:
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid partition_by",
				Detail:   fmt.Sprintf("partition_by is %q (events with the same key go to the same instance, in order), not %q.", PartitionByKey, s),
				Subject:  attr.Expr.Range().Ptr(),
			})
		case p.Instances < 2 && !diags.HasErrors():
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "partition_by without parallelism",
				Detail:   fmt.Sprintf("partition_by has no effect on a single instance. Set parallelism = 2 or more on this %s, or remove partition_by.", kind),
				Subject:  attr.NameRange.Ptr(),
			})
		default:
			p.ByKey = true
		}
	}
	return p, diags
}
