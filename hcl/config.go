package hcl

import (
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Config is a parsed pipeline: one file, or every pipeline file of a
// directory (Load). Plugin configuration inside component blocks is not
// decoded yet: that needs the plugin's schema (DecodeComponent)
// and the variable values (EvalContext).
type Config struct {
	Pipeline Pipeline
	// Variables in declaration order.
	Variables []*Variable
	// Components in declaration order. Their order is the tiebreak wherever
	// flowctl needs a deterministic order (topological sort, diagnostics).
	Components []*Component
	// Files holds every parsed file by the name given to Parse, so that
	// diagnostics can be printed with source snippets (WriteDiagnostics).
	// Variable files read by EvalContext are added to it.
	Files map[string]*hcl.File
	// Dir is the pipeline's directory: the file's, or the directory Load
	// was given. Plugins run in it and the lock file lives in it.
	Dir string
	// RequiredPlugins are the flowctl block's required_plugins, in
	// declaration order.
	RequiredPlugins []*RequiredPlugin
	// Locals in declaration order.
	Locals []*Local

	// localOrder is Locals in an order to evaluate them in, each after the
	// locals it refers to. Locals in a cycle, or that refer to an undefined
	// local, are left out: Parse has reported them.
	localOrder []*Local
}

// Pipeline is what the optional pipeline block says about the pipeline.
type Pipeline struct {
	// Name is the block's label; without a pipeline block, the file's base
	// name without its extension, or the directory's name.
	Name        string
	Description string
	// ShutdownTimeout is how long the pipeline may take to drain and stop
	// once it is told to (shutdown_timeout); DefaultShutdownTimeout when
	// the file does not say.
	ShutdownTimeout time.Duration
	// Restart is the pipeline block's restart block, the restart policy of
	// every component without one of its own; the built-in defaults when
	// there is none. Component.Restart is what applies to each component.
	Restart Restart
	// Driver is the pipeline block's driver block, the driver of every
	// component without one of its own; nil when there is none.
	Driver *Driver
	// DeclRange is the block header's range; the zero Range when the file
	// has no pipeline block.
	DeclRange hcl.Range
}

// Component is one source, processor or sink block.
type Component struct {
	Address Address
	// Type is the plugin component name, the block's first label
	// (e.g. "file" in `sink "file" "out"`).
	Type string
	// Inputs in the order written. Always empty for sources.
	Inputs []Input
	// InputsRange is the range of the inputs expression; the zero Range
	// when the block has no inputs attribute.
	InputsRange hcl.Range
	// Batch is the batch shaping of a source, with defaults applied; nil for
	// processors and sinks.
	Batch *Batch
	// Restart is how the component's plugin is restarted after it fails:
	// the component's restart block, else the pipeline block's, else the
	// built-in defaults. A component's own block replaces the pipeline's
	// whole; attributes it leaves out take the built-in defaults.
	Restart Restart
	// OnError is what the component does with events it fails, with
	// defaults applied; nil for sources, never nil for processors and sinks.
	OnError *OnError
	// Parallelism is how many instances of a processor or sink run; a
	// source's is always one.
	Parallelism Parallelism
	// Driver is where the component's plugin runs: its own driver block,
	// else the pipeline block's, else the local process driver. Never nil.
	Driver *Driver
	// Body is the plugin's part of the block: everything except the
	// host-owned settings (inputs, batch, restart, on_error, retry, driver,
	// dead_letter, env, parallelism, partition_by). DecodeComponent decodes
	// it.
	Body hcl.Body
	// envExpr is the env attribute's expression (DecodeEnv); nil without one.
	envExpr hcl.Expression
	// DeclRange is the block header; TypeRange and NameRange its labels.
	DeclRange, TypeRange, NameRange hcl.Range
}

// Input is one element of a component's inputs list.
type Input struct {
	Address Address
	// Range is the reference's range in the inputs list.
	Range hcl.Range
}

// Batch shapes the batches a source sends.
type Batch struct {
	// Size is the most events in one batch.
	Size int
	// Linger is how long a partial batch waits for more events before it
	// is sent anyway.
	Linger time.Duration
}

// Batch defaults, applied when a source has no batch block or leaves an
// attribute out of it.
const (
	DefaultBatchSize   = 1000
	DefaultBatchLinger = 10 * time.Millisecond
)

// maxBatchSize is the largest size the protocol can carry (uint32 on the wire).
const maxBatchSize = 1<<32 - 1

// Names of host-owned attributes and blocks inside component blocks. They are
// reserved for every kind, so no plugin can declare an attribute by these
// names. The delivery settings' names are in delivery.go.
const (
	inputsAttr = "inputs"
	batchBlock = "batch"
)

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: flowctlBlock},
		{Type: localsBlock},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "pipeline", LabelNames: []string{"name"}},
		{Type: KindSource.String(), LabelNames: []string{"type", "name"}},
		{Type: KindProcessor.String(), LabelNames: []string{"type", "name"}},
		{Type: KindSink.String(), LabelNames: []string{"type", "name"}},
	},
}

var pipelineSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "description"}, {Name: shutdownTimeoutAttr}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: restartBlock}, {Type: driverBlock, LabelNames: []string{"name"}}},
}

var componentSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: inputsAttr}, {Name: onErrorAttr}, {Name: deadLetterAttr}, {Name: envAttr}, {Name: parallelismAttr}, {Name: partitionByAttr}},
	Blocks:     []hcl.BlockHeaderSchema{{Type: batchBlock}, {Type: restartBlock}, {Type: retryBlock}, {Type: driverBlock, LabelNames: []string{"name"}}},
}

var batchSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "size"}, {Name: "linger"}},
}

// Component returns the component at addr, or nil.
func (c *Config) Component(addr Address) *Component {
	for _, comp := range c.Components {
		if comp.Address == addr {
			return comp
		}
	}
	return nil
}

// parser carries what is needed across blocks: the names seen so far, to
// report duplicates against the first declaration.
type parser struct {
	cfg           *Config
	pipelineBlock *hcl.Block
	variables     map[string]*Variable
	components    map[Address]*Component
	// defaultRestart holds the components without a restart block of their
	// own, to be given the pipeline's once every block is read.
	defaultRestart []*Component
	// defaultDriver holds the components without a driver block of their
	// own, to be given the pipeline's.
	defaultDriver []*Component
	locals        map[string]*Local
	// flowctl is the first flowctl block, to report a second one against.
	flowctl *hcl.Block
	plugins map[string]*RequiredPlugin
}

func (p *parser) pipeline(block *hcl.Block) hcl.Diagnostics {
	if p.pipelineBlock != nil {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate pipeline block",
			Detail: fmt.Sprintf("A pipeline has one pipeline block, and it was already declared at %s. Remove this one.",
				posString(p.pipelineBlock.DefRange)),
			Subject: block.DefRange.Ptr(),
		}}
	}
	p.pipelineBlock = block

	content, diags := block.Body.Content(pipelineSchema)
	p.cfg.Pipeline.Name = block.Labels[0]
	p.cfg.Pipeline.DeclRange = block.DefRange
	if attr, ok := content.Attributes["description"]; ok {
		desc, moreDiags := staticString(attr)
		diags = append(diags, moreDiags...)
		p.cfg.Pipeline.Description = desc
	}
	if attr, ok := content.Attributes[shutdownTimeoutAttr]; ok {
		d, moreDiags := shutdownTimeout(attr)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			p.cfg.Pipeline.ShutdownTimeout = d
		}
	}
	restart, ok, moreDiags := parseRestart("pipeline block", content.Blocks)
	diags = append(diags, moreDiags...)
	if ok {
		p.cfg.Pipeline.Restart = restart
	}
	driver, _, moreDiags := parseDriver("pipeline block", content.Blocks)
	diags = append(diags, moreDiags...)
	p.cfg.Pipeline.Driver = driver
	return diags
}

func (p *parser) component(kind Kind, block *hcl.Block) hcl.Diagnostics {
	var diags hcl.Diagnostics
	c := &Component{
		Address:   Address{Kind: kind, Name: block.Labels[1]},
		Type:      block.Labels[0],
		DeclRange: block.DefRange,
		TypeRange: block.LabelRanges[0],
		NameRange: block.LabelRanges[1],
	}
	if c.Type == "" {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing component type",
			Detail:   fmt.Sprintf("The first label of a %s block names the plugin component that runs it, for example %s \"file\" %q.", kind, kind, c.Address.Name),
			Subject:  c.TypeRange.Ptr(),
		})
	}
	if !hclsyntax.ValidIdentifier(c.Address.Name) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid component name",
			Detail: fmt.Sprintf("%q cannot be used in a reference such as %s.NAME. A name starts with a letter or underscore and contains only letters, digits, underscores and dashes.",
				c.Address.Name, kind),
			Subject: c.NameRange.Ptr(),
		})
	}
	if prev, ok := p.components[c.Address]; ok {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Duplicate " + kind.String(),
			Detail: fmt.Sprintf("A %s named %q was already declared at %s. Names must be unique among %s; rename one of them.",
				kind, c.Address.Name, posString(prev.DeclRange), plural(kind)),
			Subject: c.DeclRange.Ptr(),
		})
	}

	content, body, moreDiags := block.Body.PartialContent(componentSchema)
	diags = append(diags, moreDiags...)
	c.Body = body
	if attr, ok := content.Attributes[envAttr]; ok {
		c.envExpr = attr.Expr
	}

	if attr, ok := content.Attributes[inputsAttr]; ok {
		c.InputsRange = attr.Expr.Range()
		if kind == KindSource {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unexpected inputs",
				Detail:   "A source reads from outside the pipeline, so it takes no inputs. Remove this attribute, or declare the component as a processor.",
				Subject:  hcl.RangeBetween(attr.NameRange, attr.Expr.Range()).Ptr(),
			})
		} else {
			inputs, moreDiags := parseInputs(attr)
			diags = append(diags, moreDiags...)
			c.Inputs = inputs
		}
	}

	batch, moreDiags := parseBatch(kind, blocksOfType(content.Blocks, batchBlock))
	diags = append(diags, moreDiags...)
	c.Batch = batch

	restart, ok, moreDiags := parseRestart(kind.String(), content.Blocks)
	diags = append(diags, moreDiags...)
	if ok {
		c.Restart = restart
	} else {
		p.defaultRestart = append(p.defaultRestart, c)
	}

	driver, ok, moreDiags := parseDriver(kind.String(), content.Blocks)
	diags = append(diags, moreDiags...)
	switch {
	case !ok:
		p.defaultDriver = append(p.defaultDriver, c)
	case driver != nil:
		c.Driver = driver
	default:
		c.Driver = defaultDriver() // an unknown driver, reported
	}

	onError, moreDiags := parseOnError(kind, content)
	diags = append(diags, moreDiags...)
	c.OnError = onError

	par, moreDiags := parseParallelism(kind, content)
	diags = append(diags, moreDiags...)
	c.Parallelism = par

	p.components[c.Address] = c
	p.cfg.Components = append(p.cfg.Components, c)
	return diags
}

// parseInputs reads the inputs list. Elements are references, not strings, so
// they are read from the syntax without evaluating anything.
func parseInputs(attr *hcl.Attribute) ([]Input, hcl.Diagnostics) {
	exprs, diags := hcl.ExprList(attr.Expr)
	if diags.HasErrors() {
		return nil, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid inputs",
			Detail:   "inputs is a list of component references, for example inputs = [source.ticks, processor.tag].",
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	inputs := make([]Input, 0, len(exprs))
	for _, expr := range exprs {
		in, moreDiags := parseInput(expr)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			inputs = append(inputs, in)
		}
	}
	return inputs, diags
}

// refSyntax is the words diagnostics use about one place a component
// reference is written (an input, a dead_letter).
type refSyntax struct {
	summary string
	// form says how the reference is written, with an example.
	form string
	// noun starts a sentence about the reference ("An input").
	noun string
	// whole says the reference names a component, not an attribute of one.
	whole string
}

var inputRef = refSyntax{
	summary: "Invalid input reference",
	form:    "An input is a reference to a component written kind.name, for example source.ticks or processor.tag.",
	noun:    "An input",
	whole:   "An input names a whole component, not one of its attributes.",
}

func parseInput(expr hcl.Expression) (Input, hcl.Diagnostics) {
	return parseReference(expr, inputRef)
}

// parseReference reads a reference to a component, kind.name, from the
// syntax of expr without evaluating it.
func parseReference(expr hcl.Expression, ref refSyntax) (Input, hcl.Diagnostics) {
	invalid := func(detail string) (Input, hcl.Diagnostics) {
		return Input{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  ref.summary,
			Detail:   detail,
			Subject:  expr.Range().Ptr(),
		}}
	}

	traversal, diags := hcl.AbsTraversalForExpr(expr)
	if diags.HasErrors() {
		// A quoted address is the most likely slip; say exactly what to write.
		if v, vDiags := expr.Value(nil); !vDiags.HasErrors() && v.Type() == cty.String && v.IsKnown() && !v.IsNull() {
			if addr, err := ParseAddress(v.AsString()); err == nil {
				return invalid(fmt.Sprintf("%s is a reference, not a string: write %s without the quotes.", ref.noun, addr))
			}
		}
		return invalid(ref.form)
	}

	kind, err := ParseKind(traversal.RootName())
	if err != nil {
		return invalid(fmt.Sprintf("%q is not a component kind. %s", traversal.RootName(), ref.form))
	}
	if len(traversal) != 2 {
		return invalid(ref.form + " " + ref.whole)
	}
	step, ok := traversal[1].(hcl.TraverseAttr)
	if !ok {
		return invalid(ref.form)
	}
	return Input{Address: Address{Kind: kind, Name: step.Name}, Range: expr.Range()}, nil
}

func parseBatch(kind Kind, blocks hcl.Blocks) (*Batch, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	if kind != KindSource {
		for _, block := range blocks {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Unexpected batch block",
				Detail:   fmt.Sprintf("Batches are shaped where events enter the pipeline: a batch block belongs in a source, not a %s.", kind),
				Subject:  block.DefRange.Ptr(),
			})
		}
		return nil, diags
	}

	batch := &Batch{Size: DefaultBatchSize, Linger: DefaultBatchLinger}
	for i, block := range blocks {
		if i > 0 {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate batch block",
				Detail:   fmt.Sprintf("A source has at most one batch block; the first is at %s.", posString(blocks[0].DefRange)),
				Subject:  block.DefRange.Ptr(),
			})
			continue
		}
		content, moreDiags := block.Body.Content(batchSchema)
		diags = append(diags, moreDiags...)
		if attr, ok := content.Attributes["size"]; ok {
			size, moreDiags := batchSize(attr)
			diags = append(diags, moreDiags...)
			if !moreDiags.HasErrors() {
				batch.Size = size
			}
		}
		if attr, ok := content.Attributes["linger"]; ok {
			linger, moreDiags := batchLinger(attr)
			diags = append(diags, moreDiags...)
			if !moreDiags.HasErrors() {
				batch.Linger = linger
			}
		}
	}
	return batch, diags
}

// Batch settings are evaluated without variables: they are read at parse
// time, before variable values are known.
func batchSize(attr *hcl.Attribute) (int, hcl.Diagnostics) {
	return wholeNumber(attr, 1, maxBatchSize, "Invalid batch size",
		fmt.Sprintf("size is the most events in one batch: a whole number from 1 to %d.", maxBatchSize))
}

func batchLinger(attr *hcl.Attribute) (time.Duration, hcl.Diagnostics) {
	v, diags := staticValue(attr, cty.String)
	if diags.HasErrors() {
		return 0, diags
	}
	d, err := time.ParseDuration(v.AsString())
	if err != nil || d < 0 {
		return 0, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid batch linger",
			Detail:   fmt.Sprintf("linger is how long a partial batch waits before it is sent: a duration such as \"10ms\" or \"1s\", not %q.", v.AsString()),
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	return d, nil
}
