package sdktest

import (
	"context"
	"slices"
	"testing"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/internal/sdkhooks"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Case is one configuration of one component that Conformance exercises.
type Case struct {
	Name      string
	Kind      Kind
	Component string
	Config    map[string]any
	// Input is the batch given to a processor or sink.
	Input []pluginsdk.Event
	// Limit caps the events read from a source (0: until end of input).
	Limit int
	// MaxBatch caps a source's batch size (0: the SDK's default), so a
	// resume check can see several batches.
	MaxBatch uint32
	// Resume, for deterministic sources, checks that reading from the first
	// batch's position continues right after that batch.
	Resume bool
}

// Conformance checks what every flowctl plugin must do: a valid schema that
// survives `describe`, configuration errors reported at attribute paths, and
// each case's component run through its stream the way the host does,
// without leaking goroutines.
func Conformance(t *testing.T, p pluginsdk.Plugin, cases ...Case) {
	t.Run("schema", func(t *testing.T) { checkSchema(t, p) })
	t.Run("config-errors", func(t *testing.T) { checkConfigErrors(t, p) })
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			// The harness closes in the subtest's cleanup, before the check.
			t.Run("run", func(t *testing.T) { runCase(t, p, c) })
			goleak.VerifyNone(t, ignore)
		})
	}
}

func checkSchema(t *testing.T, p pluginsdk.Plugin) {
	if err := sdkhooks.Validate(p); err != nil {
		t.Fatal(err)
	}
	schema := Schema(p)
	if len(schema.GetProtocolVersions()) == 0 {
		t.Error("schema lists no protocol versions")
	}
	for _, c := range schema.GetComponents() {
		if c.GetDescription() == "" {
			t.Errorf("%v %q has no description", c.GetKind(), c.GetName())
		}
		for _, a := range c.GetAttributes() {
			if a.GetDescription() == "" {
				t.Errorf("%v %q: attribute %q has no description", c.GetKind(), c.GetName(), a.GetName())
			}
			if a.GetRequired() && len(a.GetDefaultJson()) > 0 {
				t.Errorf("%v %q: attribute %q is required and has a default", c.GetKind(), c.GetName(), a.GetName())
			}
		}
	}
	out, errb, code := describe(p)
	if code != 0 {
		t.Fatalf("describe exited %d: %s", code, errb.String())
	}
	var back flowctlv1.GetSchemaResponse
	if err := protojson.Unmarshal(out.Bytes(), &back); err != nil {
		t.Fatalf("describe output is not a schema: %v\n%s", err, out.String())
	}
	if !proto.Equal(&back, schema) {
		t.Errorf("describe output differs from GetSchema:\n%s", out.String())
	}
}

func checkConfigErrors(t *testing.T, p pluginsdk.Plugin) {
	for _, c := range Schema(p).GetComponents() {
		kind := kindOf(c.GetKind())
		h := New(t, p)
		const unknown = "flowctl_conformance_unknown"
		diags, err := h.Configure(t.Context(), kind, c.GetName(), map[string]any{unknown: true})
		if err != nil {
			t.Fatalf("%v %q: configure: %v", kind, c.GetName(), err)
		}
		if !hasPath(diags, unknown) {
			t.Errorf("%v %q: an unknown attribute gave no diagnostic at its path: %v", kind, c.GetName(), diags)
		}
		checked, err := h.Validate(t.Context(), kind, c.GetName(), map[string]any{unknown: true})
		if err != nil {
			t.Fatalf("%v %q: validate: %v", kind, c.GetName(), err)
		}
		if !hasPath(checked, unknown) {
			t.Errorf("%v %q: validate_only did not report the unknown attribute at its path: %v", kind, c.GetName(), checked)
		}
		for _, a := range c.GetAttributes() {
			if a.GetRequired() && !hasPath(diags, a.GetName()) {
				t.Errorf("%v %q: missing required %q gave no diagnostic at its path", kind, c.GetName(), a.GetName())
			}
		}
	}
}

func hasErrorDiag(diags []*flowctlv1.Diagnostic) bool {
	return slices.ContainsFunc(diags, func(d *flowctlv1.Diagnostic) bool {
		return d.GetSeverity() == flowctlv1.Severity_SEVERITY_ERROR
	})
}

func hasPath(diags []*flowctlv1.Diagnostic, name string) bool {
	return slices.ContainsFunc(diags, func(d *flowctlv1.Diagnostic) bool {
		return d.GetSeverity() == flowctlv1.Severity_SEVERITY_ERROR && len(d.GetAttributePath()) > 0 && d.GetAttributePath()[0] == name
	})
}

func kindOf(k flowctlv1.Kind) Kind {
	for sk, pk := range kinds {
		if pk == k {
			return sk
		}
	}
	return 0
}

func runCase(t *testing.T, p pluginsdk.Plugin, c Case) {
	ctx := t.Context()
	h := New(t, p)
	// A check (validate_only) leaves the plugin unconfigured, so it can be
	// checked again and then configured.
	for range 2 {
		diags, err := h.Validate(ctx, c.Kind, c.Component, c.Config)
		if err != nil {
			t.Fatalf("validate %v %q: %v", c.Kind, c.Component, err)
		}
		if hasErrorDiag(diags) {
			t.Fatalf("validate %v %q: %v", c.Kind, c.Component, diags)
		}
	}
	h.MustConfigure(t, c.Kind, c.Component, c.Config)
	switch c.Kind {
	case KindSource:
		res, err := h.ReadSource(ctx, ReadOptions{Limit: c.Limit, MaxBatch: c.MaxBatch})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Events) == 0 {
			t.Fatal("source produced no events")
		}
		for i, pos := range res.Positions {
			if len(pos) == 0 {
				t.Fatalf("batch %d has an empty position", i+1)
			}
		}
		if c.Resume {
			checkResume(ctx, t, p, c, res)
		}
	case KindProcessor:
		out, err := h.Process(ctx, c.Input)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSorted(out[0].Origins) {
			t.Errorf("origins out of input order: %v", out[0].Origins)
		}
		for _, o := range out[0].Origins {
			if int(o) >= len(c.Input) {
				t.Errorf("origin %d beyond the %d inputs", o, len(c.Input))
			}
		}
	case KindSink:
		acks, err := h.Write(ctx, c.Input)
		if err != nil {
			t.Fatal(err)
		}
		if !acks[0].GetOk() {
			t.Fatalf("sink nacked: %s", acks[0].GetError())
		}
	}
	if _, err := h.Plugin.Stop(ctx, &flowctlv1.StopRequest{}); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func checkResume(ctx context.Context, t *testing.T, p pluginsdk.Plugin, c Case, first *SourceResult) {
	if len(first.Positions) < 2 {
		t.Fatalf("resume check needs at least 2 batches; got %d (lower the batch size or raise the input)", len(first.Positions))
	}
	h := New(t, p)
	h.MustConfigure(t, c.Kind, c.Component, c.Config)
	res, err := h.ReadSource(ctx, ReadOptions{From: first.Positions[0], Limit: 1, MaxBatch: c.MaxBatch})
	if err != nil {
		t.Fatal(err)
	}
	want := first.Events[first.Counts[0]]
	if len(res.Events) == 0 || res.Events[0].ID != want.ID {
		t.Fatalf("resuming after position %v: first event %+v, want id %q", first.Positions[0], res.Events, want.ID)
	}
}
