// Package controlplane serves the ControlPlane gRPC service
// (proto/flowctl/v1/controlplane.proto) over a registry.Registry: inside
// `flowctl apply` for the run it executes, and on its own as
// `flowctl server`. Dial is the client side used by `flowctl list` and
// `flowctl status`.
//
// Security: every call is authenticated and authorized, on loopback too
// (a local user is not to be trusted with another's run). Callers present
// a bearer token (`authorization: Bearer <token>`) with a role: read (list,
// status, watch, runs) or write (everything). A server started without
// tokens generates both; `flowctl apply` and `flowctl server` write them,
// with the address, to the run file (see RunFile: 0600 in a 0700 state
// directory), where `flowctl list` and `flowctl status` find them. Each
// plugin the host starts gets instead its own credential
// (wire.PluginCredential, signed with a key that never leaves the
// server), which lets it register, heartbeat and deregister itself and
// nothing else. With TLS files the server serves TLS, and with a client CA
// it requires and verifies client certificates (mutual TLS); with a client
// CA and no token, a verified certificate is the credential (write).
// Listening beyond loopback without TLS is refused unless Insecure is set,
// and then warned about; serving with no token and no client CA is
// refused everywhere. Limits bound what callers can make the server keep
// (codes.ResourceExhausted, codes.InvalidArgument).
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
	reg    *registry.Registry
	limits Limits
	// closing is closed by Shutdown: watches end cleanly (the client sees
	// the end of the stream) instead of being cut.
	closing chan struct{}
}

var _ flowctlv1.ControlPlaneServer = (*service)(nil)

func (s *service) Register(_ context.Context, req *flowctlv1.RegisterRequest) (*flowctlv1.RegisterResponse, error) {
	if err := s.limits.checkRegister(req); err != nil {
		return nil, err
	}
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
	if err := s.limits.checkHeartbeat(req); err != nil {
		return nil, err
	}
	st, err := s.reg.Heartbeat(req.GetId(), req.GetRunId(), health.StatusFromProto(req.GetStatus()), req.GetMessage(), req.GetMetrics())
	if err != nil {
		return nil, toStatus(err)
	}
	return &flowctlv1.HeartbeatResponse{State: st.Proto()}, nil
}

func (s *service) Deregister(_ context.Context, req *flowctlv1.DeregisterRequest) (*flowctlv1.DeregisterResponse, error) {
	if err := s.limits.field("message", req.GetMessage()); err != nil {
		return nil, err
	}
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
	case errors.Is(err, registry.ErrLimit):
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	return status.Error(codes.Internal, err.Error())
}

// shutdownGrace bounds a graceful stop before open streams (watches) are
// cut.
const shutdownGrace = 2 * time.Second
