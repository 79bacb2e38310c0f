package controlplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// ClientOptions say how to reach a control plane.
type ClientOptions struct {
	Endpoint string
	Token    string
	// TLS: CA verifies the server; Cert and Key are the client's own
	// certificate for mutual TLS. Any of them turns TLS on.
	TLS TLSFiles
	// ServerName overrides the name checked in the server's certificate.
	ServerName string
}

// Client is a connection to a control plane.
type Client struct {
	flowctlv1.ControlPlaneClient
	conn     *grpc.ClientConn
	endpoint string
	tls      bool
}

// Dial prepares a connection; it does not fail when nothing listens (the
// first call does, and Explain turns that into a message).
func Dial(opts ClientOptions) (*Client, error) {
	if _, _, err := net.SplitHostPort(opts.Endpoint); err != nil {
		return nil, fmt.Errorf("control plane endpoint %q: want host:port: %w", opts.Endpoint, err)
	}
	creds := insecure.NewCredentials()
	secure := opts.TLS.CA != "" || opts.TLS.Cert != "" || opts.TLS.Key != ""
	if secure {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: opts.ServerName}
		if opts.TLS.CA != "" {
			pool, err := loadPool(opts.TLS.CA)
			if err != nil {
				return nil, err
			}
			cfg.RootCAs = pool
		}
		if opts.TLS.Cert != "" || opts.TLS.Key != "" {
			cert, err := tls.LoadX509KeyPair(opts.TLS.Cert, opts.TLS.Key)
			if err != nil {
				return nil, fmt.Errorf("load client certificate %s and key %s: %w", opts.TLS.Cert, opts.TLS.Key, err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		creds = credentials.NewTLS(cfg)
	}
	dopts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if opts.Token != "" {
		dopts = append(dopts, grpc.WithPerRPCCredentials(bearer{token: opts.Token, secure: secure}))
	}
	conn, err := grpc.NewClient("passthrough:///"+opts.Endpoint, dopts...)
	if err != nil {
		return nil, fmt.Errorf("control plane %s: %w", opts.Endpoint, err)
	}
	return &Client{ControlPlaneClient: flowctlv1.NewControlPlaneClient(conn), conn: conn, endpoint: opts.Endpoint, tls: secure}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Endpoint is the address dialled.
func (c *Client) Endpoint() string { return c.endpoint }

// Explain turns a failed call into what a person should know: nothing
// listens there, it is not a control plane, the token or certificate was
// refused.
func (c *Client) Explain(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		if strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") || strings.Contains(msg, "i/o timeout") {
			return fmt.Errorf("no flowctl control plane is running at %s (%s): start `flowctl apply` (it serves one while the pipeline runs) or `flowctl server`, or point --endpoint / FLOWCTL_ENDPOINT at one", c.endpoint, lastPart(msg))
		}
		if strings.Contains(msg, "authentication handshake failed") || strings.Contains(msg, "tls:") || strings.Contains(msg, "certificate") {
			return fmt.Errorf("TLS with the control plane at %s failed: %s: check --tls-ca, --tls-cert and --tls-key", c.endpoint, lastPart(msg))
		}
		if c.tls && (strings.Contains(msg, "broken pipe") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "EOF")) {
			// With TLS 1.3 a server that rejects the client's certificate
			// just hangs up after the handshake.
			return fmt.Errorf("the control plane at %s closed the TLS connection (%s): it requires a client certificate it trusts (mutual TLS): check --tls-cert and --tls-key", c.endpoint, lastPart(msg))
		}
		if !c.tls && (strings.Contains(msg, "EOF") || strings.Contains(msg, "connection reset") || strings.Contains(msg, "broken pipe")) {
			return fmt.Errorf("the control plane at %s closed the connection (%s): it may serve TLS: give --tls-ca", c.endpoint, lastPart(msg))
		}
		return fmt.Errorf("control plane at %s unavailable: %s", c.endpoint, msg)
	case codes.Unimplemented:
		return fmt.Errorf("%s answers gRPC but is not a flowctl control plane (%s)", c.endpoint, msg)
	case codes.Unauthenticated, codes.PermissionDenied:
		return fmt.Errorf("the control plane at %s refused the call: %s", c.endpoint, msg)
	case codes.DeadlineExceeded:
		return fmt.Errorf("the control plane at %s did not answer in time", c.endpoint)
	}
	return fmt.Errorf("control plane at %s: %s", c.endpoint, msg)
}

// lastPart keeps the useful end of gRPC's layered transport messages.
func lastPart(msg string) string {
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return strings.TrimSuffix(msg[i+2:], "\"")
	}
	return msg
}

// bearer sends the token with every call.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false so that a token also works on
// loopback without TLS; Listen refuses plaintext beyond loopback unless told.
func (b bearer) RequireTransportSecurity() bool { return false }
