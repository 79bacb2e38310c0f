package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
	"github.com/flowctl/flowctl/proto/wire"
)

// Role is what a token lets its holder do.
type Role int

const (
	// RoleNone is no access.
	RoleNone Role = iota
	// RoleRead lists components, shows their status and runs, and watches.
	RoleRead
	// RoleWrite does everything: it also registers, heartbeats and
	// deregisters any component.
	RoleWrite
	// RolePlugin is a plugin credential's: register, heartbeat and
	// deregister the one component it names, nothing else.
	RolePlugin
)

func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleWrite:
		return "write"
	case RolePlugin:
		return "plugin"
	}
	return "none"
}

// NewToken returns a random bearer token (256 bits, base64url).
func NewToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newCredentialKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// caller is who made a call.
type caller struct {
	role Role
	// component is the id a plugin credential names.
	component string
}

// authorizer authenticates every call and checks that the caller's role
// allows it.
type authorizer struct {
	write, read []byte
	// key verifies plugin credentials.
	key []byte
	// certs: no token is configured and client certificates are required,
	// so a verified certificate is the credential (write).
	certs bool
}

// needs is what a method requires: reading, or changing a registration
// (which a plugin may do for itself). Anything not listed needs write.
var needs = map[string]Role{
	flowctlv1.ControlPlane_Register_FullMethodName:         RolePlugin,
	flowctlv1.ControlPlane_Heartbeat_FullMethodName:        RolePlugin,
	flowctlv1.ControlPlane_Deregister_FullMethodName:       RolePlugin,
	flowctlv1.ControlPlane_ListServices_FullMethodName:     RoleRead,
	flowctlv1.ControlPlane_GetServiceStatus_FullMethodName: RoleRead,
	flowctlv1.ControlPlane_WatchServices_FullMethodName:    RoleRead,
	flowctlv1.ControlPlane_ListRuns_FullMethodName:         RoleRead,
	flowctlv1.ControlPlane_GetRun_FullMethodName:           RoleRead,
}

func (a *authorizer) authenticate(ctx context.Context) (caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		if a.certs && verifiedPeer(ctx) {
			return caller{role: RoleWrite}, nil
		}
		return caller{}, status.Error(codes.Unauthenticated, "this control plane requires a bearer token: set --token or FLOWCTL_TOKEN "+
			"(flowctl list and status find the run's token in its state directory when they run as the user who started it)")
	}
	got, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return caller{}, status.Error(codes.Unauthenticated, "invalid bearer token")
	}
	if wire.IsPluginCredential(got) {
		if id, ok := wire.VerifyPluginCredential(a.key, got); ok {
			return caller{role: RolePlugin, component: id}, nil
		}
		return caller{}, status.Error(codes.Unauthenticated, "invalid bearer token: a plugin credential of another run or control plane")
	}
	// Both comparisons always run: the time taken says nothing about
	// which token came close.
	w := len(a.write) > 0 && subtle.ConstantTimeCompare([]byte(got), a.write) == 1
	r := len(a.read) > 0 && subtle.ConstantTimeCompare([]byte(got), a.read) == 1
	switch {
	case w:
		return caller{role: RoleWrite}, nil
	case r:
		return caller{role: RoleRead}, nil
	}
	return caller{}, status.Error(codes.Unauthenticated, "invalid bearer token")
}

// verifiedPeer reports whether the peer presented a client certificate
// that verified against the client CA.
func verifiedPeer(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	return ok && len(info.State.VerifiedChains) > 0
}

// authorize checks c against method (and, for a plugin, the id its request
// names).
func (a *authorizer) authorize(c caller, method string, req any) error {
	need, known := needs[method]
	if !known {
		need = RoleWrite
	}
	switch c.role {
	case RoleWrite:
		return nil
	case RoleRead:
		if need == RoleRead {
			return nil
		}
		return status.Errorf(codes.PermissionDenied, "%s needs the write token; this token has the read role", shortMethod(method))
	case RolePlugin:
		if need != RolePlugin {
			return status.Errorf(codes.PermissionDenied, "the plugin credential of %s may only register, heartbeat and deregister %s, not call %s",
				c.component, c.component, shortMethod(method))
		}
		r, ok := req.(interface{ GetId() string })
		if !ok || r.GetId() != c.component {
			id := ""
			if ok {
				id = r.GetId()
			}
			return status.Errorf(codes.PermissionDenied, "the plugin credential of %s may not %s %q: a plugin reports only about itself",
				c.component, strings.ToLower(shortMethod(method)), id)
		}
		return nil
	}
	return status.Error(codes.PermissionDenied, "no role")
}

func shortMethod(full string) string {
	return full[strings.LastIndex(full, "/")+1:]
}

func (a *authorizer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	c, err := a.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.authorize(c, info.FullMethod, req); err != nil {
		return nil, err
	}
	return h(ctx, req)
}

func (a *authorizer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	c, err := a.authenticate(ss.Context())
	if err != nil {
		return err
	}
	// No streaming method carries a component's id: a plugin may not
	// open one.
	if err := a.authorize(c, info.FullMethod, nil); err != nil {
		return err
	}
	return h(srv, ss)
}

// errNoAuth explains a control plane that would check no caller.
func errNoAuth(address string) error {
	return fmt.Errorf("%w: %s would accept any caller; drop --no-token (a token is then generated) or give --tls-client-ca so that client certificates authenticate", ErrNoClientAuth, address)
}
