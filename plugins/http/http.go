// Package http is the flowctl "http" plugin: a webhook sink that POSTs
// batches of events as JSON, and a source that is an HTTP endpoint
// answering each sender only once the pipeline has acknowledged its events.
//
// Both speak the event format of plugins/internal/jsonl, the one the file
// sink writes: one JSON object per event with id, type, time, key (base64),
// attributes, content_type and data (embedded JSON or text) or data_base64.
//
// # Sink
//
// Each batch is one request (POST by default) whose body is a JSON array of
// event objects, with Content-Type application/json and the configured
// headers (a sensitive attribute: pass tokens from sensitive variables).
// Write returns, and the host acks the batch, only on a 2xx answer. A 429,
// a 408, any 5xx, a timeout or a connection error is retried with
// exponential backoff (retry_delay doubling up to max_retry_delay), waiting
// at least what a Retry-After header asks (seconds or an HTTP date) but
// never longer than max_retry_delay; after max_retries retries, or on any
// other status, the batch is nacked with the status and the start of the
// response body, and the component's on_error policy takes over. A
// receiver should treat the event id as an idempotency key: a batch may be
// sent again after a crash. TLS: the system's roots plus tls_ca_file, and a
// client certificate from tls_cert_file and tls_key_file.
//
// # Source
//
// The source listens on address (HTTPS with tls_cert_file and
// tls_key_file) and takes POSTs to path. With format "events" the body is
// one event object, a JSON array of them, or JSON lines; with "raw" the
// whole body is the data of one event whose content type is the request's,
// whose type is `type`, whose id is the Idempotency-Key header (or a new
// one) and whose attribute http.path is the request path. With auth_token
// set, requests must carry "Authorization: Bearer <token>".
//
// A request is answered 200 {"accepted": N} only after every sink has
// acknowledged its events (flowctl acked their positions). If that takes
// longer than ack_timeout, if too many requests are waiting
// (max_pending_requests) or their bodies fill max_pending_bytes, or if the
// pipeline is stopping, the answer is 503 with Retry-After, and the sender
// should retry: nothing it sent is lost, but events of a request that was
// already on its way may be delivered twice, under the same ids. Malformed
// bodies get 400 saying what and where, a wrong token 401, other methods
// 405, bodies over max_body_bytes 413, and a body not sent within
// read_body_timeout 408.
//
// The endpoint may face the internet, so what one client can hold is
// bounded (see admission.go): at most max_connections connections are
// served at once; headers must arrive within read_header_timeout (which
// also bounds the TLS handshake and keep-alive idling) and a body within
// read_body_timeout. A request is admitted, or refused, after its headers
// and before its body is read: refusals cost no body bytes, and a declared
// Content-Length over max_body_bytes or over what is left of
// max_pending_bytes is refused at once. Bodies grow with the bytes that
// arrive, within their request's reservation, so stalled uploads hold
// little memory: body buffers total at most max_pending_bytes, and the
// decoded events waiting for their ack about as much again.
//
// A position is the source's start time in nanoseconds and a counter (16
// bytes), so positions order across restarts. HTTP cannot be replayed: a
// restarted source does not resume anything, and acks for positions of an
// earlier process are ignored (their senders got an error and retry).
package http

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/flowctl/flowctl/pluginsdk"
)

// Plugin returns the http plugin at the given version.
func Plugin(version string) pluginsdk.Plugin {
	return pluginsdk.Plugin{
		Name:    "http",
		Version: version,
		Components: []pluginsdk.Component{
			pluginsdk.NewSource("http",
				"An HTTP endpoint taking events by POST; answers each request once the pipeline acked its events.",
				sourceSpec(), newSource),
			pluginsdk.NewSink("http",
				"POSTs each batch as a JSON array to a URL (webhook); retries 429/5xx with backoff, honouring Retry-After.",
				sinkSpec(), newSink),
		},
	}
}

// serverTLS loads a certificate and key for serving HTTPS; nil when
// neither is set.
func serverTLS(cfg pluginsdk.Config) (*tls.Config, error) {
	cert, key := cfg.String("tls_cert_file"), cfg.String("tls_key_file")
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, pluginsdk.NewAttrError(errors.New("set both tls_cert_file and tls_key_file, or neither"), "tls_cert_file")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, pluginsdk.NewAttrError(fmt.Errorf("load the certificate and key: %w", err), "tls_cert_file")
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// clientTLS builds the sink's TLS settings.
func clientTLS(cfg pluginsdk.Config) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.Bool("tls_insecure_skip_verify")} //nolint:gosec // the user asked for it
	if ca := cfg.String("tls_ca_file"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, pluginsdk.NewAttrError(err, "tls_ca_file")
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, pluginsdk.NewAttrError(fmt.Errorf("%s holds no PEM certificate", ca), "tls_ca_file")
		}
		c.RootCAs = pool
	}
	cert, key := cfg.String("tls_cert_file"), cfg.String("tls_key_file")
	switch {
	case cert == "" && key == "":
	case cert == "" || key == "":
		return nil, pluginsdk.NewAttrError(errors.New("set both tls_cert_file and tls_key_file for a client certificate, or neither"), "tls_cert_file")
	default:
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, pluginsdk.NewAttrError(fmt.Errorf("load the client certificate: %w", err), "tls_cert_file")
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c, nil
}
