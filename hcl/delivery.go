package hcl

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/flowctl/flowctl/proto/wire"
)

// This file holds the host-owned delivery settings: how long the pipeline
// may take to stop (shutdown_timeout), how a failed plugin is restarted
// (restart), and what a processor or sink does with events it fails
// (on_error, retry, dead_letter). Like batch, they are read at parse time and
// must be constants.

// Restart is how a component's plugin is restarted after it fails: at most
// Attempts times, waiting Delay before the first restart and doubling the
// wait for each further one, up to MaxDelay.
type Restart struct {
	// Attempts is how many restarts are tried before the pipeline fails;
	// 0 never restarts.
	Attempts int
	// Delay is the wait before the first restart; MaxDelay the longest
	// wait. 0 < Delay <= MaxDelay.
	Delay, MaxDelay time.Duration
	// DeclRange is the header of the restart block the policy comes from:
	// the component's own, or the pipeline's default. The zero Range when
	// neither exists and the built-in defaults apply.
	DeclRange hcl.Range
}

// ErrorMode is what a processor or sink does with events it fails: its
// on_error setting. It is the protocol's (wire.ErrorMode), shared with the
// host.
type ErrorMode = wire.ErrorMode

// The error modes, as written in on_error.
const (
	// ErrorFail stops the pipeline; nothing past the failure is acked.
	ErrorFail = wire.ErrorFail
	// ErrorRetry sends the failed events again, as OnError.Retry says.
	// Events whose retries run out go to the dead-letter sink when there
	// is one, and otherwise fail the run.
	ErrorRetry = wire.ErrorRetry
	// ErrorDeadLetter sends the failed events, with the error attached,
	// to the sink OnError.DeadLetter names.
	ErrorDeadLetter = wire.ErrorDeadLetter
)

// ErrInvalidErrorMode is returned (wrapped) by ParseErrorMode for a word that
// names no mode.
var ErrInvalidErrorMode = wire.ErrInvalidErrorMode

// ParseErrorMode parses an on_error value ("fail", "retry", "dead_letter").
func ParseErrorMode(s string) (ErrorMode, error) { return wire.ParseErrorMode(s) }

// Backoff is how failed events are retried: at most Attempts times, waiting
// Delay before the first retry and doubling the wait for each further one,
// up to MaxDelay.
type Backoff struct {
	// Attempts is how many times the events are sent again; at least 1.
	Attempts int
	// Delay is the wait before the first retry; MaxDelay the longest wait.
	// 0 < Delay <= MaxDelay.
	Delay, MaxDelay time.Duration
}

// OnError is what a processor or sink does with events it fails.
type OnError struct {
	// Mode is the on_error setting. Left out, it is ErrorDeadLetter when
	// the block names a dead_letter sink and ErrorFail otherwise.
	Mode ErrorMode
	// Retry is the retry block with defaults applied. It is used only when
	// Mode is ErrorRetry, and holds the defaults otherwise.
	Retry Backoff
	// DeadLetter is the sink that receives failed events; nil when the
	// block has no dead_letter. Set for ErrorDeadLetter; optional for
	// ErrorRetry (where events go once their retries run out); never set
	// for ErrorFail. Whether the sink exists is checked with the rest of
	// the pipeline's shape (host/pipeline).
	DeadLetter *Input
	// ModeRange is the range of the on_error value; the zero Range when
	// the block has no on_error.
	ModeRange hcl.Range
}

// Defaults of the delivery settings, applied when a setting or one of its
// attributes is left out.
const (
	DefaultShutdownTimeout = 30 * time.Second

	DefaultRestartAttempts = 3
	DefaultRestartDelay    = time.Second
	DefaultRestartMaxDelay = 30 * time.Second

	DefaultRetryAttempts = 3
	DefaultRetryDelay    = 100 * time.Millisecond
	DefaultRetryMaxDelay = 5 * time.Second
)

// maxAttempts bounds attempts, so that any value fits an int and a counter.
const maxAttempts = math.MaxInt32

// Names of the host-owned delivery settings. Like inputs and batch they are
// reserved in every component block; a source gets a diagnostic for the ones
// that are not its own.
const (
	restartBlock        = "restart"
	onErrorAttr         = "on_error"
	retryBlock          = "retry"
	deadLetterAttr      = "dead_letter"
	shutdownTimeoutAttr = "shutdown_timeout"
	attemptsAttr        = "attempts"
	delayAttr           = "delay"
	maxDelayAttr        = "max_delay"
)

var backoffSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: attemptsAttr}, {Name: delayAttr}, {Name: maxDelayAttr}},
}

// backoffSpec is what a restart or retry block means: its defaults and
// limits, and the words its diagnostics use.
type backoffSpec struct {
	block       string
	minAttempts int
	defaults    Backoff
	// what is retried, as in "the wait before the first <what>".
	what string
	// attempts explains the attempts attribute, for its diagnostic.
	attempts string
}

var (
	restartSpec = backoffSpec{
		block:       restartBlock,
		minAttempts: 0,
		defaults:    Backoff{Attempts: DefaultRestartAttempts, Delay: DefaultRestartDelay, MaxDelay: DefaultRestartMaxDelay},
		what:        "restart",
		attempts:    "attempts is how many times a failed plugin is restarted before the pipeline fails",
	}
	retrySpec = backoffSpec{
		block:       retryBlock,
		minAttempts: 1,
		defaults:    Backoff{Attempts: DefaultRetryAttempts, Delay: DefaultRetryDelay, MaxDelay: DefaultRetryMaxDelay},
		what:        "retry",
		attempts:    "attempts is how many times failed events are sent again before they are given up on",
	}
)

// defaultRestart is the policy of a component when neither it nor the
// pipeline has a restart block.
func defaultRestart() Restart {
	d := restartSpec.defaults
	return Restart{Attempts: d.Attempts, Delay: d.Delay, MaxDelay: d.MaxDelay}
}

// parseRestart reads the restart blocks of a pipeline or component block
// (where names it in diagnostics). ok is false when there is none, so the
// caller can apply its default.
func parseRestart(where string, blocks hcl.Blocks) (r Restart, ok bool, diags hcl.Diagnostics) {
	block, dupDiags := singleBlock(where, restartBlock, blocks)
	if block == nil {
		return Restart{}, false, nil
	}
	b, diags := parseBackoff(restartSpec, block)
	return Restart{Attempts: b.Attempts, Delay: b.Delay, MaxDelay: b.MaxDelay, DeclRange: block.DefRange}, true, append(diags, dupDiags...)
}

// singleBlock returns the first of blocks of type typ (nil when there is
// none), and an error for each further one. where names the enclosing block
// ("source", "pipeline block").
func singleBlock(where, typ string, blocks hcl.Blocks) (*hcl.Block, hcl.Diagnostics) {
	var first *hcl.Block
	var diags hcl.Diagnostics
	for _, block := range blocks {
		if block.Type != typ {
			continue
		}
		if first == nil {
			first = block
			continue
		}
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Duplicate %s block", typ),
			Detail:   fmt.Sprintf("A %s has at most one %s block; the first is at %s.", where, typ, posString(first.DefRange)),
			Subject:  block.DefRange.Ptr(),
		})
	}
	return first, diags
}

// parseBackoff reads a restart or retry block. An attribute left out takes
// its default, except that a left-out max_delay is never shorter than delay.
func parseBackoff(spec backoffSpec, block *hcl.Block) (Backoff, hcl.Diagnostics) {
	b := spec.defaults
	content, diags := block.Body.Content(backoffSchema)

	if attr, ok := content.Attributes[attemptsAttr]; ok {
		n, moreDiags := attemptsValue(spec, attr)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			b.Attempts = n
		}
	}
	delayOK := true
	if attr, ok := content.Attributes[delayAttr]; ok {
		d, moreDiags := positiveDuration(spec, attr,
			fmt.Sprintf("delay is the wait before the first %s, doubled for each further one", spec.what),
			spec.defaults.Delay.String())
		diags = append(diags, moreDiags...)
		if delayOK = !moreDiags.HasErrors(); delayOK {
			b.Delay = d
		}
	}
	attr, maxSet := content.Attributes[maxDelayAttr]
	if !maxSet {
		b.MaxDelay = max(b.MaxDelay, b.Delay)
		return b, diags
	}
	d, moreDiags := positiveDuration(spec, attr,
		fmt.Sprintf("max_delay is the longest wait before a %s", spec.what), spec.defaults.MaxDelay.String())
	diags = append(diags, moreDiags...)
	switch {
	case moreDiags.HasErrors():
		b.MaxDelay = max(b.MaxDelay, b.Delay)
	case delayOK && d < b.Delay:
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid %s max_delay", spec.block),
			Detail: fmt.Sprintf("max_delay is the longest wait before a %s, so it cannot be shorter than delay (%s). Make it %s or longer.",
				spec.what, b.Delay, b.Delay),
			Subject: attr.Expr.Range().Ptr(),
		})
	default:
		b.MaxDelay = d
	}
	return b, diags
}

func attemptsValue(spec backoffSpec, attr *hcl.Attribute) (int, hcl.Diagnostics) {
	v, diags := staticValue(attr, cty.Number)
	if diags.HasErrors() {
		return 0, diags
	}
	bf := v.AsBigFloat()
	n, exact := bf.Int64()
	if !bf.IsInt() || exact != 0 || n < int64(spec.minAttempts) || n > maxAttempts {
		limits := fmt.Sprintf("a whole number from %d to %d", spec.minAttempts, maxAttempts)
		if spec.minAttempts == 0 {
			limits = fmt.Sprintf("a whole number from 0 (never %s) to %d", spec.what, maxAttempts)
		}
		return 0, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Invalid %s attempts", spec.block),
			Detail:   fmt.Sprintf("%s: %s.", spec.attempts, limits),
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	return int(n), nil
}

// positiveDuration reads a constant duration greater than zero. meaning
// explains the attribute and example is a valid value, for the diagnostic.
func positiveDuration(spec backoffSpec, attr *hcl.Attribute, meaning, example string) (time.Duration, hcl.Diagnostics) {
	return durationValue(attr, fmt.Sprintf("Invalid %s %s", spec.block, attr.Name), meaning, example)
}

// durationValue reads a constant duration greater than zero, or reports
// summary with meaning and an example in its detail.
func durationValue(attr *hcl.Attribute, summary, meaning, example string) (time.Duration, hcl.Diagnostics) {
	v, diags := staticValue(attr, cty.String)
	if diags.HasErrors() {
		return 0, diags
	}
	d, err := time.ParseDuration(v.AsString())
	if err != nil || d <= 0 {
		return 0, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  summary,
			Detail:   fmt.Sprintf("%s: a duration greater than zero such as %q, not %q.", meaning, example, v.AsString()),
			Subject:  attr.Expr.Range().Ptr(),
		}}
	}
	return d, nil
}

func shutdownTimeout(attr *hcl.Attribute) (time.Duration, hcl.Diagnostics) {
	return durationValue(attr, "Invalid shutdown timeout",
		"shutdown_timeout is how long the pipeline may take to drain and stop once it is told to", "30s")
}

// parseOnError reads on_error, retry and dead_letter. A source has none of
// them: each one it has is an error, and the result is nil. Every processor
// and sink gets an OnError, with defaults applied.
func parseOnError(kind Kind, content *hcl.BodyContent) (*OnError, hcl.Diagnostics) {
	modeAttr, hasMode := content.Attributes[onErrorAttr]
	dlAttr, hasDL := content.Attributes[deadLetterAttr]
	retryBlocks := blocksOfType(content.Blocks, retryBlock)

	if kind == KindSource {
		var diags hcl.Diagnostics
		if hasMode {
			diags = append(diags, unexpectedOnSource(modeAttr.Name, attrRange(modeAttr)))
		}
		for _, block := range retryBlocks {
			diags = append(diags, unexpectedOnSource("retry block", block.DefRange))
		}
		if hasDL {
			diags = append(diags, unexpectedOnSource(dlAttr.Name, attrRange(dlAttr)))
		}
		return nil, diags
	}

	oe := &OnError{Mode: ErrorFail, Retry: retrySpec.defaults}
	var diags hcl.Diagnostics
	modeOK := true
	if hasMode {
		oe.ModeRange = modeAttr.Expr.Range()
		mode, moreDiags := errorModeValue(modeAttr)
		diags = append(diags, moreDiags...)
		modeOK = !moreDiags.HasErrors()
		if modeOK {
			oe.Mode = mode
		}
	}
	if hasDL {
		in, moreDiags := parseDeadLetter(dlAttr)
		diags = append(diags, moreDiags...)
		if !moreDiags.HasErrors() {
			oe.DeadLetter = &in
		}
		if !hasMode {
			oe.Mode = ErrorDeadLetter
		}
	}

	retry, dupDiags := singleBlock(kind.String(), retryBlock, retryBlocks)
	if retry != nil {
		b, moreDiags := parseBackoff(retrySpec, retry)
		diags = append(diags, moreDiags...)
		oe.Retry = b
	}
	diags = append(diags, dupDiags...)

	if !modeOK {
		return oe, diags // whether the rest fits the mode cannot be said
	}
	if retry != nil && oe.Mode != ErrorRetry {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unexpected retry block",
			Detail: fmt.Sprintf("A retry block has no effect unless on_error = %q, and %s. Set on_error = %q, or remove the block.",
				ErrorRetry, modeNote(oe), ErrorRetry),
			Subject: retry.DefRange.Ptr(),
		})
	}
	switch {
	case oe.Mode == ErrorDeadLetter && !hasDL:
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing dead_letter",
			Detail:   fmt.Sprintf("on_error = %q sends the events this %s fails to a sink: name it with dead_letter = sink.NAME.", ErrorDeadLetter, kind),
			Subject:  oe.ModeRange.Ptr(),
		})
	case oe.Mode == ErrorFail && hasDL:
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Unexpected dead_letter",
			Detail: fmt.Sprintf("dead_letter has no effect with on_error = %q: a failed event stops the pipeline and is sent nowhere. Set on_error = %q, or %q to dead-letter the events whose retries run out, or remove dead_letter.",
				ErrorFail, ErrorDeadLetter, ErrorRetry),
			Subject: attrRange(dlAttr).Ptr(),
		})
		oe.DeadLetter = nil
	}
	return oe, diags
}

func errorModeValue(attr *hcl.Attribute) (ErrorMode, hcl.Diagnostics) {
	s, diags := staticString(attr)
	if diags.HasErrors() {
		return 0, diags
	}
	mode, err := ParseErrorMode(s)
	if err == nil {
		return mode, nil
	}
	names := make([]string, len(wire.ErrorModes))
	quoted := make([]string, len(wire.ErrorModes))
	for i, m := range wire.ErrorModes {
		names[i] = m.String()
		quoted[i] = strconv.Quote(m.String())
	}
	detail := fmt.Sprintf("on_error is %s or %s, not %q.", strings.Join(quoted[:len(quoted)-1], ", "), quoted[len(quoted)-1], s)
	if suggestion := NameSuggestion(s, names); suggestion != "" {
		detail += fmt.Sprintf(" Did you mean %q?", suggestion)
	}
	return 0, hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Invalid on_error",
		Detail:   detail,
		Subject:  attr.Expr.Range().Ptr(),
	}}
}

var deadLetterRef = refSyntax{
	summary: "Invalid dead_letter reference",
	form:    "dead_letter names the sink that receives the events this component fails, written sink.NAME, for example dead_letter = sink.failed.",
	noun:    "dead_letter",
	whole:   "It names a whole sink, not one of its attributes.",
}

// parseDeadLetter reads dead_letter: a reference to a sink, read from the
// syntax like an input. Whether the sink exists is the DAG's business.
func parseDeadLetter(attr *hcl.Attribute) (Input, hcl.Diagnostics) {
	for _, v := range attr.Expr.Variables() {
		if v.RootName() == "var" {
			return Input{}, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Variables not allowed",
				Detail:   "dead_letter is read when the pipeline is parsed, before variables have values, so it names a sink directly, for example dead_letter = sink.failed.",
				Subject:  v.SourceRange().Ptr(),
			}}
		}
	}
	in, diags := parseReference(attr.Expr, deadLetterRef)
	if diags.HasErrors() {
		return Input{}, diags
	}
	if in.Address.Kind != KindSink {
		return Input{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid dead_letter",
			Detail: fmt.Sprintf("dead_letter names a sink, where failed events leave the pipeline with their error attached; %s is a %s. Write dead_letter = sink.NAME.",
				in.Address, in.Address.Kind),
			Subject: in.Range.Ptr(),
		}}
	}
	return in, nil
}

// modeNote says how oe's mode was set, for a diagnostic about something
// that does not fit it.
func modeNote(oe *OnError) string {
	switch {
	case oe.ModeRange != (hcl.Range{}):
		return fmt.Sprintf("here on_error = %q", oe.Mode)
	case oe.Mode == ErrorDeadLetter:
		return fmt.Sprintf("here on_error is left out and dead_letter is set, which means on_error = %q", oe.Mode)
	default:
		return fmt.Sprintf("here on_error is left out, which means on_error = %q", oe.Mode)
	}
}

// unexpectedOnSource reports what (on_error, a retry block, dead_letter) in
// a source, whose failures are restarts.
func unexpectedOnSource(what string, rng hcl.Range) *hcl.Diagnostic {
	return &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  "Unexpected " + what,
		Detail: fmt.Sprintf("A source has no %s: a source does not fail event by event. When it fails, its plugin is restarted as its restart block says, for example restart { attempts = 5 }. Remove this %s.",
			what, what),
		Subject: rng.Ptr(),
	}
}

// attrRange is a whole attribute, name to value, for diagnostics that say
// to remove it.
func attrRange(attr *hcl.Attribute) hcl.Range {
	return hcl.RangeBetween(attr.NameRange, attr.Expr.Range())
}

func blocksOfType(blocks hcl.Blocks, typ string) hcl.Blocks {
	var out hcl.Blocks
	for _, b := range blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}
