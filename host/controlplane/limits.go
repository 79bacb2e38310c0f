package controlplane

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// Limits bound what callers can make the control plane keep, so that a
// runaway or hostile component cannot grow it without end. Zero fields take
// the defaults.
type Limits struct {
	// Registrations bounds the live self-registrations of the current run
	// (the host's own registrations of its plugins do not count).
	Registrations int
	// MetadataEntries and MetadataBytes bound a registration's metadata:
	// its number of keys, and the bytes of its keys and values together.
	MetadataEntries int
	MetadataBytes   int
	// FieldBytes bounds each string field of a request (id, plugin,
	// version, endpoint, message).
	FieldBytes int
	// Metrics bounds the metrics of one heartbeat.
	Metrics int
}

// Default limits: generous for any real component, small enough that the
// most a control plane keeps stays in the tens of megabytes.
const (
	DefaultMaxRegistrations   = 1024
	DefaultMaxMetadataEntries = 64
	DefaultMaxMetadataBytes   = 16 << 10
	DefaultMaxFieldBytes      = 1 << 10
	DefaultMaxMetrics         = 128
	// maxMessageBytes bounds any one request on the wire.
	maxMessageBytes = 256 << 10
)

// WithDefaults fills the zero fields.
func (l Limits) WithDefaults() Limits {
	set := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	set(&l.Registrations, DefaultMaxRegistrations)
	set(&l.MetadataEntries, DefaultMaxMetadataEntries)
	set(&l.MetadataBytes, DefaultMaxMetadataBytes)
	set(&l.FieldBytes, DefaultMaxFieldBytes)
	set(&l.Metrics, DefaultMaxMetrics)
	return l
}

func (l Limits) field(name, v string) error {
	if len(v) > l.FieldBytes {
		return status.Errorf(codes.InvalidArgument, "%s is %d bytes, more than the %d a control plane accepts", name, len(v), l.FieldBytes)
	}
	return nil
}

func (l Limits) checkRegister(req *flowctlv1.RegisterRequest) error {
	for _, f := range []struct{ name, v string }{{"id", req.GetId()}, {"plugin", req.GetPlugin()}, {"version", req.GetVersion()}, {"endpoint", req.GetEndpoint()}} {
		if err := l.field(f.name, f.v); err != nil {
			return err
		}
	}
	md := req.GetMetadata()
	if len(md) > l.MetadataEntries {
		return status.Errorf(codes.InvalidArgument, "registration of %q has %d metadata entries, more than the %d a control plane accepts", req.GetId(), len(md), l.MetadataEntries)
	}
	n := 0
	for k, v := range md {
		n += len(k) + len(v)
	}
	if n > l.MetadataBytes {
		return status.Errorf(codes.InvalidArgument, "registration of %q has %d bytes of metadata, more than the %d a control plane accepts", req.GetId(), n, l.MetadataBytes)
	}
	return nil
}

func (l Limits) checkHeartbeat(req *flowctlv1.HeartbeatRequest) error {
	if err := l.field("message", req.GetMessage()); err != nil {
		return err
	}
	if len(req.GetMetrics()) > l.Metrics {
		return status.Errorf(codes.InvalidArgument, "heartbeat of %q has %d metrics, more than the %d a control plane accepts", req.GetId(), len(req.GetMetrics()), l.Metrics)
	}
	for k := range req.GetMetrics() {
		if err := l.field("a metric name", k); err != nil {
			return err
		}
	}
	return nil
}
