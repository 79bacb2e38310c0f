package drivers

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"github.com/flowctl/flowctl/proto/wire"
)

// PluginServerName is a DNS name in every plugin certificate; the host
// verifies it whatever address it dials (a published port, a
// port-forward, a Service).
const PluginServerName = "flowctl-plugin"

// Authority is the certificate authority of one run: it signs a server
// certificate for each remote plugin and the one client certificate the
// host presents to all of them, so only this run's host reaches its
// plugins and the host talks only to plugins it started. Keys live in
// memory and die with the run.
type Authority struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	caPEM  []byte
	client tls.Certificate
	pool   *x509.CertPool
}

// NewAuthority creates a run's CA (named after runID) and the host's client
// certificate. Certificates are valid for a week, long enough for any run.
func NewAuthority(runID string) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the run's CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "flowctl run " + runID},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create the run's CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	a := &Authority{cert: cert, key: key, caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pool: x509.NewCertPool()}
	a.pool.AddCert(cert)
	certPEM, keyPEM, err := a.issue("flowctl host "+runID, x509.ExtKeyUsageClientAuth, nil)
	if err != nil {
		return nil, err
	}
	if a.client, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, err
	}
	return a, nil
}

// CAPEM is the CA certificate in PEM.
func (a *Authority) CAPEM() []byte { return a.caPEM }

// ServerCert issues a plugin's certificate for PluginServerName and hosts
// (DNS names or IP addresses), returning certificate and key in PEM.
func (a *Authority) ServerCert(component string, hosts ...string) (certPEM, keyPEM []byte, err error) {
	return a.issue(component, x509.ExtKeyUsageServerAuth, append([]string{PluginServerName}, hosts...))
}

// PeerCert issues a plugin's client certificate for dialling the other
// plugins of the run (the direct data plane), returning certificate and key
// in PEM.
func (a *Authority) PeerCert(component string) (certPEM, keyPEM []byte, err error) {
	return a.issue(wire.PeerCommonNamePrefix+component, x509.ExtKeyUsageClientAuth, nil)
}

// ClientTLS is the host's side of mutual TLS with the run's plugins.
func (a *Authority) ClientTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{a.client},
		RootCAs:      a.pool,
		ServerName:   PluginServerName,
		MinVersion:   tls.VersionTLS13,
	}
}

func (a *Authority) issue(cn string, usage x509.ExtKeyUsage, hosts []string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     a.cert.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("issue a certificate for %s: %w", cn, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	return n
}
