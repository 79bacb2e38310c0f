package pluginsdk

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/proto/dataplane"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// registerServices registers the flowctl plugin services for p on s. Serve
// and network mode call it, and sdktest through sdkhooks. The server's
// teardown tears down the configured component, if any, and is safe to
// call more than once.
func registerServices(s *grpc.Server, p Plugin, log hclog.Logger) *server {
	srv := &server{plugin: p, log: log}
	flowctlv1.RegisterPluginServer(s, &baseService{srv: srv})
	flowctlv1.RegisterSourceServer(s, &sourceService{srv: srv})
	flowctlv1.RegisterProcessorServer(s, &processorService{srv: srv})
	flowctlv1.RegisterSinkServer(s, &sinkService{srv: srv})
	mux := dataplane.NewMux()
	mux.Register(s)
	flowctlv1.RegisterNodeServer(s, &nodeService{srv: srv, mux: mux})
	return srv
}

// server holds the one component instance a plugin process runs: the host
// starts a process per pipeline component.
type server struct {
	plugin Plugin
	log    hclog.Logger

	mu   sync.Mutex
	inst *instance
}

type instance struct {
	kind      wire.Kind
	address   string
	source    Source
	processor Processor
	sink      Sink

	// use is held shared by every call into the component (Read and Ack
	// may overlap) and exclusively by Teardown, so Teardown never overlaps
	// them and nothing is called after it.
	use      sync.RWMutex
	tornDown bool

	cmu      sync.Mutex
	streamed bool
	cancel   context.CancelFunc // ends the running stream, if any
}

// do runs fn, a call into the component, unless the instance was torn
// down (then it returns ErrPluginShutdown).
func (in *instance) do(fn func() error) error {
	in.use.RLock()
	defer in.use.RUnlock()
	if in.tornDown {
		return ErrPluginShutdown
	}
	return fn()
}

// read is the component's Source.Read, through do.
func (in *instance) read(ctx context.Context, max int) (recs []Record, err error) {
	err = in.do(func() error {
		recs, err = in.source.Read(ctx, max)
		return err
	})
	return recs, err
}

// teardown cancels the running stream, waits for calls in progress to
// return, and tears the component down once.
func (in *instance) teardown(ctx context.Context, log hclog.Logger) {
	in.cmu.Lock()
	if in.cancel != nil {
		in.cancel()
	}
	in.cmu.Unlock()
	in.use.Lock()
	defer in.use.Unlock()
	if in.tornDown {
		return
	}
	in.tornDown = true
	var err error
	switch {
	case in.source != nil:
		err = in.source.Teardown(ctx)
	case in.processor != nil:
		err = in.processor.Teardown(ctx)
	case in.sink != nil:
		err = in.sink.Teardown(ctx)
	}
	if err != nil {
		log.Error("teardown failed", "component", in.address, "error", err)
	}
}

func (s *server) teardown(ctx context.Context) {
	s.mu.Lock()
	inst := s.inst
	s.mu.Unlock()
	if inst != nil {
		inst.teardown(ctx, s.log)
	}
}

// begin hands the configured instance to a stream (one stream per
// instance). The returned context ends with the stream or when the plugin
// is stopped; end tears the instance down and must be deferred by the
// stream handler.
func (s *server) begin(ctx context.Context, kind wire.Kind) (inst *instance, sctx context.Context, end func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.inst == nil:
		return nil, nil, nil, status.Error(codes.FailedPrecondition, "component not configured: call Configure first")
	case s.inst.kind != kind:
		return nil, nil, nil, status.Errorf(codes.FailedPrecondition, "component %s is a %v, not a %v", s.inst.address, s.inst.kind, kind)
	case s.inst.streamed:
		return nil, nil, nil, status.Errorf(codes.FailedPrecondition, "component %s already has a stream", s.inst.address)
	}
	inst = s.inst
	sctx, cancel := context.WithCancel(ctx)
	inst.streamed = true
	inst.cmu.Lock()
	inst.cancel = cancel
	inst.cmu.Unlock()
	end = func() { inst.teardown(context.WithoutCancel(ctx), s.log) }
	return inst, sctx, end, nil
}

type baseService struct {
	flowctlv1.UnimplementedPluginServer
	srv *server
}

func (b *baseService) GetSchema(context.Context, *flowctlv1.GetSchemaRequest) (*flowctlv1.GetSchemaResponse, error) {
	return b.srv.plugin.schema(), nil
}

func (b *baseService) Configure(_ context.Context, req *flowctlv1.ConfigureRequest) (*flowctlv1.ConfigureResponse, error) {
	s := b.srv
	kind := wire.KindFromProto(req.GetKind())
	comp, ok := s.plugin.component(kind, req.GetComponent())
	if !ok {
		return nil, status.Errorf(codes.NotFound, "plugin %s has no %v component %q", s.plugin.Name, kind, req.GetComponent())
	}
	cfg, diags := parseConfig(comp.spec, req.GetConfigJson())
	resp := &flowctlv1.ConfigureResponse{}
	for _, d := range diags {
		resp.Diagnostics = append(resp.Diagnostics, d.proto())
	}
	if hasErrors(diags) {
		return resp, nil
	}
	init := Init{Config: cfg, Logger: hcLogger{s.log.Named(req.GetAddress())}, Address: req.GetAddress()}
	if req.GetValidateOnly() {
		// Constructors validate and have no side effects, so the instance
		// is dropped unopened (Teardown is for what Open acquired), and
		// the process stays free for the next component's check.
		if _, err := construct(comp, init); err != nil {
			resp.Diagnostics = append(resp.Diagnostics, diagnosticsProto(errorDiagnostics(err))...)
		}
		return resp, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inst != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "already configured as %s", s.inst.address)
	}
	inst, err := construct(comp, init)
	if err != nil {
		resp.Diagnostics = append(resp.Diagnostics, diagnosticsProto(errorDiagnostics(err))...)
		return resp, nil
	}
	s.inst = inst
	return resp, nil
}

// construct builds comp's instance with its constructor.
func construct(comp Component, init Init) (*instance, error) {
	inst := &instance{kind: comp.kind, address: init.Address}
	var err error
	switch comp.kind {
	case wire.KindSource:
		inst.source, err = comp.newSource(init)
	case wire.KindProcessor:
		inst.processor, err = comp.newProcessor(init)
	case wire.KindSink:
		inst.sink, err = comp.newSink(init)
	}
	return inst, err
}

func diagnosticsProto(diags []diagnostic) []*flowctlv1.Diagnostic {
	out := make([]*flowctlv1.Diagnostic, len(diags))
	for i, d := range diags {
		out[i] = d.proto()
	}
	return out
}

func hasErrors(diags []diagnostic) bool {
	for _, d := range diags {
		if !d.Warning {
			return true
		}
	}
	return false
}

// errorDiagnostics turns a constructor's error into diagnostics: one per
// error that errors.Join joined, each at its attribute when it is (or
// wraps) an attrError.
func errorDiagnostics(err error) []diagnostic {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []diagnostic
		for _, e := range joined.Unwrap() {
			out = append(out, errorDiagnostics(e)...)
		}
		return out
	}
	var ae *attrError
	if errors.As(err, &ae) {
		start, end := ae.valueRange()
		return []diagnostic{{Summary: "Invalid configuration", Detail: ae.err.Error(), Path: ae.path, ValueStart: start, ValueEnd: end}}
	}
	return []diagnostic{{Summary: "Invalid configuration", Detail: err.Error()}}
}

func (b *baseService) Health(ctx context.Context, _ *flowctlv1.HealthRequest) (*flowctlv1.HealthResponse, error) {
	b.srv.mu.Lock()
	inst := b.srv.inst
	b.srv.mu.Unlock()
	resp := &flowctlv1.HealthResponse{Status: flowctlv1.HealthResponse_STATUS_SERVING}
	if inst == nil {
		resp.Message = "not configured"
		return resp, nil
	}
	var hc healthChecker
	switch {
	case inst.source != nil:
		hc, _ = inst.source.(healthChecker)
	case inst.processor != nil:
		hc, _ = inst.processor.(healthChecker)
	case inst.sink != nil:
		hc, _ = inst.sink.(healthChecker)
	}
	if hc != nil {
		if err := hc.Health(ctx); err != nil {
			resp.Status, resp.Message = flowctlv1.HealthResponse_STATUS_NOT_SERVING, err.Error()
		}
	}
	return resp, nil
}

func (b *baseService) Stop(ctx context.Context, _ *flowctlv1.StopRequest) (*flowctlv1.StopResponse, error) {
	// The host's deadline travels as the RPC deadline; the field is kept for
	// transports that do not carry one.
	b.srv.teardown(ctx)
	return &flowctlv1.StopResponse{}, nil
}

// streamError turns a component error into a status the host reports as the
// component's failure.
func streamError(inst *instance, what string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		return err
	}
	// what names the step; empty when err says it already.
	where := inst.address + ": "
	if what != "" {
		where += what + ": "
	}
	if errors.Is(err, context.Canceled) {
		return status.Errorf(codes.Canceled, "%s%v", where, err)
	}
	if isPermanent(err) {
		// A restart cannot cure it: the host stops the run at once.
		return status.Error(codes.FailedPrecondition, fmt.Sprintf("%s%v", where, err))
	}
	return status.Error(codes.Aborted, fmt.Sprintf("%s%v", where, err))
}
