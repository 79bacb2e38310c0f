// Package sdktest tests flowctl plugins without a host: Harness serves a
// pluginsdk.Plugin over real gRPC on a loopback port inside the test
// process and drives its streams the way the host does; Conformance runs the
// checks every plugin must pass.
package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/internal/sdkhooks"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// Harness is one plugin instance served in-process.
type Harness struct {
	Plugin    flowctlv1.PluginClient
	Source    flowctlv1.SourceClient
	Processor flowctlv1.ProcessorClient
	Sink      flowctlv1.SinkClient
}

// New serves p on a loopback port until the test ends.
func New(t testing.TB, p pluginsdk.Plugin) *Harness {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sdktest: listen: %v", err)
	}
	srv := grpc.NewServer(wire.ServerOptions()...)
	log := hclog.New(&hclog.LoggerOptions{Name: p.Name, Output: hclog.DefaultOutput, Level: hclog.Warn})
	stop := sdkhooks.RegisterServices(srv, p, log)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), append(wire.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatalf("sdktest: dial: %v", err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		stop(context.Background())
	})
	return &Harness{
		Plugin:    flowctlv1.NewPluginClient(conn),
		Source:    flowctlv1.NewSourceClient(conn),
		Processor: flowctlv1.NewProcessorClient(conn),
		Sink:      flowctlv1.NewSinkClient(conn),
	}
}

var kinds = map[Kind]flowctlv1.Kind{
	KindSource:    flowctlv1.Kind_KIND_SOURCE,
	KindProcessor: flowctlv1.Kind_KIND_PROCESSOR,
	KindSink:      flowctlv1.Kind_KIND_SINK,
}

// Configure configures the instance as component (of kind) with config, and
// returns the plugin's diagnostics.
func (h *Harness) Configure(ctx context.Context, kind Kind, component string, config map[string]any) ([]*flowctlv1.Diagnostic, error) {
	raw, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("sdktest: encode config: %w", err)
	}
	resp, err := h.Plugin.Configure(ctx, &flowctlv1.ConfigureRequest{
		Kind: kinds[kind], Component: component, Address: kind.String() + ".test", ConfigJson: raw,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetDiagnostics(), nil
}

// Validate checks config as component (of kind) the way `flowctl validate`
// does (ConfigureRequest.validate_only): the plugin answers with its
// diagnostics and stays unconfigured.
func (h *Harness) Validate(ctx context.Context, kind Kind, component string, config map[string]any) ([]*flowctlv1.Diagnostic, error) {
	raw, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("sdktest: encode config: %w", err)
	}
	resp, err := h.Plugin.Configure(ctx, &flowctlv1.ConfigureRequest{
		Kind: kinds[kind], Component: component, Address: kind.String() + ".test", ConfigJson: raw, ValidateOnly: true,
	})
	if err != nil {
		return nil, err
	}
	return resp.GetDiagnostics(), nil
}

// MustConfigure is Configure that fails the test on any error diagnostic.
func (h *Harness) MustConfigure(t testing.TB, kind Kind, component string, config map[string]any) {
	t.Helper()
	diags, err := h.Configure(t.Context(), kind, component, config)
	if err != nil {
		t.Fatalf("configure %v %q: %v", kind, component, err)
	}
	for _, d := range diags {
		if d.GetSeverity() == flowctlv1.Severity_SEVERITY_ERROR {
			t.Fatalf("configure %v %q: %s: %s (at %v)", kind, component, d.GetSummary(), d.GetDetail(), d.GetAttributePath())
		}
	}
}

// ReadOptions shape a source read.
type ReadOptions struct {
	From     pluginsdk.Position
	Credits  uint32 // default 4
	MaxBatch uint32 // default: the SDK's
	// Limit stops reading after this many events (0: until end of input).
	Limit int
	// NoAck leaves batches unacked (credits are still returned).
	NoAck bool
}

// SourceResult is what a source produced.
type SourceResult struct {
	Events []pluginsdk.Event
	// Positions holds each batch's position, in order.
	Positions []pluginsdk.Position
	// Counts holds each batch's declared event count.
	Counts []int
	// Remaining holds what the source said it had left after each batch
	// (nil where it did not say; see the optional Remaining method in pluginsdk).
	Remaining []*uint64
	Ended     bool
}

// ReadSource opens the source stream and reads until the source ends or
// opts.Limit events arrived, acking each batch as it comes.
func (h *Harness) ReadSource(ctx context.Context, opts ReadOptions) (*SourceResult, error) {
	if opts.Credits == 0 {
		opts.Credits = 4
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := h.Source.Stream(ctx)
	if err != nil {
		return nil, err
	}
	open := &flowctlv1.SourceOpen{Position: opts.From, Credits: opts.Credits, MaxBatchEvents: opts.MaxBatch}
	if err := stream.Send(&flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Open{Open: open}}); err != nil {
		return nil, sendError(err, func() error { _, err := stream.Recv(); return err })
	}
	res := &SourceResult{}
	for opts.Limit == 0 || len(res.Events) < opts.Limit {
		msg, err := stream.Recv()
		if err != nil {
			return res, fmt.Errorf("sdktest: source stream: %w", err)
		}
		if msg.GetEnd() != nil {
			res.Ended = true
			break
		}
		b := msg.GetBatch()
		if b == nil {
			continue
		}
		before := len(res.Events)
		evs, err := DecodeEvents(b.GetBatch().GetEvents(), nil)
		res.Events = append(res.Events, evs...)
		if err != nil {
			return res, err
		}
		if got := len(res.Events) - before; got != int(b.GetBatch().GetCount()) {
			return res, fmt.Errorf("sdktest: batch %d declares %d events but holds %d", b.GetSeq(), b.GetBatch().GetCount(), got)
		}
		res.Positions = append(res.Positions, b.GetPosition())
		res.Counts = append(res.Counts, int(b.GetBatch().GetCount()))
		res.Remaining = append(res.Remaining, b.Remaining)
		ack := &flowctlv1.SourceAck{Credits: 1}
		if !opts.NoAck {
			ack.Position = b.GetPosition()
		}
		if err := stream.Send(&flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Ack{Ack: ack}}); err != nil {
			return res, err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return res, err
	}
	if res.Ended {
		// An ended source closes its side after our CloseSend.
		if _, err := stream.Recv(); err != nil && !errors.Is(err, io.EOF) {
			return res, fmt.Errorf("sdktest: source stream close: %w", err)
		}
	}
	return res, nil
}

// ProcessResult is a processor's answer to one batch.
type ProcessResult struct {
	Out     []pluginsdk.Event
	Origins []uint32
	Errors  []*flowctlv1.EventError
	Error   string
}

// Process sends each batch to the processor and returns its answers in order.
func (h *Harness) Process(ctx context.Context, batches ...[]pluginsdk.Event) ([]ProcessResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := h.Processor.Stream(ctx)
	if err != nil {
		return nil, err
	}
	var out []ProcessResult
	for i, b := range batches {
		seq := uint64(i + 1)
		req := &flowctlv1.ProcessRequest{Seq: seq, Batch: &flowctlv1.Batch{Count: uint32(len(b)), Events: AppendEvents(nil, b)}}
		if err := stream.Send(req); err != nil {
			return out, sendError(err, func() error { _, err := stream.Recv(); return err })
		}
		resp, err := stream.Recv()
		if err != nil {
			return out, fmt.Errorf("sdktest: processor stream: %w", err)
		}
		if resp.GetSeq() != seq {
			return out, fmt.Errorf("sdktest: response seq %d, want %d", resp.GetSeq(), seq)
		}
		evs, err := DecodeEvents(resp.GetBatch().GetEvents(), nil)
		if err != nil {
			return out, err
		}
		if len(evs) != int(resp.GetBatch().GetCount()) || len(evs) != len(resp.GetOrigins()) {
			return out, fmt.Errorf("sdktest: batch %d: %d events, count %d, %d origins", seq, len(evs), resp.GetBatch().GetCount(), len(resp.GetOrigins()))
		}
		out = append(out, ProcessResult{Out: evs, Origins: resp.GetOrigins(), Errors: resp.GetErrors(), Error: resp.GetError()})
	}
	if err := stream.CloseSend(); err != nil {
		return out, err
	}
	if _, err := stream.Recv(); err != nil && !errors.Is(err, io.EOF) {
		return out, fmt.Errorf("sdktest: processor stream close: %w", err)
	}
	return out, nil
}

// Write sends each batch to the sink and returns its acks in order.
func (h *Harness) Write(ctx context.Context, batches ...[]pluginsdk.Event) ([]*flowctlv1.SinkAck, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := h.Sink.Stream(ctx)
	if err != nil {
		return nil, err
	}
	var acks []*flowctlv1.SinkAck
	for i, b := range batches {
		seq := uint64(i + 1)
		req := &flowctlv1.SinkRequest{Seq: seq, Batch: &flowctlv1.Batch{Count: uint32(len(b)), Events: AppendEvents(nil, b)}}
		if err := stream.Send(req); err != nil {
			return acks, sendError(err, func() error { _, err := stream.Recv(); return err })
		}
		ack, err := stream.Recv()
		if err != nil {
			return acks, fmt.Errorf("sdktest: sink stream: %w", err)
		}
		if ack.GetSeq() != seq {
			return acks, fmt.Errorf("sdktest: ack seq %d, want %d", ack.GetSeq(), seq)
		}
		acks = append(acks, ack)
	}
	if err := stream.CloseSend(); err != nil {
		return acks, err
	}
	if _, err := stream.Recv(); err != nil && !errors.Is(err, io.EOF) {
		return acks, fmt.Errorf("sdktest: sink stream close: %w", err)
	}
	return acks, nil
}

// sendError returns the reason a Send failed: gRPC reports io.EOF from Send
// when the server has ended the stream and leaves the status to Recv.
func sendError(err error, recv func() error) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	if rerr := recv(); rerr != nil && !errors.Is(rerr, io.EOF) {
		return rerr
	}
	return err
}
