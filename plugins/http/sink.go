package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	nethttp "net/http"

	"github.com/flowctl/flowctl/plugins/internal/jsonl"
	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/backoff"
)

func sinkSpec() *pluginsdk.Spec {
	return pluginsdk.NewSpec(
		pluginsdk.String("url", "Where to send each batch (http or https).").Required(),
		pluginsdk.String("method", "HTTP method.").Default("POST"),
		pluginsdk.StringMap("headers", "Headers added to every request, e.g. { Authorization = \"Bearer ${var.token}\" }. Sensitive: never printed.").Sensitive(),
		pluginsdk.Duration("timeout", "Timeout of one request, response included.").Default("10s"),
		pluginsdk.Number("max_retries", "Retries of a batch after a 429, 408, 5xx, timeout or connection error before it is nacked.").Default(5),
		pluginsdk.Duration("retry_delay", "Wait before the first retry; doubles with each retry.").Default("500ms"),
		pluginsdk.Duration("max_retry_delay", "Longest wait between retries, also when Retry-After asks for more.").Default("30s"),
		pluginsdk.String("tls_ca_file", "PEM file of extra certificate authorities to trust."),
		pluginsdk.String("tls_cert_file", "PEM client certificate, with tls_key_file."),
		pluginsdk.String("tls_key_file", "PEM key of the client certificate."),
		pluginsdk.Bool("tls_insecure_skip_verify", "Do not verify the server's certificate (testing only).").Default(false),
	)
}

// Sink posts batches to a URL.
type Sink struct {
	log        pluginsdk.Logger
	url        string
	method     string
	headers    nethttp.Header
	client     *nethttp.Client
	maxRetries int
	delay      time.Duration
	maxDelay   time.Duration

	body []byte // reused; Write is never concurrent
}

var _ pluginsdk.Sink = (*Sink)(nil)

func newSink(init pluginsdk.Init) (pluginsdk.Sink, error) {
	cfg := init.Config
	u, err := url.Parse(cfg.String("url"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, pluginsdk.NewAttrError(errors.New("must be an absolute http:// or https:// URL"), "url")
	}
	method := strings.ToUpper(cfg.String("method"))
	if method != nethttp.MethodPost && method != nethttp.MethodPut && method != nethttp.MethodPatch {
		return nil, pluginsdk.NewAttrError(fmt.Errorf("%q: want POST, PUT or PATCH", cfg.String("method")), "method")
	}
	headers := nethttp.Header{}
	for k, v := range cfg.StringMap("headers") {
		if !validHeaderName(k) || strings.ContainsAny(v, "\r\n") {
			// The value is sensitive: name only the header.
			return nil, pluginsdk.NewAttrError(fmt.Errorf("header %q: not a valid header name, or its value contains a line break", k), "headers")
		}
		headers.Set(k, v)
	}
	s := &Sink{
		log: init.Logger, url: u.String(), method: method, headers: headers,
		maxRetries: int(cfg.Int("max_retries")), delay: cfg.Duration("retry_delay"), maxDelay: cfg.Duration("max_retry_delay"),
	}
	timeout := cfg.Duration("timeout")
	switch {
	case timeout <= 0:
		return nil, pluginsdk.NewAttrError(errors.New("must be positive"), "timeout")
	case s.maxRetries < 0:
		return nil, pluginsdk.NewAttrError(errors.New("must not be negative"), "max_retries")
	case s.delay <= 0:
		return nil, pluginsdk.NewAttrError(errors.New("must be positive"), "retry_delay")
	case s.maxDelay < s.delay:
		return nil, pluginsdk.NewAttrError(errors.New("must be at least retry_delay"), "max_retry_delay")
	}
	tlsCfg, err := clientTLS(cfg)
	if err != nil {
		return nil, err
	}
	transport := nethttp.DefaultTransport.(*nethttp.Transport).Clone()
	transport.TLSClientConfig = tlsCfg
	s.client = &nethttp.Client{Transport: transport, Timeout: timeout}
	return s, nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return textproto.CanonicalMIMEHeaderKey(k) != ""
}

// Open does nothing: connections are made as batches are sent.
func (s *Sink) Open(context.Context) error { return nil }

// Write sends the batch, retrying what may succeed later.
func (s *Sink) Write(ctx context.Context, batch []pluginsdk.Event) error {
	body, err := s.encode(batch)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		retryAfter, err := s.send(ctx, body)
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return fmt.Errorf("http sink: %s %s: %w", s.method, s.url, err)
		}
		if attempt == s.maxRetries {
			return fmt.Errorf("http sink: %s %s: gave up after %d attempts: %w", s.method, s.url, attempt+1, err)
		}
		wait := s.backoff(attempt, retryAfter)
		s.log.Warn("request failed; retrying", "url", s.url, "attempt", attempt+1, "wait", wait, "error", err)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// encode builds the JSON array of the batch's events.
func (s *Sink) encode(batch []pluginsdk.Event) ([]byte, error) {
	b := append(s.body[:0], '[')
	for i, e := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = jsonl.Append(b, e); err != nil {
			return nil, fmt.Errorf("http sink: %w", err)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
	}
	b = append(b, ']')
	s.body = b
	return b, nil
}

// permanentError is an answer that retrying will not change.
type permanentError struct{ error }

// send makes one request. It returns the Retry-After wait the server asked
// for, if any.
func (s *Sink) send(ctx context.Context, body []byte) (time.Duration, error) {
	req, err := nethttp.NewRequestWithContext(ctx, s.method, s.url, bytes.NewReader(body))
	if err != nil {
		return 0, permanentError{err}
	}
	req.Header = s.headers.Clone()
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		var verify *tls.CertificateVerificationError
		if ctx.Err() != nil || errors.As(err, &verify) {
			return 0, permanentError{err}
		}
		return 0, err // connection refused, timeout, TLS handshake: maybe later
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return 0, nil
	}
	err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(excerpt)))
	switch code := resp.StatusCode; {
	case code == nethttp.StatusTooManyRequests || code == nethttp.StatusRequestTimeout || code >= 500:
		return retryAfter(resp.Header.Get("Retry-After"), time.Now()), err
	}
	return 0, permanentError{err}
}

// retryAfter parses a Retry-After value: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := nethttp.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the wait before retry attempt+1: jittered, at least what the
// server's Retry-After asks, at most max_retry_delay.
func (s *Sink) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := backoff.Policy{Base: s.delay, Max: s.maxDelay}.Delay(attempt)
	return min(max(d, retryAfter), s.maxDelay)
}

// Teardown closes idle connections.
func (s *Sink) Teardown(context.Context) error {
	s.client.CloseIdleConnections()
	return nil
}
