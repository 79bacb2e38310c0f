package pluginsdk

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/flowctl/flowctl/proto/wire"
)

// A caller with a peer certificate may send batches and nothing else; the
// host's certificate may call everything.
func TestPeerCertificateMaySendBatchesOnly(t *testing.T) {
	caller := func(cn string) context.Context {
		state := tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkix.Name{CommonName: cn}}}}
		return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: state}})
	}
	for _, tc := range []struct {
		cn, method string
		denied     bool
	}{
		{wire.PeerCommonNamePrefix + "source.ticks", "/flowctl.v1.Edge/Send", false},
		{wire.PeerCommonNamePrefix + "source.ticks", "/flowctl.v1.Plugin/Stop", true},
		{wire.PeerCommonNamePrefix + "source.ticks", "/flowctl.v1.Node/Run", true},
		{wire.PeerCommonNamePrefix + "source.ticks", "/plugin.GRPCController/Shutdown", true},
		{"flowctl host 20261205T1", "/flowctl.v1.Plugin/Stop", false},
		{"flowctl host 20261205T1", "/flowctl.v1.Node/Run", false},
	} {
		err := peerMay(caller(tc.cn), tc.method)
		if got := status.Code(err) == codes.PermissionDenied; got != tc.denied {
			t.Errorf("%s calling %s: error %v, want denied %v", tc.cn, tc.method, err, tc.denied)
		}
	}
	if err := peerMay(context.Background(), "/flowctl.v1.Plugin/Stop"); err != nil {
		t.Errorf("a caller without TLS (a local plugin's unix socket): %v", err)
	}
}
