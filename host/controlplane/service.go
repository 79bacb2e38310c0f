// Package controlplane serves the ControlPlane gRPC service
// (proto/flowctl/v1/controlplane.proto) over a registry.Registry: inside
// `flowctl apply` for the run it executes, and on its own as
// `flowctl server`. Dial is the client side used by `flowctl list` and
// `flowctl status`.
//
// Security: the server listens on loopback by default. With TLS files it
// serves TLS, and with a client CA it requires and verifies client
// certificates (mutual TLS). A bearer token, when set, is required on
// every call (`authorization: Bearer <token>`). Listening beyond loopback
// without TLS is refused unless Insecure is set, and then warned about.
package controlplane

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/host/health"
	"github.com/flowctl/flowctl/host/registry"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// service implements flowctlv1.ControlPlaneServer over a registry.
type service struct {
	flowctlv1.UnimplementedControlPlaneServer
	reg *registry.Registry
	// closing is closed by Shutdown: watches end cleanly (the client sees
	// the end of the stream) instead of being cut.
	closing chan struct{}
}

var _ flowctlv1.ControlPlaneServer = (*service)(nil)

func (s *service) Register(_ context.Context, req *flowctlv1.RegisterRequest) (*flowctlv1.RegisterResponse, error) {
	svc, err := s.reg.Register(req, false)
	if err != nil {
		return nil, toStatus(err)
	}
	p := s.reg.Policy()
	return &flowctlv1.RegisterResponse{
		Service: svc, RunId: svc.GetRunId(),
		TtlNanos: int64(p.TTL), HeartbeatIntervalNanos: int64(p.HeartbeatInterval()),
	}, nil
}

func (s *service) Heartbeat(_ context.Context, req *flowctlv1.HeartbeatRequest) (*flowctlv1.HeartbeatResponse, error) {
	st, err := s.reg.Heartbeat(req.GetId(), req.GetRunId(), health.StatusFromProto(req.GetStatus()), req.GetMessage(), req.GetMetrics())
	if err != nil {
		return nil, toStatus(err)
	}
	return &flowctlv1.HeartbeatResponse{State: st.Proto()}, nil
}

func (s *service) Deregister(_ context.Context, req *flowctlv1.DeregisterRequest) (*flowctlv1.DeregisterResponse, error) {
	if err := s.reg.Deregister(req.GetId(), req.GetRunId(), req.GetMessage()); err != nil {
		return nil, toStatus(err)
	}
	return &flowctlv1.DeregisterResponse{}, nil
}

func (s *service) ListServices(_ context.Context, req *flowctlv1.ListServicesRequest) (*flowctlv1.ListServicesResponse, error) {
	svcs, err := s.reg.Services(req.GetAllRuns())
	if err != nil {
		return nil, toStatus(err)
	}
	return &flowctlv1.ListServicesResponse{Services: svcs, RunId: s.reg.RunID()}, nil
}

func (s *service) GetServiceStatus(_ context.Context, req *flowctlv1.GetServiceStatusRequest) (*flowctlv1.Service, error) {
	svc, err := s.reg.Service(req.GetRunId(), req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return svc, nil
}

func (s *service) WatchServices(_ *flowctlv1.WatchServicesRequest, stream grpc.ServerStreamingServer[flowctlv1.ServiceEvent]) error {
	first, w := s.reg.Watch()
	defer w.Close()
	// Headers tell the client the watch is in place: what happens after
	// its Header() returns is sure to be seen.
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for _, ev := range first {
		if err := stream.Send(ev); err != nil {
			return err
		}
	}
	// A quiet watch still notices a client that went away.
	for {
		select {
		case <-stream.Context().Done():
			return stream.Context().Err()
		case <-s.closing:
			return nil
		case ev, ok := <-w.Events():
			if !ok {
				if err := w.Err(); err != nil {
					return status.Error(codes.ResourceExhausted, err.Error())
				}
				return nil
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

func (s *service) ListRuns(context.Context, *flowctlv1.ListRunsRequest) (*flowctlv1.ListRunsResponse, error) {
	runs, err := s.reg.Runs()
	if err != nil {
		return nil, toStatus(err)
	}
	return &flowctlv1.ListRunsResponse{Runs: runs, CurrentRunId: s.reg.RunID()}, nil
}

func (s *service) GetRun(_ context.Context, req *flowctlv1.GetRunRequest) (*flowctlv1.Run, error) {
	run, err := s.reg.GetRun(req.GetId())
	if err != nil {
		return nil, toStatus(err)
	}
	return run, nil
}

// toStatus maps registry errors to gRPC codes a client can act on.
func toStatus(err error) error {
	switch {
	case errors.Is(err, registry.ErrNotRegistered), errors.Is(err, registry.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, registry.ErrInvalid):
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// shutdownGrace bounds a graceful stop before open streams (watches) are
// cut.
const shutdownGrace = 2 * time.Second
