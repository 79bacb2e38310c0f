package http

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	nethttp "net/http"

	"github.com/flowctl/flowctl/plugins/internal/testserver"
	"github.com/flowctl/flowctl/pluginsdk"
	"github.com/flowctl/flowctl/pluginsdk/sdktest"
	flowctlv1 "github.com/flowctl/flowctl/proto/flowctl/v1"
)

// stream drives a source stream by hand, the way the host does, so a test
// decides when to ack.
type stream struct {
	t *testing.T
	s flowctlv1.Source_StreamClient
}

func openSource(t *testing.T, config map[string]any) *stream {
	t.Helper()
	h := sdktest.New(t, Plugin(version))
	h.MustConfigure(t, sdktest.KindSource, "http", config)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	s, err := h.Source.Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Open{Open: &flowctlv1.SourceOpen{Credits: 8}}}); err != nil {
		t.Fatal(err)
	}
	return &stream{t: t, s: s}
}

// batch receives the next batch: its events and position.
func (st *stream) batch() ([]pluginsdk.Event, pluginsdk.Position) {
	st.t.Helper()
	msg, err := st.s.Recv()
	if err != nil {
		st.t.Fatalf("recv: %v", err)
	}
	b := msg.GetBatch()
	evs, err := sdktest.DecodeEvents(b.GetBatch().GetEvents(), nil)
	if err != nil {
		st.t.Fatal(err)
	}
	return evs, b.GetPosition()
}

func (st *stream) ack(pos pluginsdk.Position) {
	st.t.Helper()
	if err := st.s.Send(&flowctlv1.SourceRequest{Msg: &flowctlv1.SourceRequest_Ack{Ack: &flowctlv1.SourceAck{Position: pos, Credits: 1}}}); err != nil {
		st.t.Fatal(err)
	}
}

type response struct {
	code int
	body string
	hdr  nethttp.Header
	err  error
}

// post sends body in the background; the answer arrives on the channel.
func post(url, body string, header map[string]string) <-chan response {
	ch := make(chan response, 1)
	go func() {
		req, _ := nethttp.NewRequest(nethttp.MethodPost, url, strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		client := &nethttp.Client{Transport: &nethttp.Transport{DisableKeepAlives: true}}
		resp, err := client.Do(req)
		if err != nil {
			ch <- response{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ch <- response{code: resp.StatusCode, body: strings.TrimSpace(string(b)), hdr: resp.Header}
	}()
	return ch
}

func eventsBody(from, to int) string {
	var lines []string
	for i := from; i <= to; i++ {
		lines = append(lines, fmt.Sprintf(`{"id":"e%04d","type":"order","data":{"seq":%d},"content_type":"application/json"}`, i, i))
	}
	return "[" + strings.Join(lines, ",") + "]"
}

// postWhenUp retries until the source listens.
func postWhenUp(t *testing.T, url, body string, header map[string]string) <-chan response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		host := strings.TrimPrefix(url, "http://")
		host = host[:strings.Index(host, "/")]
		if c, err := net.Dial("tcp", host); err == nil {
			c.Close()
			return post(url, body, header)
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens at %s", url)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSourceAnswersOnlyAfterTheAck(t *testing.T) {
	addr := testserver.FreeAddr(t)
	st := openSource(t, map[string]any{"address": addr})
	url := "http://" + addr + "/events"
	answer := postWhenUp(t, url, eventsBody(1, 3), nil)
	evs, pos := st.batch()
	if len(evs) != 3 || evs[0].ID != "e0001" || string(evs[2].Data) != `{"seq":3}` {
		t.Fatalf("batch %v", evs)
	}
	select {
	case r := <-answer:
		t.Fatalf("answered %d %q before the pipeline acked", r.code, r.body)
	case <-time.After(300 * time.Millisecond):
	}
	st.ack(pos)
	select {
	case r := <-answer:
		if r.err != nil || r.code != 200 || r.body != `{"accepted":3}` {
			t.Fatalf("answer %+v, want 200 {\"accepted\":3}", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer after the ack")
	}
}

// Two requests in one batch: each is answered when its own events are
// acked; an ack before a request's last event does not answer it.
func TestSourceAcksAreCumulativePerRequest(t *testing.T) {
	addr := testserver.FreeAddr(t)
	st := openSource(t, map[string]any{"address": addr})
	url := "http://" + addr + "/events"
	first := postWhenUp(t, url, eventsBody(1, 2), nil)
	evs, pos1 := st.batch()
	if len(evs) != 2 {
		t.Fatalf("first batch has %d events", len(evs))
	}
	second := post(url, `{"id":"x1"}`+"\n"+`{"id":"x2"}`, nil)
	evs, pos2 := st.batch()
	if len(evs) != 2 || evs[1].ID != "x2" {
		t.Fatalf("second batch %v", evs)
	}
	st.ack(pos1)
	if r := <-first; r.code != 200 {
		t.Fatalf("first answer %+v", r)
	}
	select {
	case r := <-second:
		t.Fatalf("second answered %+v before its ack", r)
	case <-time.After(200 * time.Millisecond):
	}
	st.ack(pos2)
	if r := <-second; r.code != 200 || r.body != `{"accepted":2}` {
		t.Fatalf("second answer %+v", r)
	}
}

func TestSourceAckTimeoutAsksToRetry(t *testing.T) {
	addr := testserver.FreeAddr(t)
	st := openSource(t, map[string]any{"address": addr, "ack_timeout": "300ms"})
	answer := postWhenUp(t, "http://"+addr+"/events", eventsBody(1, 1), nil)
	st.batch() // read, never acked
	r := <-answer
	if r.code != 503 || r.hdr.Get("Retry-After") != "1" || !strings.Contains(r.body, "not acknowledged by the pipeline within ack_timeout; retry") {
		t.Fatalf("answer %+v", r)
	}
}

func TestSourceRefusals(t *testing.T) {
	addr := testserver.FreeAddr(t)
	openSource(t, map[string]any{"address": addr, "auth_token": "tok", "max_body_bytes": 200})
	url := "http://" + addr + "/events"
	auth := map[string]string{"Authorization": "Bearer tok"}
	tests := []struct {
		name   string
		url    string
		body   string
		header map[string]string
		code   int
		want   string
	}{
		{"no token", url, eventsBody(1, 1), nil, 401, "missing or wrong bearer token"},
		{"wrong token", url, eventsBody(1, 1), map[string]string{"Authorization": "Bearer nope"}, 401, "bearer token"},
		{"malformed event", url, `[{"id":"a"},{"id": oops}]`, auth, 400, "body is not a JSON array of events"},
		{"malformed line", url, "{\"id\":\"a\"}\n{\"id\":\"b\",\"time\":\"yesterday\"}", auth, 400, "event 2: time"},
		{"not an object", url, `"hello"`, auth, 400, "event 1: not a JSON object"},
		{"empty", url, ``, auth, 400, "empty body"},
		{"too large", url, eventsBody(1, 10), auth, 413, "body over 200 bytes (max_body_bytes)"},
		{"other path", "http://" + addr + "/other", eventsBody(1, 1), auth, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := <-postWhenUp(t, tt.url, tt.body, tt.header)
			if r.err != nil || r.code != tt.code || !strings.Contains(r.body, tt.want) {
				t.Fatalf("answer %+v, want %d with %q", r, tt.code, tt.want)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := nethttp.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
			t.Fatalf("GET answered %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
}

// An event the pipeline would refuse is refused at the door, with the
// reason: past the attribute limits 413, invalid UTF-8 400. Nothing of the
// request is queued.
func TestSourceRefusesEventsPastTheLimits(t *testing.T) {
	addr := testserver.FreeAddr(t)
	openSource(t, map[string]any{"address": addr})
	url := "http://" + addr + "/events"
	raw := testserver.FreeAddr(t)
	openSource(t, map[string]any{"address": raw, "format": "raw"})
	bigValue := `{"id":"b","attributes":{"k":"` + strings.Repeat("x", 70<<10) + `"}}`
	tests := []struct {
		name, url, body string
		header          map[string]string
		code            int
		want            string
	}{
		{"too many attributes", url, manyAttributes(1025), nil, 413, "event 1: event too large"},
		{"attribute bytes", url, bigValue, nil, 413, "attributes of 71681 bytes, at most 65536"},
		{"invalid UTF-8 key", "http://" + raw + "/events", "x", map[string]string{"Idempotency-Key": "a\xffb"}, 400, "is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := <-postWhenUp(t, tt.url, tt.body, tt.header)
			if r.err != nil || r.code != tt.code || !strings.Contains(r.body, tt.want) {
				t.Fatalf("answer %+v, want %d with %q", r, tt.code, tt.want)
			}
		})
	}
}

// manyAttributes is one JSON event with n attributes.
func manyAttributes(n int) string {
	var b strings.Builder
	b.WriteString(`{"id":"m","attributes":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":"v"`, i)
	}
	b.WriteString(`}}`)
	return b.String()
}

// A request of 128,000 attributes is refused for what the limit costs,
// not for what the request would: the source process spends well under a
// CPU-second on it (the encoder's sort was quadratic in attributes).
func TestSourceRefusesHugeAttributeRequestCheaply(t *testing.T) {
	addr := testserver.FreeAddr(t)
	openSource(t, map[string]any{"address": addr})
	url := "http://" + addr + "/events"
	body := manyAttributes(128_000)
	// Warm up: the listener is up and the request path has run once.
	if r := <-postWhenUp(t, url, manyAttributes(1025), nil); r.code != 413 {
		t.Fatalf("warm-up answered %+v", r)
	}
	before := processCPU(t)
	r := <-post(url, body, nil)
	used := processCPU(t) - before
	if r.err != nil || r.code != 413 || !strings.Contains(r.body, "event too large") {
		t.Fatalf("answer %+v, want 413 event too large", r)
	}
	t.Logf("the 128,000-attribute request took %v of process CPU", used)
	if used > time.Second {
		t.Errorf("the 128,000-attribute request took %v of process CPU, want under 1s", used)
	}
}

// processCPU is the CPU time (user and system) this process has used: the
// test runs the source in-process.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestSourceRawRequests(t *testing.T) {
	addr := testserver.FreeAddr(t)
	st := openSource(t, map[string]any{"address": addr, "format": "raw", "type": "github.push", "path": "/hooks/"})
	answer := postWhenUp(t, "http://"+addr+"/hooks/github", `{"ref":"main"}`, map[string]string{"Content-Type": "application/json", "Idempotency-Key": "delivery-7"})
	evs, pos := st.batch()
	e := evs[0]
	if e.ID != "delivery-7" || e.Type != "github.push" || e.ContentType != "application/json" || string(e.Data) != `{"ref":"main"}` || sdktest.Attributes(e)["http.path"] != "/hooks/github" || e.Time.IsZero() {
		t.Fatalf("event %+v", e)
	}
	st.ack(pos)
	if r := <-answer; r.code != 200 {
		t.Fatalf("answer %+v", r)
	}
}

func TestSourceFullQueueAsksToRetry(t *testing.T) {
	addr := testserver.FreeAddr(t)
	st := openSource(t, map[string]any{"address": addr, "max_pending_requests": 1, "ack_timeout": "5s"})
	url := "http://" + addr + "/events"
	first := postWhenUp(t, url, eventsBody(1, 1), nil)
	_, pos := st.batch()
	r := <-post(url, eventsBody(2, 2), nil)
	if r.code != 503 || !strings.Contains(r.body, "1 requests are waiting for the pipeline (max_pending_requests)") {
		t.Fatalf("second answer %+v", r)
	}
	st.ack(pos)
	if r := <-first; r.code != 200 {
		t.Fatalf("first answer %+v", r)
	}
}

// Acks for positions of an earlier process (another epoch) answer nothing.
func TestSourceIgnoresAcksOfAnotherProcess(t *testing.T) {
	addr := testserver.FreeAddr(t)
	st := openSource(t, map[string]any{"address": addr, "ack_timeout": "500ms"})
	answer := postWhenUp(t, "http://"+addr+"/events", eventsBody(1, 1), nil)
	_, pos := st.batch()
	epoch, seq, err := ParsePosition(pos)
	if err != nil || seq != 1 {
		t.Fatalf("position %v: seq %d, %v", pos, seq, err)
	}
	st.ack(Position(epoch-1, 1000))
	if r := <-answer; r.code != 503 {
		t.Fatalf("answered %+v after another process's ack", r)
	}
}

func TestSourceConformance(t *testing.T) {
	addr := testserver.FreeAddr(t)
	// Something must post while the conformance case reads; it is started
	// first so the leak check leaves it alone, and stops with the test.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &nethttp.Client{Transport: &nethttp.Transport{DisableKeepAlives: true}, Timeout: time.Second}
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			resp, err := client.Post("http://"+addr+"/events", "application/json", strings.NewReader(eventsBody(i, i)))
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	sdktest.Conformance(t, Plugin(version),
		sdktest.Case{Name: "source", Kind: sdktest.KindSource, Component: "http",
			Config: map[string]any{"address": addr, "ack_timeout": "1s"}, Limit: 2},
		sdktest.Case{Name: "sink", Kind: sdktest.KindSink, Component: "http",
			Config: map[string]any{"url": newReceiver(t, false).URL}, Input: events(1, 3)},
	)
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowctl test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestSourceServesHTTPS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	addr := testserver.FreeAddr(t)
	st := openSource(t, map[string]any{"address": addr, "tls_cert_file": certFile, "tls_key_file": keyFile})
	eventually := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(eventually) {
			t.Fatalf("nothing listens at %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	client := &nethttp.Client{Transport: &nethttp.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	answer := make(chan error, 1)
	go func() {
		resp, err := client.Post("https://"+addr+"/events", "application/json", strings.NewReader(eventsBody(1, 2)))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				err = fmt.Errorf("status %s", resp.Status)
			}
		}
		answer <- err
	}()
	evs, pos := st.batch()
	if len(evs) != 2 {
		t.Fatalf("batch %v", evs)
	}
	st.ack(pos)
	if err := <-answer; err != nil {
		t.Fatal(err)
	}
	// Plain HTTP to the HTTPS port is refused.
	resp, err := nethttp.Post("http://"+addr+"/events", "application/json", strings.NewReader(eventsBody(3, 3)))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP accepted on the HTTPS listener")
		}
	}
}
