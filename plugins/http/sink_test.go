package http

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	nethttp "net/http"

	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

const version = "0.0.0-test"

func events(from, to int) []pluginsdk.Event {
	var out []pluginsdk.Event
	for i := from; i <= to; i++ {
		out = append(out, pluginsdk.Event{
			ID: fmt.Sprintf("e%04d", i), Type: "order", Time: time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC),
			Attributes: []pluginsdk.Attribute{{Key: "n", Value: fmt.Sprint(i)}}, ContentType: "application/json",
			Data: fmt.Appendf(nil, `{"seq":%d}`, i),
		})
	}
	return out
}

// receiver is a webhook endpoint that answers with the statuses in plan,
// one per request, then 200; it records what it was sent.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	plan     []func(nethttp.ResponseWriter)
	bodies   []string
	headers  []nethttp.Header
	attempts atomic.Int32
}

func newReceiver(t *testing.T, tls bool, plan ...func(nethttp.ResponseWriter)) *receiver {
	r := &receiver{plan: plan}
	h := nethttp.HandlerFunc(func(w nethttp.ResponseWriter, req *nethttp.Request) {
		r.attempts.Add(1)
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		var step func(nethttp.ResponseWriter)
		if len(r.plan) > 0 {
			step, r.plan = r.plan[0], r.plan[1:]
		}
		r.mu.Unlock()
		if step != nil {
			step(w)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, string(body))
		r.headers = append(r.headers, req.Header.Clone())
		r.mu.Unlock()
	})
	if tls {
		r.Server = httptest.NewTLSServer(h)
	} else {
		r.Server = httptest.NewServer(h)
	}
	t.Cleanup(r.Close)
	return r
}

func status(code int, retryAfter, body string) func(nethttp.ResponseWriter) {
	return func(w nethttp.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func sinkWrite(t *testing.T, config map[string]any, batches ...[]pluginsdk.Event) []*flowctlv1.SinkAck {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSink, "http", config)
	acks, err := h.Write(t.Context(), batches...)
	if err != nil {
		t.Fatal(err)
	}
	return acks
}

func TestSinkPostsBatchesAsJSON(t *testing.T) {
	r := newReceiver(t, false)
	acks := sinkWrite(t, map[string]any{"url": r.URL + "/hook", "headers": map[string]string{"Authorization": "Bearer s3cret", "X-Team": "data"}},
		events(1, 3), events(4, 4))
	if !acks[0].GetOk() || !acks[1].GetOk() {
		t.Fatalf("acks %v", acks)
	}
	if len(r.bodies) != 2 {
		t.Fatalf("%d requests, want one per batch", len(r.bodies))
	}
	want := `[{"id":"e0001","type":"order","time":"2025-01-01T00:00:01Z","attributes":{"n":"1"},"content_type":"application/json","data":{"seq":1}},` +
		`{"id":"e0002","type":"order","time":"2025-01-01T00:00:02Z","attributes":{"n":"2"},"content_type":"application/json","data":{"seq":2}},` +
		`{"id":"e0003","type":"order","time":"2025-01-01T00:00:03Z","attributes":{"n":"3"},"content_type":"application/json","data":{"seq":3}}]`
	if r.bodies[0] != want {
		t.Errorf("body\n%s\nwant\n%s", r.bodies[0], want)
	}
	var second []map[string]any
	if err := json.Unmarshal([]byte(r.bodies[1]), &second); err != nil || len(second) != 1 || second[0]["id"] != "e0004" {
		t.Errorf("second body %s: %v", r.bodies[1], err)
	}
	h := r.headers[0]
	if h.Get("Authorization") != "Bearer s3cret" || h.Get("X-Team") != "data" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
}

func TestSinkRetries(t *testing.T) {
	// An HTTP date has whole seconds: 2s ahead is at least 1s away.
	retryAtDate := func(w nethttp.ResponseWriter) {
		status(503, time.Now().Add(2*time.Second).UTC().Format(nethttp.TimeFormat), "")(w)
	}
	tests := []struct {
		name     string
		plan     []func(nethttp.ResponseWriter)
		config   map[string]any
		ok       bool
		attempts int32
		minWait  time.Duration
		nack     string
	}{
		{"503 then ok", []func(nethttp.ResponseWriter){status(503, "", "down"), status(502, "", "")},
			nil, true, 3, 30 * time.Millisecond, ""}, // 10ms + 20ms
		{"Retry-After seconds", []func(nethttp.ResponseWriter){status(429, "1", "slow down")},
			nil, true, 2, time.Second, ""},
		{"Retry-After date", []func(nethttp.ResponseWriter){retryAtDate},
			nil, true, 2, time.Second, ""},
		{"Retry-After capped by max_retry_delay", []func(nethttp.ResponseWriter){status(503, "3600", "")},
			map[string]any{"max_retry_delay": "200ms"}, true, 2, 200 * time.Millisecond, ""},
		{"gives up", []func(nethttp.ResponseWriter){status(503, "", "down"), status(503, "", "down"), status(503, "", "still down")},
			map[string]any{"max_retries": 2}, false, 3, 30 * time.Millisecond, "gave up after 3 attempts: 503 Service Unavailable: still down"},
		{"4xx is not retried", []func(nethttp.ResponseWriter){status(422, "", `{"error":"bad event"}`)},
			nil, false, 1, 0, `422 Unprocessable Entity: {"error":"bad event"}`},
		{"timeout is retried", []func(nethttp.ResponseWriter){func(nethttp.ResponseWriter) { time.Sleep(300 * time.Millisecond) }},
			map[string]any{"timeout": "100ms"}, true, 2, 100 * time.Millisecond, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newReceiver(t, false, tt.plan...)
			cfg := map[string]any{"url": r.URL, "retry_delay": "10ms"}
			for k, v := range tt.config {
				cfg[k] = v
			}
			start := time.Now()
			acks := sinkWrite(t, cfg, events(1, 2))
			took := time.Since(start)
			if acks[0].GetOk() != tt.ok || !strings.Contains(acks[0].GetError(), tt.nack) {
				t.Fatalf("ack %v, want ok=%v with %q", acks[0], tt.ok, tt.nack)
			}
			if got := r.attempts.Load(); got != tt.attempts {
				t.Errorf("%d attempts, want %d", got, tt.attempts)
			}
			if took < tt.minWait {
				t.Errorf("took %s, want at least %s of waiting", took, tt.minWait)
			}
		})
	}
}

func TestSinkTLS(t *testing.T) {
	r := newReceiver(t, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	if acks := sinkWrite(t, map[string]any{"url": r.URL, "tls_ca_file": ca}, events(1, 1)); !acks[0].GetOk() {
		t.Fatalf("with the CA: %v", acks[0])
	}
	acks := sinkWrite(t, map[string]any{"url": r.URL}, events(1, 1))
	if acks[0].GetOk() || !strings.Contains(acks[0].GetError(), "certificate signed by unknown authority") {
		t.Fatalf("without the CA: %v", acks[0])
	}
	if got := r.attempts.Load(); got != 1 {
		t.Errorf("%d requests got through, want only the one with the CA", got)
	}
}

func TestSinkConfigErrors(t *testing.T) {
	tests := []struct {
		config map[string]any
		path   string
		want   string
	}{
		{map[string]any{"url": "ftp://x"}, "url", "absolute http:// or https:// URL"},
		{map[string]any{"url": "/relative"}, "url", "absolute"},
		{map[string]any{"url": "http://x", "method": "GET"}, "method", `"GET": want POST, PUT or PATCH`},
		{map[string]any{"url": "http://x", "headers": map[string]string{"Bad Header": "secret-value"}}, "headers", `header "Bad Header"`},
		{map[string]any{"url": "http://x", "max_retry_delay": "1ms"}, "max_retry_delay", "at least retry_delay"},
		{map[string]any{"url": "http://x", "tls_ca_file": "/nonexistent.pem"}, "tls_ca_file", "no such file"},
		{map[string]any{"url": "http://x", "tls_cert_file": "c.pem"}, "tls_cert_file", "set both"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			h := sdktest.New(t, Plugin(version))
			diags, err := h.Configure(t.Context(), sdktest.KindSink, "http", tt.config)
			if err != nil {
				t.Fatal(err)
			}
			if len(diags) != 1 || strings.Join(diags[0].GetAttributePath(), ".") != tt.path || !strings.Contains(diags[0].GetDetail(), tt.want) {
				t.Fatalf("diagnostics %v, want one at %s with %q", diags, tt.path, tt.want)
			}
			if strings.Contains(diags[0].GetDetail(), "secret-value") {
				t.Error("a header value was shown")
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	s := &Sink{delay: 100 * time.Millisecond, maxDelay: time.Second}
	tests := []struct {
		attempt    int
		retryAfter time.Duration
		want       time.Duration
	}{
		{0, 0, 100 * time.Millisecond},
		{1, 0, 200 * time.Millisecond},
		{3, 0, 800 * time.Millisecond},
		{4, 0, time.Second},
		{60, 0, time.Second},
		{0, 500 * time.Millisecond, 500 * time.Millisecond},
		{2, 10 * time.Second, time.Second},
	}
	for _, tt := range tests {
		// Jitter adds up to half the wait again, within max_retry_delay;
		// a Retry-After wait is kept as asked.
		upper := min(max(tt.want+tt.want/2, tt.retryAfter), s.maxDelay)
		if tt.retryAfter >= tt.want {
			upper = tt.want
		}
		for range 20 {
			if got := s.backoff(tt.attempt, tt.retryAfter); got < tt.want || got > upper {
				t.Fatalf("backoff(%d, %s) = %s, want %s to %s", tt.attempt, tt.retryAfter, got, tt.want, upper)
			}
		}
	}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "7": 7 * time.Second, "-1": 0, "soon": 0,
		"Wed, 01 Jan 2025 00:00:30 GMT": 30 * time.Second,
		"Tue, 31 Dec 2024 23:00:00 GMT": 0,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}
