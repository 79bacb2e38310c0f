package wire

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

// Protocol versions, negotiated by the go-plugin handshake:
//
//	1  flowctl 0.1: the Plugin base service (GetSchema, Configure, Health,
//	   Stop) and one bidirectional stream per kind (Source, Processor, Sink)
//	   carrying batches as encoded EventList bytes.
//	2  the direct data plane (dataplane.proto): the Node control stream and
//	   the Edge stream, on which plugins send batches to each other; the
//	   host keeps only the decisions. A plugin speaking 2 serves 1's
//	   services too, so a host may drive it either way.
//	3  parallel components: Peer.group and Peer.partition in NodeOpen (a
//	   version 2 plugin would send every batch to every instance of a
//	   parallel component, so only version 3 plugins may send to one).
//
// Policy: adding fields or RPCs that an older peer may ignore keeps the
// version. Anything an older peer would misread adds a version; a plugin may
// serve several versions at once and the host uses the highest both speak.
var ProtocolVersions = []int{1, ProtocolDataPlane, ProtocolParallel}

// ProtocolDataPlane is the first version with the direct data plane.
const ProtocolDataPlane = 2

// ProtocolParallel is the first version whose plugins send to parallel
// components (output groups).
const ProtocolParallel = 3

// MagicCookieKey and MagicCookieValue tell a plugin it was started by a
// flowctl host and not by a user on the command line.
const (
	MagicCookieKey   = "FLOWCTL_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "b7d1f0c2-flowctl-plugin-6a3e9d54"
)

// PluginSetName is the go-plugin name under which the flowctl services are
// dispensed.
const PluginSetName = "flowctl"

// HandshakeConfig is the go-plugin handshake shared by host and plugins.
func HandshakeConfig() plugin.HandshakeConfig {
	return plugin.HandshakeConfig{
		ProtocolVersion:  uint(ProtocolVersions[len(ProtocolVersions)-1]),
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// VersionedPlugins maps each protocol version to the go-plugin set a plugin
// serves (or a host dispenses) for it. register registers a plugin's
// services on its gRPC server; the host passes nil.
func VersionedPlugins(register func(*grpc.Server)) map[int]plugin.PluginSet {
	p := &GRPCPlugin{register: register}
	out := make(map[int]plugin.PluginSet, len(ProtocolVersions))
	for _, v := range ProtocolVersions {
		out[v] = plugin.PluginSet{PluginSetName: p}
	}
	return out
}

// GRPCPlugin adapts the flowctl services to go-plugin. On the plugin side it
// registers the services; on the host side Dispense returns the
// *grpc.ClientConn, which the host wraps in its own clients.
type GRPCPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	register func(*grpc.Server)
}

var _ plugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the plugin's services on s.
func (p *GRPCPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	if p.register != nil {
		p.register(s)
	}
	return nil
}

// GRPCClient returns the connection to the plugin.
func (p *GRPCPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return c, nil
}
